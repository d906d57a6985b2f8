"""Spelling correction for the intent classifier: "insurence" -> "insurance".

symspellpy finds, for a word the assistant has never seen, the nearest word it
has seen (one or two edits). Only unknown words change:

- a word from the training data is kept, so medical names (Spravato,
  esketamine, troche), slang and every crisis word stay as written;
- a word in symspellpy's English dictionary is kept ("wether" is a word);
- short words (under four letters) and acronyms are kept: one edit turns a
  short word into too many others;
- Spanish messages are kept as written (the dictionary is English);
- one real-word slip is mended: "dose" typed for "does" after a question word.

The corrected text feeds only the intent classifier. The safety layer reads
what the person wrote.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import FrozenSet, Iterable, Mapping

from symspellpy import SymSpell, Verbosity

from bot import language

# Words with their contractions ("aren't" is one word; typed "arent", it is the same).
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
MIN_LENGTH = 4
# Two edits only for long words: "ketamin" and "infusoin" are clear, while a
# four-letter word two edits away could be almost anything.
LONG_WORD = 7
TIE_RATIO = 3
# One real-word confusion the dictionary cannot see: "how long dose it last",
# "what dose a iv cost" mean "does". Only after a question word and before a
# subject, so "what dose is right?" keeps its word.
_DOSE_FOR_DOES = re.compile(
    r"\b(how|what|when|why|where|who|long|much|often|far)\s+dose\s+"
    r"(?=(?:a|an|the|it|that|this|iv|ketamine|spravato|insurance|medicare|medicaid|my|your"
    r"|someone|anyone|he|she|they|each|every|one)\b)",
    re.I,
)


@lru_cache(maxsize=1)
def english_words() -> FrozenSet[str]:
    """The words of symspellpy's English frequency dictionary (shipped in its wheel)."""
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    with path.open(encoding="utf-8") as handle:
        return frozenset(line.split(" ", 1)[0] for line in handle if line.strip())


def vocabulary(texts: Iterable[str]) -> Counter:
    """How often each lower-case word occurs in some texts (the training examples)."""
    return Counter(_plain(word) for text in texts for word in _WORD.findall(text or ""))


def _plain(word: str) -> str:
    return re.sub(r"['’]", "", word.lower())


class SpellingCorrector:
    """Replaces unknown English words with the nearest known training word."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self._known = frozenset(word for word in counts if word)
        self._english = english_words()
        self._symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, count in counts.items():
            if len(word) >= MIN_LENGTH:
                self._symspell.create_dictionary_entry(word, count)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> SpellingCorrector:
        return cls(vocabulary(texts))

    def _fix(self, word: str) -> str:
        lower = _plain(word)
        # Acronyms (SNRI, REMS) and contractions (they've) are written on purpose.
        if word.isupper() or lower != word.lower() or len(lower) < MIN_LENGTH:
            return word
        if lower in self._known or lower in self._english:
            return word
        distance = 2 if len(lower) >= LONG_WORD else 1
        found = self._symspell.lookup(lower, Verbosity.CLOSEST, max_edit_distance=distance)
        if not found:
            return word
        # Equally near words: the one the training data uses far more often,
        # or none (no way to tell which was meant).
        if len(found) > 1 and found[1].distance == found[0].distance:
            if found[0].count < TIE_RATIO * found[1].count:
                return word
        return found[0].term

    def correct(self, text: str) -> str:
        if not text:
            return text
        corrected = _WORD.sub(lambda match: self._fix(match.group(0)), text)
        corrected = _DOSE_FOR_DOES.sub(lambda match: match.group(1) + " does ", corrected)
        # The language only matters when a word would change (most messages
        # have none), so it is read last.
        if corrected == text or language.message_language(text) == language.ES:
            return text
        return corrected
