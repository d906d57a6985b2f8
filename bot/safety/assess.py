"""One message's safety level: crisis, check-in, or none; and whether it is a personal question.

Three outcomes, most cautious first:

- ``crisis``: the crisis reply. A crisis pattern matched, or the learned model
  is very sure.
- ``check``: a short, direct check-in ("Are you thinking about ending your
  life?") with 988 and 911 in the same message. The model is fairly sure, a
  warning sign matched (a will just written, "the day I picked": clinicians
  ask directly rather than wait for the words), or the message uses risk
  vocabulary (death, overdose, funeral, goodbye...) and the bot has no normal
  answer for it: such a message never gets the generic "not sure" reply.
- ``none``: the normal answer.

A known idiom or topical FAQ wording ("my feet are killing me", "how does
Spravato help with suicidal thoughts") lowers the model's say by one step: it
can ask, but not send the crisis reply on its own; so does a text without a
single crisis word. A past told as over ("I overdosed years ago, I'm stable
now. Is ketamine addictive?") silences the model: the answer when the bot has
one, the check-in when it has none. Below three words the model only counts
with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bot.language import EN, message_language
from bot.safety.crisis import CrisisResult, detect
from bot.safety.risk_model import SafetyScores
from bot.safety.text import tokenize

CRISIS, CHECK, NONE = "crisis", "check", "none"
EMERGENCY = "emergency"
# Intents that mean "the bot has no normal answer for this".
NO_ANSWER_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Below this many words the model has too little to go on ("no" scored as a
# possible risk): it only counts when the text also uses crisis vocabulary.
MIN_MODEL_WORDS = 3


@dataclass(frozen=True)
class Assessment:
    level: str  # crisis | check | none
    kind: Optional[str]  # "emergency" when 911 must come first, else the pattern category
    language: str  # en | es: which variant of the safety replies
    source: str  # what decided: pattern | model | warning | resolved | vocabulary | symptom | none
    # The writer says they are safe now (crisis.yml SAFE_NOW); only where the
    # model alone is uneasy: a warning sign in the same message still counts.
    safe_now: bool = False

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "kind": self.kind,
            "language": self.language,
            "source": self.source,
            "safe_now": self.safe_now,
        }


def _emergency(scores: Optional[SafetyScores]) -> bool:
    """The model reads it as a medical emergency: most of the risk is emergency, and it is real."""
    return bool(scores) and scores.level != NONE and scores.emergency * 2 > scores.risk


def assess(
    text: str,
    scores: Optional[SafetyScores],
    intent: Optional[str],
    pattern: Optional[CrisisResult] = None,
) -> Assessment:
    """The safety level of one message (``scores`` None: patterns and vocabulary only)."""
    pattern = pattern or detect(text)
    if pattern.is_crisis:
        kind = (
            EMERGENCY
            if pattern.category == "overdose_emergency" or _emergency(scores)
            else pattern.category
        )
        return Assessment(CRISIS, kind, pattern.language, "pattern")

    language = message_language(text) or EN
    words = [t for t in tokenize(text) if any(c.isalnum() for c in t.text)]
    if scores and len(words) < MIN_MODEL_WORDS and not pattern.risk_words:
        scores = None
    level = scores.level if scores else NONE
    if level == CRISIS and not pattern.risk_words:
        # Sure, but without a single crisis word ("I did all the sessions and
        # feel nothing"): ask rather than send the crisis reply unasked.
        level = CHECK
    if pattern.resolved and level != NONE:
        # Told as over: answered when the bot has an answer (the check-in
        # below when it has none); a crisis pattern above still wins.
        level = NONE
    if pattern.idiom and level != NONE:
        level = CHECK if level == CRISIS else NONE
    sure = scores is not None and (scores.level == CRISIS or pattern.risk_words)
    if level != NONE and sure and not pattern.idiom and _emergency(scores):
        # A possible emergency is not a question to ask back: 911 first.
        return Assessment(CRISIS, EMERGENCY, language, "model", pattern.safe_now)
    if level != NONE:
        return Assessment(level, None, language, "model", pattern.safe_now)
    if pattern.warning:
        return Assessment(CHECK, None, language, "warning")
    if pattern.resolved and intent in NO_ANSWER_INTENTS:
        # A past told as over and nothing else to answer: ask how they are now.
        return Assessment(CHECK, None, language, "resolved")
    if (
        pattern.risk_vocabulary
        and not pattern.idiom
        and intent in NO_ANSWER_INTENTS
        and not (scores and scores.is_advice)
    ):
        # Risk words and no answer: ask. A question the safety model reads as
        # personal ("my blood-pressure pills, do I take them that day?") is
        # answered by the clinician deferral, which is not the generic fallback.
        return Assessment(CHECK, None, language, "vocabulary")
    return Assessment(NONE, None, language, "none", pattern.safe_now)


__all__ = ["Assessment", "assess", "CRISIS", "CHECK", "NONE", "EMERGENCY"]
