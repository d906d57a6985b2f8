"""A small pure-Python BM25 index: the console search's keyword backstop.

Each document is one response, indexed on its answer text, its topic, its name
(faq/session_length -> "session length") and the NLU training examples of its
intent (data/nlu/*.yml), so staff wording that the model misses still finds it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import yaml

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been
before being below between both but by can could did do does doing down during
each few for from further had has have having he her here hers herself him
himself his i if in into is it its itself just me more most my myself no nor
of off on once only or other our ours ourselves out over own same she so some
such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves im ive
id youre dont doesnt didnt cant isnt whats hows thats get got gonna wanna
please pls hi hello thanks ok okay like really just also s t u ur
""".split()
)
# A few words callers use for what the answers say in other words.
SYNONYMS: Mapping[str, Tuple[str, ...]] = {
    "spray": ("spravato", "esketamine", "nasal"),
    "nose": ("nasal", "spravato"),
    "drip": ("iv", "infusion"),
    "infusions": ("infusion",),
    "pay": ("cost", "insurance"),
    "price": ("cost",),
    "expensive": ("cost",),
    "covered": ("insurance", "cover"),
    "drive": ("driving",),
    "pregnant": ("pregnancy", "breastfeeding"),
    "addicted": ("addictive", "addiction", "misuse"),
    "high": ("dissociation", "trip"),
}


def stem(word: str) -> str:
    """A light suffix stripper: 'sessions'/'session', 'driving'/'drive',
    'pregnancy'/'pregnancies'."""
    if len(word) <= 3 or word.isdigit():
        return word
    base = word
    for suffix, keep in (
        ("ational", "ate"),
        ("ization", "ize"),
        ("fulness", "ful"),
        ("iveness", "ive"),
        ("ingly", ""),
        ("edly", ""),
        ("ies", "y"),
        ("ing", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            base = word[: len(word) - len(suffix)] + keep
            if (
                suffix in ("ing", "ed")
                and len(base) > 2
                and base[-1] == base[-2]
                and base[-1] not in "ls"
            ):
                base = base[:-1]  # stopped -> stop
            break
    if len(base) > 3 and base.endswith("e"):
        base = base[:-1]  # drive, driving -> driv
    if len(base) > 3 and base.endswith("y"):
        base = base[:-1] + "i"  # pregnancy, pregnancies -> pregnanci
    return base


def tokens(text: str) -> List[str]:
    words = [w for w in _WORD.findall((text or "").lower().replace("'", "")) if w not in STOPWORDS]
    out = []
    for word in words:
        out.append(stem(word))
        out.extend(stem(s) for s in SYNONYMS.get(word, ()))
    return out


class BM25:
    """Okapi BM25 over weighted fields of each document."""

    def __init__(
        self, docs: Mapping[str, Sequence[Tuple[str, float]]], k1: float = 1.2, b: float = 0.75
    ) -> None:
        self.k1, self.b = k1, b
        self.tf: Dict[str, Counter] = {}
        for doc_id, fields in docs.items():
            counts: Counter = Counter()
            for text, weight in fields:
                for tok in tokens(text):
                    counts[tok] += weight
            self.tf[doc_id] = counts
        self.length = {d: sum(c.values()) for d, c in self.tf.items()}
        self.avg_length = (sum(self.length.values()) / len(self.length)) if self.length else 1.0
        df: Counter = Counter()
        for counts in self.tf.values():
            df.update(counts.keys())
        n = len(self.tf)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> Dict[str, float]:
        q = Counter(tokens(query))
        result: Dict[str, float] = {}
        for doc_id, counts in self.tf.items():
            norm = self.k1 * (1 - self.b + self.b * self.length[doc_id] / self.avg_length)
            score = 0.0
            for tok in q:
                tf = counts.get(tok, 0.0)
                if tf:
                    score += self.idf[tok] * tf * (self.k1 + 1) / (tf + norm)
            if score > 0:
                result[doc_id] = score
        return result


def intent_to_response(intent: str) -> str:
    """faq/session_length -> utter_faq/session_length; clinic_contact -> utter_clinic_contact."""
    return f"utter_{intent}"


def training_examples(nlu_dir: Path) -> Dict[str, List[str]]:
    """NLU training examples by response name (what the bot was trained to answer with it)."""
    result: Dict[str, List[str]] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        for block in data.get("nlu") or []:
            if not isinstance(block, dict) or "intent" not in block:
                continue
            lines = str(block.get("examples") or "").splitlines()
            examples = [
                re.sub(r"\[([^\]]+)\][({][^)}]*[)}]", r"\1", line.strip()[2:])
                for line in lines
                if line.strip().startswith("- ")
            ]
            result.setdefault(intent_to_response(str(block["intent"])), []).extend(examples)
    return result


class KeywordIndex:
    """Two BM25 views of the same answers, mixed half and half (scores in [0, 1]):

    - one document per response (answer text + topic + name + all its examples):
      good at words that appear in the answer itself;
    - one document per training example (and the answer's name and first text),
      a response scoring as its best example: good at short paraphrases, the way
      an FAQ search matches a new question to the nearest known question.
    """

    def __init__(self, whole: BM25, parts: BM25, owner: Mapping[str, str]) -> None:
        self.whole, self.parts, self.owner = whole, parts, owner

    @staticmethod
    def _normalized(scores: Mapping[str, float]) -> Dict[str, float]:
        best = max(scores.values(), default=0.0)
        return {k: v / best for k, v in scores.items()} if best > 0 else {}

    def scores(self, query: str) -> Dict[str, float]:
        whole = self._normalized(self.whole.scores(query))
        nearest: Dict[str, float] = {}
        for doc_id, score in self.parts.scores(query).items():
            name = self.owner[doc_id]
            nearest[name] = max(nearest.get(name, 0.0), score)
        nearest = self._normalized(nearest)
        return {
            n: 0.5 * whole.get(n, 0.0) + 0.5 * nearest.get(n, 0.0)
            for n in set(whole) | set(nearest)
        }


def build_index(entries: Iterable, nlu_dir: Path) -> KeywordIndex:
    """Indexes catalog entries (see bot.console.catalog.Entry) and their NLU examples."""
    examples = training_examples(nlu_dir)
    whole: Dict[str, List[Tuple[str, float]]] = {}
    parts: Dict[str, List[Tuple[str, float]]] = {}
    owner: Dict[str, str] = {}
    for entry in entries:
        names = (entry.name,) + tuple(intent_to_response(i) for i in getattr(entry, "intents", ()))
        own_examples = [example for name in names for example in examples.get(name, ())]
        fields: List[Tuple[str, float]] = [(text, 1.0) for text in entry.texts]
        fields += [(entry.topic, 1.0), (entry.title, 2.0)]
        fields += [(example, 1.0) for example in own_examples]
        whole[entry.name] = fields
        for i, text in enumerate(own_examples + [entry.title] + entry.texts[:1]):
            doc_id = f"{entry.name}#{i}"
            parts[doc_id] = [(text, 1.0)]
            owner[doc_id] = entry.name
    return KeywordIndex(BM25(whole), BM25(parts), owner)
