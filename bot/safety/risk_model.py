"""The learned safety model: how likely is a message a crisis, an emergency or a personal question?

It sits beside the hand-written patterns (``crisis.py``, ``advice.py``), which
stay the precise first layer. The patterns only know the phrasings someone
wrote a rule for; this model is trained on thousands of messages in many
voices (``corpus/``) plus the bot's own NLU examples, so it can generalise to
wordings nobody here wrote.

Model: TF-IDF over character (2-5, inside word boundaries) and word (1-2)
n-grams, then a multinomial logistic regression with balanced class weights.
Its probabilities are used with thresholds chosen from out-of-fold
predictions at training time (never from test sets):

- ``check``: the risk probability (crisis + emergency) above which at most
  ``check_false_alarm`` of held-out harmless messages fall: a check-in;
- ``crisis``: the same with ``crisis_false_alarm``: the crisis reply;
- ``advice``: the advice probability above which at most
  ``advice_false_alarm`` of held-out ordinary questions fall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

CRISIS, EMERGENCY, ADVICE, NONE = "crisis", "emergency", "advice", "none"
LABELS = (CRISIS, EMERGENCY, ADVICE, NONE)


@dataclass(frozen=True)
class SafetyScores:
    """One message's probabilities and the levels they reach."""

    risk: float  # P(crisis) + P(emergency)
    emergency: float  # P(emergency)
    advice: float  # P(advice)
    level: str  # "crisis", "check" or "none" (from the risk thresholds)
    is_advice: bool

    def as_dict(self) -> Dict[str, Any]:
        return {
            "risk": round(self.risk, 4),
            "emergency": round(self.emergency, 4),
            "advice": round(self.advice, 4),
            "level": self.level,
            "is_advice": self.is_advice,
        }


def build_pipeline(c: float = 4.0, seed: int = 42) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
    )
    return make_pipeline(
        features, LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
    )


def _threshold(negatives: Sequence[float], false_alarm: float) -> float:
    """The smallest score that at most ``false_alarm`` of the negatives reach."""
    import numpy as np

    if not len(negatives):
        return 0.5
    return float(np.quantile(np.asarray(negatives), 1.0 - false_alarm, method="higher")) + 1e-9


class SafetyModel:
    """Fitted pipeline + thresholds; ``score(text)`` is a few hundred microseconds."""

    def __init__(self, pipeline: Any, thresholds: Dict[str, float]) -> None:
        from bot.nlu_components import LinearScorer

        self.pipeline = pipeline
        self.thresholds = dict(thresholds)
        self.classes: List[str] = list(pipeline.classes_)
        self._index = {
            label: self.classes.index(label) for label in LABELS if label in self.classes
        }
        # Same arithmetic as pipeline.decision_function, without scipy's per-call cost.
        self._margins = LinearScorer.for_model(pipeline)

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        folds: int = 5,
        check_false_alarm: float = 0.03,
        crisis_false_alarm: float = 0.005,
        advice_false_alarm: float = 0.03,
        c: float = 4.0,
        seed: int = 42,
    ) -> SafetyModel:
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        x, y = np.array(texts, dtype=object), np.array(labels)
        out_of_fold = np.zeros((len(x), len(set(labels))))
        classes = sorted(set(labels))
        split = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for train, held_out in split.split(x, y):
            model = build_pipeline(c, seed).fit(x[train], y[train])
            order = [list(model.classes_).index(k) for k in classes]
            out_of_fold[held_out] = model.predict_proba(x[held_out])[:, order]
        col = {k: i for i, k in enumerate(classes)}
        risk = out_of_fold[:, col[CRISIS]] + out_of_fold[:, col.get(EMERGENCY, col[CRISIS])] * (
            EMERGENCY in col
        )
        harmless = np.isin(y, [NONE, ADVICE])
        not_advice = np.isin(y, [NONE])
        thresholds = {
            "check": _threshold(risk[harmless], check_false_alarm),
            "crisis": _threshold(risk[harmless], crisis_false_alarm),
            "advice": _threshold(out_of_fold[not_advice, col[ADVICE]], advice_false_alarm),
        }
        thresholds["crisis"] = max(thresholds["crisis"], thresholds["check"])
        return cls(build_pipeline(c, seed).fit(x, y), thresholds)

    def probabilities(self, text: str) -> Dict[str, float]:
        import numpy as np

        margins = np.asarray(self._margins(text), dtype=float)
        shifted = np.exp(margins - margins.max())
        probs = shifted / shifted.sum()
        return {label: float(probs[i]) for label, i in self._index.items()}

    def score(self, text: str) -> SafetyScores:
        """Risk of the riskiest part: the whole text, and each sentence of three words or more.

        In a long message the risk is often one sentence among ordinary ones
        ("...Most days I wish I'd never made it home. Does the VA cover it?"),
        and TF-IDF over the whole text dilutes it. The personal-question
        probability is read on the whole text.
        """
        whole = self.probabilities(text)
        p = max((self.probabilities(part) for part in sentences(text)), key=_risk, default=whole)
        # One sentence counts only when it alone is clearly a crisis: a merely
        # uneasy sentence in a long message should not turn it into a check-in.
        if _risk(p) < self.thresholds["crisis"] or _risk(whole) >= _risk(p):
            p = whole
        risk = p.get(CRISIS, 0.0) + p.get(EMERGENCY, 0.0)
        if risk >= self.thresholds["crisis"]:
            level = "crisis"
        elif risk >= self.thresholds["check"]:
            level = "check"
        else:
            level = "none"
        advice = whole.get(ADVICE, 0.0)
        return SafetyScores(
            risk, p.get(EMERGENCY, 0.0), advice, level, advice >= self.thresholds["advice"]
        )


_SENTENCE_END = re.compile(r"(?<=[.!?;…\n])\s+|\n+")
MIN_SENTENCE_WORDS = 3


def sentences(text: str) -> List[str]:
    """The sentences of a message with several of them (a one-sentence message: none)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    if len(parts) < 2:
        return []
    return [p for p in parts if len(p.split()) >= MIN_SENTENCE_WORDS]


def _risk(p: Dict[str, float]) -> float:
    return p.get(CRISIS, 0.0) + p.get(EMERGENCY, 0.0)


def load_corpus(paths: Sequence[Any]) -> List[tuple]:
    """(text, label) pairs from corpus YAML files: lists under crisis / emergency /
    advice / none."""
    import yaml

    pairs = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        for label in LABELS:
            for text in data.get(label) or []:
                if isinstance(text, str) and text.strip():
                    pairs.append((text.strip(), label))
    return pairs


__all__ = ["SafetyModel", "SafetyScores", "load_corpus", "LABELS"]
