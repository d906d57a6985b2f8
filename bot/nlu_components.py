"""Rasa NLU component that applies the rule-based safety layer.

It runs last in the pipeline, so nothing after it can undo its decision:
- a crisis message gets intent ``crisis`` with confidence 1.0 whatever DIET said;
- DIET's own ``crisis`` guess is kept (a second net) unless the detector knows
  the text as a harmless idiom ("my feet are killing me");
- a personal medical question gets intent ``advice`` so it is always deferred
  to the clinician (the advice ResponseSelector still picks which deferral).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety.advice import detect_advice
from bot.safety.crisis import detect

CRISIS_INTENT = "crisis"
ADVICE_INTENT = "advice"
INTENT_RANKING = "intent_ranking"


def _force_intent(message: Message, name: Text) -> None:
    ranking = [r for r in message.get(INTENT_RANKING) or [] if r.get(INTENT_NAME_KEY) != name]
    top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING, [top] + ranking, add_to_output=True)


def _demote_intent(message: Message, name: Text) -> None:
    ranking = [r for r in message.get(INTENT_RANKING) or [] if r.get(INTENT_NAME_KEY) != name]
    if ranking:
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING, ranking, add_to_output=True)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class SafetyOverride(GraphComponent):
    """Overrides the predicted intent for crisis and personal-advice messages."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SafetyOverride":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._apply(message)
        return messages

    @staticmethod
    def _apply(message: Message) -> None:
        text = message.get(TEXT) or ""
        result = detect(text)
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if result.is_crisis:
            _force_intent(message, CRISIS_INTENT)
        elif intent == CRISIS_INTENT and result.idiom:
            # DIET is a second net for crisis language; it is trusted unless
            # the detector knows the text as a harmless idiom.
            _demote_intent(message, CRISIS_INTENT)
        elif intent != CRISIS_INTENT and detect_advice(text) is not None:
            _force_intent(message, ADVICE_INTENT)
