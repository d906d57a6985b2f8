"""Personal medical-advice detector: should this question go to the clinician?

The assistant gives general information only. A question that needs a
decision about THIS person's care - a dose, changing a medicine, mixing
ketamine with a named medicine, alcohol or cannabis, whether it is safe for
them, pregnancy or breastfeeding, which option to choose, whether they have a
condition or qualify - is deferred to their prescriber or clinician with a
reviewed reply (``utter_advice/<key>``).

How: the same normalisation as the crisis detector (typos, contractions,
"50mg" -> "50 mg"), then spaCy Matcher patterns on words and lemmas from
``patterns/advice.yml``. Several keys may match one question; the YAML
``priority`` list decides (pregnancy before medication changes before mixing
medicines before doses ...). General FAQ questions ("is ketamine safe?",
"who is a good candidate?", "how many sessions will I need?") match nothing.

``detect_advice`` is thread-safe and never raises; if the pipeline fails it
falls back to a few keywords and leans toward deferring.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import List, Optional, Set, Tuple

from bot.safety.crisis import _NLP_LOCK, RuleSet, make_doc
from bot.safety.text import PATTERN_DIR, tokenize

logger = logging.getLogger(__name__)

ADVICE_KEYS = (
    "dose",
    "medication_change",
    "combine",
    "safe_for_me",
    "pregnancy",
    "which_option",
    "diagnosis",
    "family",
)
# Every deferral (utter_advice/<key>): the pattern keys, plus two that only the
# classifiers pick (own doses at home, a symptom happening now).
DEFERRAL_KEYS = ADVICE_KEYS + ("home_use", "symptom_now")

_RULES: Optional[RuleSet] = None
_PRIORITY: List[str] = []
_PERSONAL_ONLY: Set[str] = set()
_WEAK: Set[str] = set()
_LOCK = threading.Lock()


def rules() -> RuleSet:
    global _RULES, _PRIORITY, _PERSONAL_ONLY, _WEAK
    if _RULES is None:
        with _LOCK:
            if _RULES is None:
                with _NLP_LOCK:  # building patterns writes to the shared vocab
                    rs = RuleSet(
                        PATTERN_DIR / "advice.yml", [("rules", "advice"), ("general", "general")]
                    )
                _PRIORITY = [str(k) for k in rs.data.get("priority") or ADVICE_KEYS]
                _PERSONAL_ONLY = {str(k) for k in rs.data.get("personal_only") or ()}
                _WEAK = {str(k) for k in rs.data.get("weak_rules") or ()}
                _RULES = rs
    return _RULES


def _detect(text: str) -> Tuple[Optional[str], bool]:
    """(advice key or None, whether it asks about people in general and not about the writer)."""
    rs = rules()
    tokens = tokenize(text)
    if not tokens:
        return None, False
    with _NLP_LOCK:
        doc = make_doc(tokens)
        found = rs.matches(doc)
    general = any(r.kind == "general" for r, _, _ in found)
    if general:
        # A question about people in general: context alone (a dose word, "I'm 61")
        # does not make it personal.
        found = [m for m in found if m[0].id not in _WEAK]
    keys = {r.category for r, _, _ in found if r.category and r.kind == "advice"}
    personal = set(rs.sets.get("PERSONAL", ()))
    first_person = any(t.text in personal for t in tokens)
    if keys & _PERSONAL_ONLY and not first_person:
        keys -= _PERSONAL_ONLY
    for key in _PRIORITY:
        if key in keys:
            return key, False
    return None, general and not first_person


_FALLBACK = [
    ("pregnancy", re.compile(r"pregnan|breast\s*feed|nursing", re.I)),
    ("dose", re.compile(r"\bdos(e|age|ing)\b|\bmg\b|milligram", re.I)),
    (
        "medication_change",
        re.compile(r"\b(stop|taper|quit|double|skip)\b.*\b(med|pill|dose)", re.I),
    ),
    ("which_option", re.compile(r"\bwhich\b.*\b(i|me)\b|\brecommend\b", re.I)),
    ("diagnosis", re.compile(r"\bdo i have\b|\bam i (a )?(candidate|eligible)|\bqualify\b", re.I)),
    ("safe_for_me", re.compile(r"\bsafe for me\b", re.I)),
]


@functools.lru_cache(maxsize=4096)
def _detect_cached(text: str) -> Tuple[Optional[str], bool]:
    return _detect(text)


def detect_advice(text: str) -> Optional[str]:
    """The advice key (dose, medication_change, combine, safe_for_me, pregnancy,
    which_option, diagnosis) for a personal medical question, else None. Never raises."""
    try:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        return _detect_cached(text)[0]
    except Exception:  # pragma: no cover - defensive
        logger.exception("advice detector failed; using keyword fallback")
        for key, pattern in _FALLBACK:
            try:
                if pattern.search(text or ""):
                    return key
            except Exception:
                pass
        return None


def asks_in_general(text: str) -> bool:
    """No advice rule, a general frame ("what does ... mean?", "after a dose",
    "do clinics usually...") and no first-person word: a question about people
    in general, which a classifier's guess that it is personal does not overrule."""
    try:
        return _detect_cached(text if isinstance(text, str) else str(text or ""))[1]
    except Exception:  # pragma: no cover - defensive: then the deferral stands
        logger.exception("advice detector failed")
        return False


__all__ = ["detect_advice", "asks_in_general", "ADVICE_KEYS", "DEFERRAL_KEYS"]
