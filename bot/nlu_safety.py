"""The safety components of the NLU pipeline.

- ``SafetyClassifier`` trains the learned safety model (``bot.safety.risk_model``)
  on the safety corpus (``bot/safety/corpus/``) plus the bot's own NLU
  examples, and adds its scores to every parsed message (``safety_scores``).
- ``SafetyOverride`` runs last, so nothing after it can undo its decision. It
  combines the patterns, the model and the intent (``bot.safety.assess``):
  a crisis gets intent ``crisis`` with confidence 1.0; a possible risk is
  marked ``safety.level == "check"`` (CrisisPolicy then asks); a personal
  medical question gets intent ``advice`` (the classifier's advice ranking
  still picks which deferral).

The policy (``bot.policies.CrisisPolicy``) re-checks the raw text with the
patterns on every turn, so crisis routing never depends on these alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.decision_aid import INTENT_COMPARE
from bot.nlu_comparison import (
    DIFFERENCE,
    asks_which_option_has,
    names_only_options,
    names_options_side_by_side,
)
from bot.nlu_components import (
    FAQ_CONFIDENT,
    IntentOverride,
    force_intent,
    force_response,
    selected_response,
)
from bot.safety.advice import ADVICE_KEYS, DEFERRAL_KEYS, asks_in_general, detect_advice
from bot.safety.assess import CHECK, CRISIS, Assessment, assess
from bot.safety.assess import NONE as NO_RISK
from bot.safety.crisis import detect
from bot.safety.risk_model import ADVICE, NONE, SafetyModel, SafetyScores, load_corpus

CRISIS_INTENT = "crisis"
ADVICE_INTENT = "advice"
FAQ_INTENT = "faq"
# Deferrals only the classifiers pick (no pattern names them).
CLASSIFIER_ONLY_KEYS = frozenset(DEFERRAL_KEYS) - frozenset(ADVICE_KEYS)
SCORES_KEY = "safety_scores"
SAFETY_KEY = "safety"
# A request to see the options compared, in either language.
COMPARE_REQUEST = re.compile(
    r"\b(compare|comparing|comparison|side by side|differences? between|vs\.?|versus|"
    r"compar[ae]\w*|lado a lado|diferencias? entre)\b",
    re.IGNORECASE,
)
CORPUS_DIR = Path(__file__).resolve().parent / "safety" / "corpus"


def _overrule_crisis_guess(message: Message) -> None:
    """The intent classifier guessed crisis but neither patterns nor the safety model agree.

    Its runner-up says little about what the person meant, so the intent
    becomes an honest "not sure"; assess() then checks in when the text uses
    risk vocabulary.
    """
    ranking = [
        r
        for r in message.get(INTENT_RANKING_KEY) or []
        if r.get(INTENT_NAME_KEY) not in (CRISIS_INTENT, DEFAULT_NLU_FALLBACK_INTENT_NAME)
    ]
    confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY, 0.0)
    top = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: confidence}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [dict(top)] + ranking, add_to_output=True)


def _label(message: Message) -> Text:
    intent = message.get(INTENT)
    if intent == CRISIS_INTENT:
        return CRISIS
    if intent == ADVICE_INTENT:
        return ADVICE
    return NONE


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class SafetyClassifier(GraphComponent):
    """Scores every message with the learned safety model."""

    MODEL_FILE = "safety_model.pkl"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "corpus_dir": str(CORPUS_DIR),
            # Share of held-out harmless messages allowed at or above each level.
            "check_false_alarm": 0.03,
            "crisis_false_alarm": 0.005,
            "advice_false_alarm": 0.03,
            "C": 4.0,
            "random_seed": 42,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """The corpus files are read from disk, not given by the graph: retrain when they change."""
        import hashlib

        digest = hashlib.sha256()
        for path in sorted(Path(config.get("corpus_dir") or CORPUS_DIR).glob("*.yml")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[SafetyModel] = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SafetyClassifier:
        import pickle

        try:
            with model_storage.read_from(resource) as directory:
                with open(f"{directory}/{cls.MODEL_FILE}", "rb") as handle:
                    pipeline, thresholds = pickle.load(handle)  # our own artifact
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, SafetyModel(pipeline, thresholds))

    def train(self, training_data: TrainingData) -> Resource:
        import pickle

        pairs = load_corpus(sorted(Path(self._config["corpus_dir"]).glob("*.yml")))
        pairs += [(m.get(TEXT), _label(m)) for m in training_data.intent_examples if m.get(TEXT)]
        texts, labels = [t for t, _ in pairs], [label for _, label in pairs]
        model = SafetyModel.train(
            texts,
            labels,
            check_false_alarm=self._config["check_false_alarm"],
            crisis_false_alarm=self._config["crisis_false_alarm"],
            advice_false_alarm=self._config["advice_false_alarm"],
            c=self._config["C"],
            seed=self._config["random_seed"],
        )
        with self._storage.write_to(self._resource) as directory:
            with open(f"{directory}/{self.MODEL_FILE}", "wb") as handle:
                pickle.dump((model.pipeline, model.thresholds), handle)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if text:
                message.set(SCORES_KEY, self._model.score(text).as_dict(), add_to_output=True)
        return messages


def _scores(message: Message) -> Optional[SafetyScores]:
    raw = message.get(SCORES_KEY)
    if not raw:
        return None
    return SafetyScores(
        raw["risk"], raw["emergency"], raw["advice"], raw["level"], raw["is_advice"]
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyOverride(IntentOverride):
    """Overrides the predicted intent for crisis and personal-advice messages."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._apply(message)
        return messages

    @staticmethod
    def _apply(message: Message) -> None:
        text = message.get(TEXT) or ""
        pattern = detect(text)
        scores = _scores(message)
        if scores is not None and names_only_options(text):
            # "And the pills?" says nothing but an option's name: the model's
            # unease is about the word (pills), not the person. Patterns still count.
            scores = None
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if intent == CRISIS_INTENT:
            # Decided by patterns and the safety model, not by the intent classifier.
            _overrule_crisis_guess(message)
            intent = DEFAULT_NLU_FALLBACK_INTENT_NAME
        result = assess(text, scores, intent, pattern)
        if _symptom_question(result, scores, intent, pattern.risk_words, message):
            # "I feel really dizzy and weird right now": the model's unease is
            # about the body, and the classifier reads a symptom question. Its
            # deferral names 911 and 988 inline; a suicide check-in would not fit.
            result = Assessment(NO_RISK, None, result.language, "symptom")
        key = detect_advice(text)
        if _personal_question(result, key, pattern.risk_words):
            # "Should my brother do Spravato or IV? He won't ask himself": an
            # advice pattern names the question, only the model is uneasy and no
            # crisis word is used. The deferral answers it (and names 988/911
            # where someone may be in danger); a check-in about suicide would not fit.
            result = Assessment(NO_RISK, None, result.language, "advice")
        # "What does treatment-resistant mean?", "what happens after a Spravato
        # dose?": asked about people in general, so a classifier's guess that
        # it is personal does not make it a deferral.
        general = key is None and asks_in_general(text)
        # A check-in always wins over a deferral: "is there a dose where you
        # don't come back?" is a question about means, not about a dose.
        advice = result.level == NO_RISK and (
            key is not None or (scores is not None and scores.is_advice and not general)
        )
        message.set(SAFETY_KEY, result.as_dict(), add_to_output=True)
        if result.level == CRISIS:
            force_intent(message, CRISIS_INTENT)
        elif result.level != NO_RISK:
            return  # the check-in, whatever the intent
        elif (advice or intent == ADVICE_INTENT) and (
            (
                key is None
                and (
                    COMPARE_REQUEST.search(text)
                    or names_options_side_by_side(text)
                    or asks_which_option_has(text)
                )
            )
            or (key == WHICH_OPTION_KEY and asks_to_see_them_compared(text))
        ):
            # "Can you compare the three for me?", "spravato or iv" or "which one
            # lets me drive home?" asks for the comparison, which is neutral by
            # design; only a request to choose ("which should I pick?", caught by
            # the patterns) is the clinician deferral.
            force_intent(message, INTENT_COMPARE)
        elif advice:
            force_intent(message, ADVICE_INTENT)
            if key is not None and _selected_advice(message) not in CLASSIFIER_ONLY_KEYS:
                # The pattern knows which deferral fits better than the classifier's
                # nearest one, except for the situations only the classifier knows
                # (a symptom right now, doses at home).
                force_response(message, ADVICE_INTENT, key)
        elif intent == ADVICE_INTENT and general:
            force_intent(message, _general_answer(message))


