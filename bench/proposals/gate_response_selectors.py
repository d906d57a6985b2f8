"""Run each ResponseSelector only on messages of its own retrieval intent.

Rasa runs every ResponseSelector (and so our LexicalReranker after the FAQ
one) on every message, whatever the intent: ~4 ms each per message here
(TensorFlow call + feature preparation), although only one of them can be
used on a turn (`utter_faq` needs intent faq, `utter_advice` intent advice).

The proper change (config + bot/nlu_components.py owners):
1. a subclass, registered like the other components,

       @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER],
                                 is_trainable=True)
       class GatedResponseSelector(ResponseSelector):
           def process(self, messages):
               mine = [m for m in messages
                       if (m.get("intent") or {}).get("name") == self.retrieval_intent]
               if mine:
                   super().process(mine)
               return messages

2. in config.yml, move both selectors (and LexicalReranker after the FAQ one)
   AFTER bot.nlu_components.SafetyOverride, so they see the final intent
   (SafetyOverride may force `advice` or `crisis`; a selector never changes
   the intent, so this keeps the override's guarantee).

This module applies the same gating to a trained model (monkeypatch) so the
benchmark can measure it without retraining; with the current order it would
miss an `advice` forced by SafetyOverride, so it is for measuring only.
"""
from __future__ import annotations

from typing import List

from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.training_data.message import Message

_original = ResponseSelector.process


def process(self: ResponseSelector, messages: List[Message]) -> List[Message]:
    mine = [m for m in messages if (m.get("intent") or {}).get("name") == self.retrieval_intent]
    if mine:
        _original(self, mine)
    return messages


ResponseSelector.process = process
