"""The project's intent classifier: ``LexicalIntentClassifier`` picks the intent
and, for the retrieval intents (faq, advice), the answer. The safety
components that run after it are in ``bot.nlu_safety``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME as FALLBACK_INTENT
from rasa.shared.constants import UTTER_PREFIX
from rasa.shared.core.constants import USER_INTENT_OUT_OF_SCOPE
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language import QUESTION_WORDS, fold
from bot.nlu_spelling import CORRECTED_TEXT

CRISIS_INTENT = "crisis"
FAQ_PREFIX = "faq/"
# Set by LexicalIntentClassifier: its best FAQ answer holds min_confidence of
# the mass, so it may be sent (read by SafetyOverride when it turns a "personal"
# guess about a general question back into the FAQ answer).
FAQ_CONFIDENT = "faq_answer_confident"


def force_intent(message: Message, name: Text) -> None:
    """Makes ``name`` the message's intent with certainty, ahead of the classifier's ranking
    (used by the components that overrule the classifier: safety, language requests)."""
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
    top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top] + ranking, add_to_output=True)


class IntentOverride(GraphComponent):
    """Base of the untrained components that overrule the classifier's intent
    (LanguageRequest, ComparisonRequest, SafetyOverride): nothing to train or
    store, training data passes through; subclasses implement ``process``."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentOverride:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


def force_response(message: Message, retrieval: Text, key: Text) -> None:
    """Makes ``retrieval/key`` the selected answer of a retrieval intent (used when
    a safety pattern knows which deferral fits: "stop drinking before a session?"
    is about combining, whatever the classifier's nearest deferral was)."""
    selectors = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
    selectors.setdefault(RESPONSE_SELECTOR_RETRIEVAL_INTENTS, [retrieval])
    previous = selectors.get(retrieval) or {}
    full_key = f"{retrieval}/{key}"
    selectors[retrieval] = {
        RESPONSE_SELECTOR_PREDICTION_KEY: {
            RESPONSE_SELECTOR_RESPONSES_KEY: None,
            PREDICTED_CONFIDENCE_KEY: 1.0,
            INTENT_RESPONSE_KEY: full_key,
            RESPONSE_SELECTOR_UTTER_ACTION_KEY: UTTER_PREFIX + full_key,
        },
        RESPONSE_SELECTOR_RANKING_KEY: previous.get(RESPONSE_SELECTOR_RANKING_KEY) or [],
    }
    message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)


def selected_response(message: Message, retrieval: Text) -> Optional[Text]:
    """The selected answer of a retrieval intent ("faq/cost"), or None."""
    selector = (message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}).get(retrieval) or {}
    return (selector.get(RESPONSE_SELECTOR_PREDICTION_KEY) or {}).get(INTENT_RESPONSE_KEY)


class LinearScorer:
    """``pipeline.decision_function([text])[0]`` for one text, without scipy's overhead.

    The trained pipeline is TfidfVectorizers in a FeatureUnion, then LinearSVC.
    For one short message, building and checking sparse matrices costs ~1 ms,
    ten times the arithmetic. This does the same arithmetic with the fitted
    analyzers, vocabularies, idf weights and coefficients: tf (sublinear) x
    idf, l2-normalised per vectorizer, dotted with the SVM's weights
    (tests/test_nlu_components.py checks the scores match sklearn's).
    """

    def __init__(self, pipeline: Any) -> None:
        import numpy as np

        union, svm = pipeline.steps[0][1], pipeline.steps[-1][1]
        self._parts = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            self._parts.append(
                (
                    vectorizer.build_analyzer(),
                    vectorizer.vocabulary_,
                    vectorizer.idf_,
                    offset,
                    vectorizer.sublinear_tf,
                    vectorizer.norm,
                )
            )
            offset += len(vectorizer.vocabulary_)
        self._weights = np.ascontiguousarray(svm.coef_.T)  # features x labels
        self._intercept = svm.intercept_

    @classmethod
    def for_model(cls, pipeline: Any) -> Any:
        """The fast scorer when the pipeline has the expected shape, else sklearn's own."""
        try:
            union, svm = pipeline.steps[0][1], pipeline.steps[-1][1]
            simple = (
                len(pipeline.steps) == 2
                and svm.coef_.shape[0] == len(svm.classes_) > 2
                and union.transformer_weights is None
                and all(v.norm in ("l2", None) and v.use_idf for _, v in union.transformer_list)
            )
        except AttributeError:
            simple = False
        if simple:
            return cls(pipeline)
        return lambda text: pipeline.decision_function([text])[0]

    def __call__(self, text: Text) -> Any:
        from collections import Counter

        import numpy as np

        columns: List[int] = []
        values = []
        for analyze, vocabulary, idf, offset, sublinear, norm in self._parts:
            found = [
                (vocabulary[g], n) for g, n in Counter(analyze(text)).items() if g in vocabulary
            ]
            if not found:
                continue
            ids = [j for j, _ in found]
            tf = np.array([n for _, n in found], dtype=float)
            weight = (1.0 + np.log(tf) if sublinear else tf) * idf[ids]
            length = np.sqrt(weight @ weight)
            if norm == "l2" and length > 0:
                weight /= length
            columns += [offset + j for j in ids]
            values.append(weight)
        if not columns:
            return self._intercept.copy()
        return np.concatenate(values) @ self._weights[columns] + self._intercept


