"""What kind of reply did the bot send? Read off the fixed response texts.

Every reply is a fixed text from domain.yml or data/responses/, so a reply can
be recognised by the opening of the response it came from. Used by the
real-server tests and the blind-set runners (scripts/blind_eval.py, scripts/faq_eval.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, List, Sequence

from bot.content import clinic_profile, fill, raw_responses

# Reply kinds, most alarming first: a turn that holds several is counted as the first.
KINDS = ("crisis", "check_in", "advice", "fallback", "answer")
_FALLBACK_RESPONSES = ("utter_fallback", "utter_out_of_scope")


def _opening(text: str) -> str:
    """The first two sentences of a reply, whitespace-normalised (one is not
    enough: "Clinics differ." opens both the age-limits and the referral answers)."""
    text = re.sub(r"\s+", " ", text).strip()
    return " ".join(re.split(r"(?<=[.!?])\s", text, maxsplit=2)[:2])[:160]


@lru_cache(maxsize=1)
def _signatures() -> Dict[str, List[str]]:
    profile = clinic_profile()
    found: Dict[str, List[str]] = {k: [] for k in KINDS}
    for name, variants in raw_responses().items():
        if name == "utter_crisis":
            kind = "crisis"
        elif name == "utter_risk_check":
            kind = "check_in"
        elif name.startswith("utter_advice/"):
            kind = "advice"
        elif name in _FALLBACK_RESPONSES:
            kind = "fallback"
        else:
            continue
        for variant in variants or []:
            text = variant.get("text") or ""
            if text:
                found[kind].append(_opening(fill(text, profile)))
    return found


@lru_cache(maxsize=1)
def _openings() -> Dict[str, str]:
    """Opening of every response variant -> its response name."""
    profile = clinic_profile()
    found: Dict[str, str] = {}
    for name, variants in raw_responses().items():
        for variant in variants or []:
            text = variant.get("text") or ""
            if text:
                found.setdefault(_opening(fill(text, profile)), name)
    return found


@lru_cache(maxsize=1)
def _languages() -> Dict[str, str]:
    """Opening of every response variant -> its language (metadata.language)."""
    profile = clinic_profile()
    found: Dict[str, str] = {}
    for variants in raw_responses().values():
        for variant in variants or []:
            text = variant.get("text") or ""
            if text:
                language = (variant.get("metadata") or {}).get("language", "en")
                found.setdefault(_opening(fill(text, profile)), language)
    return found


def reply_languages(texts: Sequence[str]) -> List[str]:
    """The language of each reply text that comes from a response ("en" / "es")."""
    languages = _languages()
    return [languages[_opening(t)] for t in texts if _opening(t) in languages]


def response_names(texts: Sequence[str]) -> List[str]:
    """The response each reply text came from (texts from actions are left out)."""
    openings = _openings()
    return [openings[_opening(t)] for t in texts if _opening(t) in openings]


def kinds_of(texts: Sequence[str]) -> List[str]:
    """The kinds of each reply text of one turn ("answer" for anything else)."""
    signatures = _signatures()
    out = []
    for text in texts:
        opening = _opening(text)
        kind = next((k for k in KINDS[:-1] if opening in signatures[k]), "answer")
        out.append(kind)
    return out


def turn_kind(texts: Sequence[str]) -> str:
    """The most alarming kind among one turn's replies."""
    found = set(kinds_of(texts))
    return next((k for k in KINDS if k in found), "answer")


def emergency_first(texts: Sequence[str]) -> bool:
    """True when 911 comes before 988 in the turn's crisis reply (emergencies: 911 first)."""
    joined = "\n".join(texts)
    i911, i988 = joined.find("911"), joined.find("988")
    return i911 != -1 and (i988 == -1 or i911 < i988)
