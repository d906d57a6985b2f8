"""Rasa NLU component that applies the rule-based safety layer.

It runs last in the pipeline, so nothing after it can undo its decision:
- a crisis message gets intent ``crisis`` with confidence 1.0 whatever DIET said;
- DIET's own ``crisis`` guess is kept (a second net) when the text uses crisis
  vocabulary, unless the detector knows it as a harmless idiom ("my feet are
  killing me");
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
        elif intent == CRISIS_INTENT and (result.idiom or not result.risk_words):
            # DIET is a second net for crisis phrasings the patterns miss. It is
            # trusted when the text uses crisis vocabulary (die, pills, hurt...),
            # and overruled for known idioms and for text with no such word
            # ("purple elephant monday"), where its guess is noise.
            _demote_intent(message, CRISIS_INTENT)
        elif intent != CRISIS_INTENT and detect_advice(text) is not None:
            _force_intent(message, ADVICE_INTENT)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LexicalReranker(GraphComponent):
    """Re-ranks a ResponseSelector's answers with a lexical (TF-IDF) classifier.

    With ~25 examples per FAQ topic and no word vectors (no spaCy model can be
    downloaded here), DIET-style selectors confuse neighbouring topics. A
    TF-IDF model over character and word n-grams generalises better to unseen
    paraphrases. Measured on tests/data/faq_paraphrases.yml with the first,
    smaller training set: selector alone 76%, TF-IDF alone 82-83%, the
    weighted average 83-84%. Only the selector's choice of answer changes:
    the intent, and therefore crisis/advice routing, is untouched.
    """

    MODEL_FILE = "lexical_reranker.pkl"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"retrieval_intent": "faq", "lexical_weight": 0.8, "C": 10.0}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, model: Any = None, responses: Any = None) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model
        self._responses = responses or {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> "LexicalReranker":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LexicalReranker":
        import pickle

        try:
            with model_storage.read_from(resource) as directory:
                with open(f"{directory}/{cls.MODEL_FILE}", "rb") as handle:
                    model, responses = pickle.load(handle)  # our own artifact
        except (ValueError, FileNotFoundError):
            model, responses = None, {}
        return cls(config, model_storage, resource, model, responses)

    @staticmethod
    def _build_model(c: float) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True),
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
        )
        return make_pipeline(features, LogisticRegression(C=c, max_iter=3000, random_state=42))

    def train(self, training_data: TrainingData) -> Resource:
        import pickle

        prefix = self._config["retrieval_intent"] + "/"
        texts, labels = [], []
        for message in training_data.intent_examples:
            key = message.get("intent_response_key") or ""
            if key.startswith(prefix):
                texts.append(message.get(TEXT))
                labels.append(key)
        model = self._build_model(self._config["C"]) if len(set(labels)) > 1 else None
        if model is not None:
            model.fit(texts, labels)
        responses = {
            name: variants for name, variants in training_data.responses.items()
            if name.startswith("utter_" + prefix)
        }
        with self._storage.write_to(self._resource) as directory:
            with open(f"{directory}/{self.MODEL_FILE}", "wb") as handle:
                pickle.dump((model, responses), handle)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        selector_key = self._config["retrieval_intent"]
        weight = self._config["lexical_weight"]
        for message in messages:
            selectors = message.get("response_selector") or {}
            selected = selectors.get(selector_key)
            if not selected or not message.get(TEXT):
                continue
            lexical = dict(zip(self._model.classes_, self._model.predict_proba([message.get(TEXT)])[0]))
            neural = {r["intent_response_key"]: r["confidence"] for r in selected["ranking"]}
            scores = {
                key: (1 - weight) * neural.get(key, 0.0) + weight * lexical.get(key, 0.0)
                for key in set(lexical) | set(neural)
            }
            ranking = sorted(scores.items(), key=lambda kv: -kv[1])[:10]
            best, confidence = ranking[0]
            utter_action = "utter_" + best
            selected["response"].update(
                intent_response_key=best,
                confidence=float(confidence),
                utter_action=utter_action,
                responses=self._responses.get(utter_action, selected["response"].get("responses")),
            )
            selected["ranking"] = [
                {"id": i, "confidence": float(c), "intent_response_key": k}
                for i, (k, c) in enumerate(ranking)
            ]
            message.set("response_selector", selectors, add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LexicalScopeGuard(LexicalReranker):
    """Sends clearly off-topic text to ``out_of_scope`` instead of a confident wrong answer.

    DIET puts most of its probability on the large FAQ class even for
    "how do I change a flat tire". A TF-IDF classifier over all intents is
    much better at recognising such text as ``out_of_scope``; when it does,
    the intent becomes ``out_of_scope``. Crisis and advice are decided later
    (SafetyOverride), so this can never hide a crisis.
    """

    MODEL_FILE = "lexical_scope_guard.pkl"
    OUT_OF_SCOPE = "out_of_scope"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 10.0}

    def train(self, training_data: TrainingData) -> Resource:
        import pickle

        texts = [m.get(TEXT) for m in training_data.intent_examples]
        labels = [m.get("intent_response_key") or m.get(INTENT) for m in training_data.intent_examples]
        model = self._build_model(self._config["C"])
        model.fit(texts, labels)
        with self._storage.write_to(self._resource) as directory:
            with open(f"{directory}/{self.MODEL_FILE}", "wb") as handle:
                pickle.dump((model, {}), handle)
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not text or (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == self.OUT_OF_SCOPE:
                continue
            probabilities = self._model.predict_proba([text])[0]
            best = probabilities.argmax()
            if self._model.classes_[best] == self.OUT_OF_SCOPE:
                _force_intent(message, self.OUT_OF_SCOPE)
                message.get(INTENT)[PREDICTED_CONFIDENCE_KEY] = float(probabilities[best])
        return messages
