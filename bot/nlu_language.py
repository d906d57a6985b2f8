"""LanguageRequest: "en español" / "in English please" becomes intent switch_language.

The conversation's language itself is kept by CrisisPolicy (bot/language.py
decides it from each message); this component only makes an explicit request
a turn of its own, so it gets an acknowledgement in the new language instead
of the nearest FAQ answer. It runs after the intent classifier and before
SafetyOverride, which can still overrule it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import language
from bot.nlu_components import IntentOverride, force_intent

SWITCH_INTENT = "switch_language"
SIMPLER_INTENT = "ask_simpler"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LanguageRequest(IntentOverride):
    """Forces intent ``switch_language`` when a short message asks for a language."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageRequest:
        # The language detector's models load here, not on a visitor's first message.
        language.warm_up()
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if language.requested_language(text):
                force_intent(message, SWITCH_INTENT)
            elif (message.get(INTENT) or {}).get(
                INTENT_NAME_KEY
            ) == SWITCH_INTENT and language.asks_for_plainer_words(text):
                # "In plain English, please" asks for simpler words, not for a
                # language (its reply says why the answers can't be reworded).
                force_intent(message, SIMPLER_INTENT)
        return messages
