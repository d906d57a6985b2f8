"""Text normalisation shared by the crisis and advice detectors.

People in distress do not type clean text. Before any pattern runs, a message
is turned into a list of plain lower-case words, each remembering the
character span it came from in the ORIGINAL message (so a detector can report
where it matched). The steps, in order:

1. A leading Rasa command (``/greet``, ``/faq{"x":1}``) is blanked out.
2. Character pass: zero-width/format characters are dropped, accents are
   stripped (``estarían`` -> ``estarian``), curly apostrophes become ``'``,
   laughing emoji at the end of a message become the word ``lol`` (so idioms
   like "I'm dead 💀" can be recognised), every other emoji/symbol/newline
   becomes a space.
3. Spelled-out letters are joined when they make a watched word
   (``k m s``, ``s.u.i.c.i.d.e``).
4. Word pass: contractions are expanded (``don't`` -> ``do not``), numbers are
   split from units (``50mg`` -> ``50 mg``), typo/slang words are mapped
   (``kms`` -> ``kill myself``, ``wanna`` -> ``want to``), leetspeak inside a
   word is decoded (``k1ll`` -> ``kill``, ``$uicide`` -> ``suicide``), long
   letter runs are squeezed (``diiiie`` -> ``die``), and near misspellings of
   a few watched words are corrected (``suicde``, ``sucide``, ``myslef``).
5. Phrase pass: multi-word slang is mapped (``sewer slide`` -> ``suicide``).

The maps are data: they live in ``patterns/crisis.yml`` under
``normalisation`` so they can be reviewed with the patterns.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

import yaml

PATTERN_DIR = Path(__file__).resolve().parent / "patterns"

# Characters that are invisible or only format text: dropped entirely.
_INVISIBLE = {
    "\u00ad",
    "\u034f",
    "\u061c",
    "\u115f",
    "\u1160",
    "\u17b4",
    "\u17b5",
    "\u180e",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u2060",
    "\u2061",
    "\u2062",
    "\u2063",
    "\u2064",
    "\ufeff",
    "\u3164",
    "\uffa0",
}
_APOSTROPHES = {"\u2018", "\u2019", "\u201b", "\u02bc", "\u02b9", "`", "\u00b4", "\u2032", "\uff07"}
_KEEP_PUNCT = set("!?.,;:")
# Cyrillic/Greek letters that look like Latin ones ("і want to dіe" with a
# Cyrillic і). Only en/es are supported, so mapping them costs nothing.
_CONFUSABLE = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "һ": "h",
        "ӏ": "l",
        "к": "k",
        "м": "m",
        "т": "t",
        "ո": "n",
        "ս": "u",
        "α": "a",
        "ε": "e",
        "ο": "o",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "τ": "t",
        "υ": "u",
        "ρ": "p",
    }
)
_LEET_CHARS = set("@$*|!")
_SEPARATORS = set('-_/\\~+=&^#%<>()[]{}"')

_COMMAND = re.compile(r"\s*/[A-Za-z0-9_\-.]+")
_WORD = re.compile(r"[\w@$']+(?:[!*|]+[\w@$']+)*|[!?.,;:]")
_NUM_UNIT = re.compile(r"^(\d+(?:\.\d+)?)([a-z]+)$")
_RUNS = re.compile(r"([^\W\d_])\1{2,}")
_SPELLED = re.compile(r"(?<![\w@$])(?:[a-z][ .\-_*]{1,2}){2,}[a-z](?![\w@$])")

_CONTRACTIONS = (
    ("n't", " not"),
    ("'m", " am"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'d", " would"),
    ("'ll", " will"),
)
_IRREGULAR_NOT = {
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "shan't": "shall not",
    "ain't": "am not",
}
_S_IS = {
    "he's",
    "she's",
    "it's",
    "that's",
    "there's",
    "what's",
    "who's",
    "where's",
    "how's",
    "here's",
    "everything's",
    "nothing's",
    "life's",
    "everyone's",
    "somebody's",
    "someone's",
    "nobody's",
    "let's",
}


@dataclass(frozen=True)
class Token:
    """One normalised word and the [start, end) span it came from in the original text."""

    text: str
    start: int
    end: int


class _Maps:
    """The normalisation data from patterns/crisis.yml (loaded once)."""

    def __init__(self, data: dict) -> None:
        norm = data.get("normalisation") or {}
        self.leet: Dict[str, str] = {str(k): str(v) for k, v in (norm.get("leet") or {}).items()}
        self.typos: Dict[str, str] = {
            str(k).lower(): str(v).lower() for k, v in (norm.get("typos") or {}).items()
        }
        self.phrases: List[Tuple[Tuple[str, ...], Tuple[str, ...]]] = sorted(
            (
                (tuple(str(k).lower().split()), tuple(str(v).lower().split()))
                for k, v in (norm.get("phrases") or {}).items()
            ),
            key=lambda kv: -len(kv[0]),
        )
        self.spelled: Set[str] = {str(w).lower() for w in norm.get("spelled_words") or []}
        self.laugh: Set[str] = set(norm.get("laugh_emoji") or [])
        self.emoji_words: Dict[str, str] = {
            str(k): str(v) for k, v in (norm.get("emoji_words") or {}).items()
        }
        fuzzy = norm.get("fuzzy") or {}
        exceptions = {str(w).lower() for w in fuzzy.get("exceptions") or []}
        self.fuzzy: Dict[str, str] = {}
        targets = [str(t).lower() for t in fuzzy.get("targets") or []]
        for target in targets:
            for variant in _edits1(target):
                if variant not in exceptions and variant not in targets:
                    self.fuzzy.setdefault(variant, target)
        self.fuzzy_min_len = int(fuzzy.get("min_length", 5))


def _edits1(word: str) -> Set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return deletes | transposes | replaces | inserts


_MAPS: Optional[_Maps] = None
_MAPS_LOCK = threading.Lock()


def maps() -> _Maps:
    global _MAPS
    if _MAPS is None:
        with _MAPS_LOCK:
            if _MAPS is None:
                path = PATTERN_DIR / "crisis.yml"
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                _MAPS = _Maps(yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {})
    return _MAPS


# --------------------------------------------------------------------------- #
# Step 1-2: characters
# --------------------------------------------------------------------------- #


def _command_prefix_length(text: str) -> int:
    """Length of a leading Rasa command such as ``/faq{"x":1}`` (0 if none)."""
    m = _COMMAND.match(text)
    if not m:
        return 0
    end = m.end()
    if end < len(text) and text[end] == "{":
        depth = 0
        for i in range(end, min(len(text), end + 2000)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return i + 1
        return end
    return end


_NO_LAUGH: Set[str] = set()


def _char_map(ch: str, laugh: Set[str]) -> str:
    if ch in _INVISIBLE:
        return ""
    if ch in _APOSTROPHES:
        return "'"
    if ch in laugh:
        return " lol "
    if ch.isascii():
        if ch.isalnum() or ch == "'" or ch in _KEEP_PUNCT or ch in _LEET_CHARS:
            return ch.lower()
        return " "
    cat = unicodedata.category(ch)
    if cat == "Cf" or cat == "Mn":
        return ""
    if ch in "\u00bf\u00a1":  # Spanish opening marks
        return " "
    decomposed = unicodedata.normalize("NFKD", ch.lower().translate(_CONFUSABLE))
    out = []
    for c in decomposed:
        if unicodedata.category(c) == "Mn":
            continue
        c = c.lower()
        if c.isalnum() or c == "'" or c in _KEEP_PUNCT or c in _LEET_CHARS:
            out.append(c)
        else:
            out.append(" ")
    return "".join(out)


_ASCII_TABLE = {
    i: (
        chr(i).lower()
        if (chr(i).isalnum() or chr(i) == "'" or chr(i) in _KEEP_PUNCT or chr(i) in _LEET_CHARS)
        else " "
    )
    for i in range(128)
}
_ASCII_TABLE[ord("`")] = "'"


def _chars(text: str) -> Tuple[str, List[int], List[int]]:
    """Character pass. Returns the new string and, per output char, its source span."""
    skip = _command_prefix_length(text)
    if text.isascii():
        out = " " * skip + text[skip:].translate(_ASCII_TABLE)
        n = len(out)
        return out, list(range(n)), list(range(1, n + 1))
    laugh = maps().laugh
    emoji = maps().emoji_words
    # Laughing emoji count as "lol" only at the end of the message ("I'm dead 💀");
    # inside a sentence they are just a separator ("I want 💀 to die").
    last_word = max((i for i, ch in enumerate(text) if ch.isalnum()), default=-1)
    pieces: List[str] = []
    starts: List[int] = []
    ends: List[int] = []
    for i, ch in enumerate(text):
        if i < skip:
            mapped = " "
        elif ch in emoji:  # a grave or pills emoji reads as the word
            mapped = f" {emoji[ch]} "
        else:
            mapped = _char_map(ch, laugh if i > last_word else _NO_LAUGH)
        if mapped:
            pieces.append(mapped)
            starts.extend([i] * len(mapped))
            ends.extend([i + 1] * len(mapped))
    return "".join(pieces), starts, ends


def _join_spelled(text: str, starts: List[int], ends: List[int], watched: Set[str]):
    """Join spelled-out letters ("k m s", "s-u-i-c-i-d-e") into a watched word."""
    if not watched or not _SPELLED.search(text):
        return text, starts, ends
    out: List[str] = []
    new_s: List[int] = []
    new_e: List[int] = []
    last = 0
    for m in _SPELLED.finditer(text):
        word = re.sub(r"[^a-z]", "", m.group(0))
        if word not in watched:
            continue
        out.append(text[last : m.start()])
        new_s.extend(starts[last : m.start()])
        new_e.extend(ends[last : m.start()])
        out.append(word)
        new_s.extend([starts[m.start()]] * len(word))
        new_e.extend([ends[m.end() - 1]] * len(word))
        last = m.end()
    if last == 0:
        return text, starts, ends
    out.append(text[last:])
    new_s.extend(starts[last:])
    new_e.extend(ends[last:])
    return "".join(out), new_s, new_e


# --------------------------------------------------------------------------- #
# Step 4-5: words
# --------------------------------------------------------------------------- #


def _expand_contraction(word: str) -> str:
    if word in _IRREGULAR_NOT:
        return _IRREGULAR_NOT[word]
    if word in _S_IS:
        return word[:-2] + " is"
    for suffix, repl in _CONTRACTIONS:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)] + repl
    if word.endswith("'s") and len(word) > 2:
        return word[:-2]
    if word.endswith("s'") and len(word) > 2:
        return word[:-1]
    return word


def _decode_leet(word: str, leet: Dict[str, str]) -> str:
    has_alpha = any(c.isalpha() for c in word)
    if not has_alpha:
        return word
    if not any(c in leet for c in word):
        return word
    return "".join(leet.get(c, c) for c in word)


def _normalise_word(word: str, m: _Maps) -> List[str]:
    """One raw word -> one or more clean words."""
    word = word.strip("'")
    if not word:
        return []
    if word in m.typos:
        return m.typos[word].split()
    if "'" in word:
        expanded = _expand_contraction(word)
        if expanded != word:
            out: List[str] = []
            for part in expanded.split():
                out.extend(_normalise_word(part, m) if part != word else [part])
            return out
        word = word.replace("'", "")
        if word in m.typos:
            return m.typos[word].split()
    num = _NUM_UNIT.match(word)
    if num:
        return [num.group(1), m.typos.get(num.group(2), num.group(2))]
    word = _decode_leet(word, m.leet)
    word = _RUNS.sub(r"\1", word)
    if word in m.typos:
        return m.typos[word].split()
    if len(word) >= m.fuzzy_min_len and word in m.fuzzy:
        return [m.fuzzy[word]]
    if any(c in "@$*|!" for c in word):
        word = re.sub(r"[@$*|!]", "", word)
    return [word] if word else []


def _apply_phrases(tokens: List[Token], m: _Maps) -> List[Token]:
    if not m.phrases or len(tokens) < 2:
        return tokens
    out: List[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        replaced = False
        for src, dst in m.phrases:
            k = len(src)
            if (
                i + k <= n
                and tokens[i].text == src[0]
                and tuple(t.text for t in tokens[i : i + k]) == src
            ):
                start, end = tokens[i].start, tokens[i + k - 1].end
                out.extend(Token(w, start, end) for w in dst)
                i += k
                replaced = True
                break
        if not replaced:
            out.append(tokens[i])
            i += 1
    return out


def tokenize(text: str) -> List[Token]:
    """Normalise ``text`` into clean lower-case words with their original spans.

    Never raises for any ``str``; punctuation ``! ? . , ; :`` survives as
    one-character tokens (repeats collapsed) so patterns can see clause breaks.
    Both detectors call this on the same message, so results are cached.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return list(_tokenize_cached(text))


@functools.lru_cache(maxsize=512)
def _tokenize_cached(text: str) -> Tuple[Token, ...]:
    return tuple(_tokenize(text))


def _tokenize(text: str) -> List[Token]:
    m = maps()
    chars, starts, ends = _chars(text)
    chars, starts, ends = _join_spelled(chars, starts, ends, m.spelled)
    tokens: List[Token] = []
    for match in _WORD.finditer(chars):
        raw = match.group(0)
        s, e = starts[match.start()], ends[match.end() - 1]
        if raw in _KEEP_PUNCT:
            if tokens and tokens[-1].text == raw:
                continue
            tokens.append(Token(raw, s, e))
            continue
        for w in _normalise_word(raw, m):
            tokens.append(Token(w, s, e))
    return _apply_phrases(tokens, m)


def normalise(text: str) -> str:
    """The normalised text as one string (words joined by single spaces)."""
    return " ".join(t.text for t in tokenize(text))


def words(tokens: Iterable[Token]) -> List[str]:
    return [t.text for t in tokens]


__all__ = ["Token", "tokenize", "normalise", "words", "maps", "PATTERN_DIR"]
