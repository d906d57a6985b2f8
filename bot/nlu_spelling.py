"""SpellingCorrection: the intent classifier reads "insurance" where someone typed "insurence".

It learns its known words from the training examples (bot/spelling.py says
which words may change) and stores the corrected text under CORRECTED_TEXT,
which only LexicalIntentClassifier reads. The message's own text is never
changed: the safety layer, the language detector and the tracker see what the
person wrote.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.spelling import SpellingCorrector, vocabulary

CORRECTED_TEXT = "spelling_corrected_text"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class SpellingCorrection(GraphComponent):
    VOCABULARY_FILE = "vocabulary.json"

    def __init__(
        self,
        model_storage: ModelStorage,
        resource: Resource,
        corrector: Optional[SpellingCorrector] = None,
    ) -> None:
        self._storage = model_storage
        self._resource = resource
        self._corrector = corrector

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpellingCorrection:
        return cls(model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SpellingCorrection:
        try:
            with model_storage.read_from(resource) as directory:
                counts = json.loads((directory / cls.VOCABULARY_FILE).read_text("utf-8"))
        except (ValueError, FileNotFoundError):
            return cls(model_storage, resource)
        return cls(model_storage, resource, SpellingCorrector(counts))

    def train(self, training_data: TrainingData) -> Resource:
        counts = vocabulary(m.get(TEXT) for m in training_data.training_examples)
        with self._storage.write_to(self._resource) as directory:
            (directory / self.VOCABULARY_FILE).write_text(
                json.dumps(dict(sorted(counts.items())), ensure_ascii=False), "utf-8"
            )
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self._corrector is None:
            return messages
        for message in messages:
            text = message.get(TEXT) or ""
            corrected = self._corrector.correct(text)
            if corrected != text:
                message.set(CORRECTED_TEXT, corrected)
        return messages