SYMPTOM_KEY = "symptom_now"  # in DEFERRAL_KEYS
WHICH_OPTION_KEY = "which_option"
# "Lay out IV vs Spravato vs troches for me" asks to see them compared; "which
# should I pick?" asks for a choice, which stays the clinician deferral.
CHOICE_WORDS = re.compile(
    r"\b(should|shall|pick|choose|chose|best|better|recommend|suggest|right for|go with|"
    r"would you|deber[ií]a|elijo|escoger|elegir|recomiend\w*|mejor)\b",
    re.I,
)


def asks_to_see_them_compared(text: Text) -> bool:
    """A request to compare the options, with no request to choose between them."""
    # The comparison's own words (bot/nlu_comparison.py), weak ones included.
    return bool(COMPARE_REQUEST.search(text) or DIFFERENCE.search(text)) and not (
        CHOICE_WORDS.search(text)
    )


def _symptom_question(
    result: Assessment,
    scores: Optional[SafetyScores],
    intent: Optional[Text],
    risk_words: bool,
    message: Message,
) -> bool:
    """Only the model is uneasy, mostly about an emergency, no crisis word is used,
    and the classifier reads a question about a symptom one has now."""
    return (
        _model_only_unease(result, risk_words)
        and scores is not None
        and scores.emergency * 2 > scores.risk
        and intent == ADVICE_INTENT
        and _selected_advice(message) == SYMPTOM_KEY
    )


# Deferrals about choosing an option, for oneself or a relative. Not context
# alone ("at my age": "is it normal to pray not to wake up at my age" is no
# personal question), and never doses or mixing: "would my insulin and ketamine
# together look natural" is a question about means.
DECISION_KEYS = frozenset({"which_option", "family"})


def _personal_question(result: Assessment, key: Optional[Text], risk_words: bool) -> bool:
    """Only the model is uneasy, without a crisis word, about a decision an advice pattern names."""
    return _model_only_unease(result, risk_words) and key in DECISION_KEYS


def _model_only_unease(result: Assessment, risk_words: bool) -> bool:
    """A check-in that only the learned model asked for, in a text without a crisis word."""
    return result.level == CHECK and result.source == "model" and not risk_words


def _selected_advice(message: Message) -> Optional[Text]:
    full_key = selected_response(message, ADVICE_INTENT)
    return full_key.split("/", 1)[1] if full_key and "/" in full_key else None


def _general_answer(message: Message) -> Text:
    """The classifier's FAQ answer when it was a real candidate (the classifier's
    own min_confidence), else "not sure"."""
    return FAQ_INTENT if message.get(FAQ_CONFIDENT) else DEFAULT_NLU_FALLBACK_INTENT_NAME


__all__ = ["SafetyClassifier", "SafetyOverride", "SCORES_KEY", "SAFETY_KEY"]
