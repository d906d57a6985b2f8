"""Follow-up questions resolved against the topic just answered.

"What about after?" after the preparation answer means aftercare; "since
when?" after FDA status means the approval history; "how long do I stay?"
after a Spravato answer means Spravato's observation time. The table of which
answer follows which is content (bot/content/follow_ups.yml); this module only
reads a message against it. The topic itself is dialogue state: the
``faq_topic`` slot, kept by bot.topic_policy.TopicPolicy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from bot.content import read_yaml

FOLLOW_UPS_FILE = Path(__file__).resolve().parent / "content" / "follow_ups.yml"
OPTION_KINDS = ("iv", "spravato", "compounded")
# The options whose answers change what a plain follow-up means. Most answers
# describe IV ketamine, so IV is the default reading and not a context.
CONTEXT_OPTIONS = ("spravato", "compounded")
# A follow-up is short; a longer message is a question of its own.
MAX_WORDS = 8


def _normalise(text: str) -> str:
    return " " + " ".join(re.findall(r"[^\W_]+", (text or "").lower())) + " "


@dataclass(frozen=True)
class FollowUps:
    cues: Mapping[str, Tuple[str, ...]]  # kind -> phrases
    topics: Mapping[str, Mapping[str, str]]  # faq key -> kind -> faq key ("option": option id)
    openers: Tuple[str, ...]  # "what about", "and", "y", "no i meant"...
    filler: frozenset  # words that carry nothing on their own

    def kinds_in(self, text: str) -> List[str]:
        """The cue kinds a message names, in order; where phrases overlap, the longest wins."""
        norm = _normalise(text)
        matches = []
        for kind, phrases in self.cues.items():
            for phrase in phrases:
                start = norm.find(f" {phrase} ")
                while start != -1:
                    matches.append((start, start + len(phrase) + 1, kind))
                    start = norm.find(f" {phrase} ", start + 1)
        taken: List[Tuple[int, int, str]] = []
        for start, end, kind in sorted(matches, key=lambda m: (-(m[1] - m[0]), m[0])):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
        return list(dict.fromkeys(kind for _, _, kind in sorted(taken)))

    def is_elliptical(self, text: str) -> bool:
        """Only makes sense with the previous answer: an opener, or nothing but cues and filler."""
        norm = _normalise(text)
        words = norm.split()
        if not words or len(words) > MAX_WORDS:
            return False
        if any(norm.startswith(f" {o} ") for o in self.openers):
            return True
        rest = norm
        for phrases in self.cues.values():
            for p in sorted(phrases, key=len, reverse=True):
                rest = rest.replace(f" {p} ", " ")
        return all(w in self.filler for w in rest.split())

    def resolve(self, text: str, topic: Optional[str], understood: Optional[str]) -> Optional[str]:
        """The FAQ key a follow-up asks for, given the current topic; None when it isn't one.

        ``understood``: the FAQ key the intent classifier picked for the text on
        its own (None when it found no FAQ).
        """
        entry = self.topics.get(topic or "")
        if not entry:
            return None
        kinds = self.kinds_in(text)
        if self.is_elliptical(text):
            for kind in kinds:
                if entry.get(kind) and kind != "option":
                    return entry[kind]
        # The same question about the option on screen ("how long do I stay?"
        # after a Spravato answer), unless the message names another option.
        option = entry.get("option")
        if (
            option in CONTEXT_OPTIONS
            and understood
            and not any(k in OPTION_KINDS for k in kinds)
            and len(_normalise(text).split()) <= MAX_WORDS + 4
        ):
            target = (self.topics.get(understood) or {}).get(option)
            if target:
                return target
        return None

    def option_without_answer(self, text: str, topic: Optional[str]) -> Optional[str]:
        """The option a short follow-up asks about when no answer covers that option
        for the current, general topic ("and for Spravato?" after the success rate,
        "no, I meant IV" after costs): the current answer is all there is."""
        entry = self.topics.get(topic or "")
        if not entry or entry.get("option") or not self.is_elliptical(text):
            return None
        kinds = self.kinds_in(text)
        if len(kinds) != 1 or kinds[0] not in OPTION_KINDS or entry.get(kinds[0]):
            return None
        return kinds[0]


@lru_cache(maxsize=2)
def load(path: Path = FOLLOW_UPS_FILE) -> FollowUps:
    data = read_yaml(path)
    cues: Dict[str, Tuple[str, ...]] = {
        kind: tuple(" ".join(_normalise(p).split()) for p in phrases)
        for kind, phrases in (data.get("cues") or {}).items()
    }
    topics = {key: dict(value or {}) for key, value in (data.get("topics") or {}).items()}
    openers: Sequence[str] = tuple(
        " ".join(_normalise(o).split()) for o in data.get("openers") or ()
    )
    filler = frozenset(w for f in data.get("filler") or () for w in _normalise(f).split())
    return FollowUps(cues, topics, tuple(openers), filler)