# Small talk that often opens a message carrying a real question.
SMALL_TALK = frozenset({"thank", "greet", "affirm"})


def asks_more(text: Text) -> bool:
    """A question after the small talk: "thanks, and how long is a session?"."""
    if len(re.findall(r"[^\W\d_]+", text)) < 5:
        return False
    clauses = re.split(r"[,.;:!¡¿?]|\b(?:and|but|also|so|y|pero|tambien)\b", fold(text))
    starts = [c.split()[0] for c in clauses[1:] if c.split()]
    return "?" in text or any(word in QUESTION_WORDS for word in starts)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LexicalIntentClassifier(GraphComponent):
    """Picks the intent and, for retrieval intents, the answer with one linear model.

    Every training example is labelled with its full key ("faq/insurance",
    "advice/dosing", "greet"), and one linear SVM over TF-IDF word (1-2) and
    character (2-5) n-grams learns them all at once. Why not DIET and
    ResponseSelector: with ~30 examples per topic and no word vectors (no spaCy
    model can be downloaded here), this model answered more held-out
    paraphrases (90% vs 84% on the same training data), recognised more
    off-topic text, trains in seconds and scores a message in well under a
    millisecond with LinearScorer (bench/results/profile.md).

    Its output has the shape Rasa's ResponseSelector gives (``response_selector``
    with ``faq`` and ``advice``), so Rasa's own retrieval actions (``utter_faq``,
    ``utter_advice``) pick the answer.

    Fallback: when the best score is lower than all but ``fallback_percentile``
    percent of training examples score when they are held out (5-fold, measured
    at training time), or when the best FAQ answer holds less than
    ``min_confidence`` of the probability mass (a guess between neighbours), the
    intent becomes ``nlu_fallback`` — an honest "I'm not sure" instead of a
    confident wrong answer. ``min_confidence`` was chosen on blind sets that had
    already been measured and are training sets now, never on a set still held
    out. A ``crisis`` guess is never turned into a fallback: SafetyOverride
    decides about it.
    """

    MODEL_FILE = "lexical_intent_classifier.pkl"
    OUT_OF_SCOPE = USER_INTENT_OUT_OF_SCOPE

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "retrieval_intents": ["faq", "advice"],
            "C": 1.0,
            "fallback_percentile": 2.0,
            # Below this share of the probability mass the best FAQ answer is a
            # guess between neighbours; the honest "not sure" (with topic buttons)
            # is better than a confident wrong answer. 0 turns it off.
            "min_confidence": 0.0,
            # Turns SVM margins into confidences in [0, 1] (softmax). Only
            # the order of the ranking is used for decisions.
            "confidence_scale": 5.0,
            "ranking_length": 10,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
        threshold: float = float("-inf"),
        responses: Optional[Dict[Text, Any]] = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model
        self._threshold = threshold
        self._responses = responses or {}
        self._labels: List[Text] = list(model.classes_) if model is not None else []
        self._scores = LinearScorer.for_model(model) if model is not None else None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LexicalIntentClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LexicalIntentClassifier:
        import pickle

        try:
            with model_storage.read_from(resource) as directory:
                with open(f"{directory}/{cls.MODEL_FILE}", "rb") as handle:
                    model, threshold, responses = pickle.load(handle)  # our own artifact
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, threshold, responses)

    # -- training -------------------------------------------------------
    def _build_model(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        features = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        )
        # Balanced: crisis has ~15x the examples of an FAQ topic.
        return make_pipeline(
            features,
            LinearSVC(
                C=self._config["C"],
                class_weight="balanced",
                random_state=self._config["random_seed"],
            ),
        )

    def _fallback_threshold(self, texts: List[Text], labels: List[Text]) -> float:
        """The held-out best score below which only fallback_percentile % of examples fall."""
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        smallest = min(labels.count(label) for label in set(labels))
        folds = min(5, smallest)
        if folds < 2:
            return float("-inf")
        x, y = np.array(texts, dtype=object), np.array(labels)
        scores: List[float] = []
        split = StratifiedKFold(folds, shuffle=True, random_state=self._config["random_seed"])
        for train, held_out in split.split(x, y):
            model = self._build_model().fit(x[train], y[train])
            for index, row in zip(held_out, model.decision_function(x[held_out]), strict=True):
                if y[index] != self.OUT_OF_SCOPE:
                    scores.append(float(row.max()))
        return float(np.percentile(scores, self._config["fallback_percentile"]))

    def train(self, training_data: TrainingData) -> Resource:
        import pickle

        texts = [m.get(TEXT) for m in training_data.intent_examples]
        labels = [
            m.get(INTENT_RESPONSE_KEY) or m.get(INTENT) for m in training_data.intent_examples
        ]
        model, threshold = None, float("-inf")
        if len(set(labels)) > 1:
            threshold = self._fallback_threshold(texts, labels)
            model = self._build_model().fit(texts, labels)
        prefixes = tuple(f"{UTTER_PREFIX}{name}/" for name in self._config["retrieval_intents"])
        responses = {
            name: variants
            for name, variants in training_data.responses.items()
            if name.startswith(prefixes)
        }
        with self._storage.write_to(self._resource) as directory:
            with open(f"{directory}/{self.MODEL_FILE}", "wb") as handle:
                pickle.dump((model, threshold, responses), handle)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    # -- prediction -----------------------------------------------------
    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        for message in messages:
            # SpellingCorrection (earlier in the pipeline) leaves a corrected copy
            # when it changed a word; the message's own text stays as written.
            text = message.get(CORRECTED_TEXT) or message.get(TEXT)
            if text:
                self._classify(message, self._scores(text))
        return messages

    def _classify(self, message: Message, scores: Any) -> None:
        import numpy as np

        scale = self._config["confidence_scale"]
        shifted = np.exp(scale * (scores - scores.max()))
        confidence = dict(zip(self._labels, (shifted / shifted.sum()).tolist(), strict=True))
        best = max(confidence, key=confidence.get)
        if best in SMALL_TALK and asks_more(message.get(TEXT) or ""):
            # "Thanks! What was the insurance part again?": the question is what
            # needs an answer, not the thanks.
            kept = {k: v for k, v in confidence.items() if k not in SMALL_TALK}
            total = sum(kept.values()) or 1.0
            confidence = {k: kept.get(k, 0.0) / total for k in confidence}
            best = max(confidence, key=confidence.get)

        # Intent confidence = its best label's (keeps the ranking in argmax order).
        intents: Dict[Text, float] = {}
        for label, value in confidence.items():
            name = label.split("/", 1)[0]
            intents[name] = max(intents.get(name, 0.0), value)
        ranking = sorted(intents.items(), key=lambda kv: -kv[1])[: self._config["ranking_length"]]
        intent_ranking = [{INTENT_NAME_KEY: n, PREDICTED_CONFIDENCE_KEY: c} for n, c in ranking]
        top = dict(intent_ranking[0])
        # Only an FAQ answer is held to min_confidence: a weak guess that a
        # question is personal still gets the clinician deferral.
        unsure = float(scores.max()) < self._threshold or (
            best.startswith(FAQ_PREFIX) and confidence[best] < self._config["min_confidence"]
        )
        if unsure and best.split("/", 1)[0] != CRISIS_INTENT:
            top = {
                INTENT_NAME_KEY: FALLBACK_INTENT,
                PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY],
            }
            intent_ranking.insert(0, dict(top))
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, intent_ranking, add_to_output=True)
        message.set(
            FAQ_CONFIDENT,
            intents.get(FAQ_PREFIX[:-1], 0.0) >= self._config["min_confidence"],
            add_to_output=True,
        )

        selectors = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS: list(self._config["retrieval_intents"])}
        for retrieval in self._config["retrieval_intents"]:
            selectors[retrieval] = self._selection(retrieval, confidence)
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)

    def _selection(self, retrieval: Text, confidence: Dict[Text, float]) -> Dict[Text, Any]:
        """The ResponseSelector-shaped result for one retrieval intent."""
        prefix = retrieval + "/"
        scores = {k: v for k, v in confidence.items() if k.startswith(prefix)}
        total = sum(scores.values()) or 1.0
        ranking = sorted(scores.items(), key=lambda kv: -kv[1])[: self._config["ranking_length"]]
        if not ranking:
            return {RESPONSE_SELECTOR_PREDICTION_KEY: {}, RESPONSE_SELECTOR_RANKING_KEY: []}
        key, value = ranking[0]
        utter_action = UTTER_PREFIX + key
        return {
            RESPONSE_SELECTOR_PREDICTION_KEY: {
                RESPONSE_SELECTOR_RESPONSES_KEY: self._responses.get(utter_action),
                PREDICTED_CONFIDENCE_KEY: value / total,
                INTENT_RESPONSE_KEY: key,
                RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter_action,
            },
            RESPONSE_SELECTOR_RANKING_KEY: [
                {"id": i, PREDICTED_CONFIDENCE_KEY: v / total, INTENT_RESPONSE_KEY: k}
                for i, (k, v) in enumerate(ranking)
            ],
        }
