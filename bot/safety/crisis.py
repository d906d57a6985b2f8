"""Crisis detector: is this message from (or about) someone who may be in danger?

Why it is built in layers (each layer is data in ``patterns/crisis.yml``):

1. **Normalisation** (``bot.safety.text``) undoes what people in distress type:
   typos (``suicde``), slang (``kms``, ``unalive``, ``wanna``), leetspeak
   (``k1ll``), spelled-out letters, emoji, zero-width characters, accents,
   repeated letters and punctuation, and a leading ``/intent`` command.
2. **Lemma and word patterns** (spaCy ``Matcher`` on LOWER/LEMMA, tokenizer +
   lookup lemmatizer only; written in a small readable pattern language, see
   below and the header of crisis.yml) catch the crisis *frames* rather than fixed
   sentences: "want/wish/need ... to die", "better off without me",
   "can't go on", "took a handful of my pills", "how many pills would it
   take", third-person versions ("she wants to die", "hurt himself"), and a
   Spanish set on accent-stripped words. Lemmas cover inflection
   (want/wanted/wants, cut/cutting). Negation, hedging and the past are NOT
   reasons to stay quiet: "I would never act on it but I think about death"
   is still a crisis.
3. **Guards** remove known harmless uses: idioms ("my feet are killing me",
   "to die for", "kill two birds") and topical FAQ questions ("how does
   Spravato help with suicidal thoughts"). A guard only removes crisis matches
   it overlaps, and never a match marked ``strong`` (first-person
   disclosures such as "I have suicidal thoughts"), so "my feet are killing
   me and I want to die" is still a crisis.
4. **Result**: the most urgent category wins (overdose/emergency first), the
   span is the first crisis match in the ORIGINAL text. When a message is
   truly ambiguous the patterns err toward safety: a wrong 988 message costs
   little, a missed one may cost a life.

``detect`` is thread-safe and never raises: if anything inside fails, a plain
keyword fallback decides, and it leans toward flagging. Results are cached
per text (``functools.lru_cache``). About 5,000 Matcher patterns are split by
an "anchor" word (``AnchoredMatcher``) so a message only runs the few groups
whose words it contains: about 0.2-0.3 ms per uncached message (see
``bench/detector_bench.py``).
"""

from __future__ import annotations

import datetime
import functools
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import yaml

from bot.language import ES, fold, message_language
from bot.safety.text import PATTERN_DIR, Token, tokenize

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

logger = logging.getLogger(__name__)

CATEGORY_PRIORITY = (
    "overdose_emergency",
    "means",
    "self_harm",
    "suicidal",
    "harm_to_others",
    "third_party",
)
_CONVERTIBLE = {"suicidal", "self_harm"}  # become third_party when about someone else
# Disclosures that can be told as over ("I overdosed years ago, I'm doing fine");
# method and means questions never are.
_RESOLVABLE = {"suicidal", "self_harm", "overdose_word", "overdose_emergency"}


# --------------------------------------------------------------------------- #
# spaCy pipeline (tokenizer + lookup lemmatizer), loaded once, lazily
# --------------------------------------------------------------------------- #

_NLP = None
_NLP_LOCK = threading.RLock()


def get_nlp():
    """``spacy.blank("en")`` + lookup lemmatizer. Tables come from spacy-lookups-data."""
    global _NLP
    if _NLP is None:
        with _NLP_LOCK:
            if _NLP is None:
                import spacy

                nlp = spacy.blank("en")
                nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
                nlp.initialize()
                _NLP = nlp
    return _NLP


def make_doc(tokens: Sequence[Token]):
    """A spaCy Doc over the normalised words, with a boundary "." at each end.

    The sentinels let patterns say "at the end of the message" (``<b>``) and
    "not preceded by I" (``!i``) even at the edges.
    """
    from spacy.tokens import Doc

    nlp = get_nlp()
    words = ["."] + [t.text for t in tokens] + ["."]
    doc = Doc(nlp.vocab, words=words)
    return nlp.get_pipe("lemmatizer")(doc)


# --------------------------------------------------------------------------- #
# The pattern language used in patterns/*.yml
# --------------------------------------------------------------------------- #
#   word          LOWER == word            a|b|@SET    LOWER in {a, b, *SET}
#   ~word / ~a|b  LEMMA match              !a|@SET     one token NOT in ... (with ?/{0,N}:
#                                                      a word wildcard that skips these)
#   _             any word (not punct.)    *           any token
#   <b>           punctuation / message edge
#   /regex/       LOWER matches regex      <num>       a number
#   suffix ?      optional                 suffix {0,N} up to N optional copies
#   ( a b | c d ) alternatives of whole sequences; ( ... )? optional group
# --------------------------------------------------------------------------- #


class PatternError(ValueError):
    pass


def _values(spec: str, sets: Dict[str, List[str]]) -> List[str]:
    out: List[str] = []
    for part in spec.split("|"):
        if not part:
            continue
        if part.startswith("@"):
            name = part[1:]
            if name not in sets:
                raise PatternError(f"unknown set @{name}")
            out.extend(sets[name])
        else:
            out.append(fold(part))  # the way normalised text looks
    return out


_QUANT = re.compile(r"^(.*?)(\?|\{0,(\d+)\}|\+)$")


def _token_spec(elem: str, sets: Dict[str, List[str]]) -> List[dict]:
    """One pattern element -> one or more Matcher token dicts."""
    op = None
    repeat = 1
    m = _QUANT.match(elem)
    if m and m.group(1) and not (elem.startswith("/") and elem.endswith("/")):
        elem = m.group(1)
        q = m.group(2)
        if q == "?":
            op = "?"
        elif q == "+":
            op = "+"
        else:
            op = "?"
            repeat = int(m.group(3))
    if elem == "_":
        spec: dict = {"IS_PUNCT": False}
    elif elem == "*":
        spec = {}
    elif elem == "<b>":
        spec = {"IS_PUNCT": True}
    elif elem == "<num>":
        spec = {"LIKE_NUM": True}
    elif elem.startswith("/") and elem.endswith("/") and len(elem) > 2:
        re.compile(elem[1:-1])
        spec = {"LOWER": {"REGEX": elem[1:-1]}}
    elif elem.startswith("~"):
        vals = _values(elem[1:], sets)
        spec = {"LEMMA": vals[0]} if len(vals) == 1 else {"LEMMA": {"IN": vals}}
    elif elem.startswith("!"):
        spec = {"LOWER": {"NOT_IN": _values(elem[1:], sets)}}
        if op:  # used as a restricted wildcard: never spans punctuation
            spec["IS_PUNCT"] = False
    else:
        vals = _values(elem, sets)
        spec = {"LOWER": vals[0]} if len(vals) == 1 else {"LOWER": {"IN": vals}}
    if op:
        spec = dict(spec, OP=op)
    return [dict(spec) for _ in range(repeat)]


def _merge_single_tokens(alts: List[List[dict]], optional: bool) -> List[List[dict]]:
    """Fold one-word alternatives that test the same attribute into one IN test.

    ``( a | b | c d )`` -> ``[a|b]`` plus ``c d``: keeps the number of Matcher
    patterns small without changing what matches.
    """
    by_attr: Dict[str, List[str]] = {}
    rest: List[List[dict]] = []
    for alt in alts:
        if len(alt) == 1 and "OP" not in alt[0] and len(alt[0]) == 1:
            ((attr, value),) = alt[0].items()
            if attr in ("LOWER", "LEMMA"):
                values = (
                    value["IN"]
                    if isinstance(value, dict) and list(value) == ["IN"]
                    else ([value] if isinstance(value, str) else None)
                )
                if values is not None:
                    by_attr.setdefault(attr, []).extend(values)
                    continue
        rest.append(alt)
    merged: List[List[dict]] = []
    for attr, values in by_attr.items():
        spec: dict = {attr: {"IN": sorted(set(values))}}
        if optional and not rest and len(by_attr) == 1:
            spec["OP"] = "?"
        merged.append([spec])
    return merged + rest


def _parse(elems: List[str], i: int, sets) -> Tuple[List[List[dict]], int]:
    """Parse a sequence until ')' or '|' (group separators); return expansions."""
    seqs: List[List[dict]] = [[]]
    while i < len(elems):
        e = elems[i]
        if e in (")", ")?", "|"):
            break
        if e == "(":
            alts: List[List[dict]] = []
            i += 1
            while True:
                sub, i = _parse(elems, i, sets)
                alts.extend(sub)
                if i >= len(elems):
                    raise PatternError("unclosed (")
                if elems[i] == "|":
                    i += 1
                    continue
                optional = elems[i] == ")?"
                i += 1
                break
            alts = _merge_single_tokens(alts, optional)
            if optional and not (
                len(alts) == 1 and len(alts[0]) == 1 and alts[0][0].get("OP") == "?"
            ):
                alts.append([])
            seqs = [s + a for s in seqs for a in alts]
            if len(seqs) > 5000:
                raise PatternError("pattern expands to too many sequences")
            continue
        spec = _token_spec(e, sets)
        seqs = [s + spec for s in seqs]
        i += 1
    return seqs, i


def _split(text: str) -> List[str]:
    """Whitespace split; "(" and ")"/")?" may be glued to words (not inside /regex/)."""
    out: List[str] = []
    for raw in text.split():
        if raw.startswith("/") and raw.endswith("/") and len(raw) > 2:
            out.append(raw)
            continue
        while raw.startswith("(") and raw != "(":
            out.append("(")
            raw = raw[1:]
        tail: List[str] = []
        while True:
            if raw.endswith(")?") and raw != ")?":
                tail.insert(0, ")?")
                raw = raw[:-2]
            elif raw.endswith(")") and raw != ")":
                tail.insert(0, ")")
                raw = raw[:-1]
            else:
                break
        if raw:
            out.append(raw)
        out.extend(tail)
    return out


def compile_pattern(text: str, sets: Dict[str, List[str]]) -> List[List[dict]]:
    """One pattern string -> the Matcher token patterns it stands for."""
    elems = _split(text)
    seqs, i = _parse(elems, 0, sets)
    if i != len(elems):
        raise PatternError(f"unexpected {elems[i]!r} in {text!r}")
    out = [s for s in seqs if any(t.get("OP") not in ("?", "*") for t in s)]
    if not out:
        raise PatternError(f"pattern can match nothing: {text!r}")
    return out


def load_sets(data: dict) -> Dict[str, List[str]]:
    sets: Dict[str, List[str]] = {}
    for name, values in (data.get("sets") or {}).items():
        flat: List[str] = []
        for v in values or []:
            v = str(v)
            if v.startswith("@"):
                flat.extend(sets[v[1:]])
            else:
                flat.append(v.lower())
        sets[str(name)] = flat
    return sets


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # "crisis", "idiom" or "topical"
    category: Optional[str]
    lang: str
    strong: bool


# Words in almost every message make poor anchors (they would wake every group).
_COMMON_WORDS = frozenset(
    """
i me my you your he she it we they him her them his their a an the to of in on at for with and
or but not no be is am are was were do does did have has had will would can could should may
might this that
what how why when who which so just if up out about all get go like want feel think know
. , ! ? ; : que de la el en y me mi no se lo un una
""".split()
)


class AnchoredMatcher:
    """Many spaCy Matchers, each holding the patterns that share one "anchor".

    spaCy's Matcher tries every pattern at every token, so thousands of
    patterns cost milliseconds per message. Each pattern has at least one
    required token with a closed list of words or lemmas (its anchor: e.g.
    {die, dies, died, dying}); a pattern can only match a message that
    contains one of them. Patterns are grouped by anchor and only the groups
    whose anchor words occur in the message are run. Results are identical
    to one big Matcher.
    """

    def __init__(self, vocab) -> None:
        from spacy.matcher import Matcher

        self._vocab = vocab
        self._make = lambda: Matcher(vocab, validate=False)
        self.always = self._make()
        self._always_used = False
        self.groups: Dict[Tuple[str, frozenset], object] = {}
        self.index: Dict[str, Dict[str, Set[Tuple[str, frozenset]]]] = {"LOWER": {}, "LEMMA": {}}
        self.count = 0

    @staticmethod
    def _anchor(pattern: List[dict]) -> Optional[Tuple[str, frozenset]]:
        best: Optional[Tuple[str, frozenset]] = None
        best_score = (0, 0)
        for spec in pattern:
            if spec.get("OP") in ("?", "*"):
                continue
            for attr in ("LOWER", "LEMMA"):
                if attr not in spec:
                    continue
                value = spec[attr]
                if isinstance(value, str):
                    values = frozenset([value])
                elif isinstance(value, dict) and set(value) == {"IN"}:
                    values = frozenset(value["IN"])
                else:
                    continue
                score = (len(values & _COMMON_WORDS), len(values))
                if best is None or score < best_score:
                    best, best_score = (attr, values), score
        return best

    def add(self, key: str, patterns: List[List[dict]]) -> None:
        for pattern in patterns:
            self.count += 1
            anchor = self._anchor(pattern)
            if anchor is None:
                self.always.add(key, [pattern])
                self._always_used = True
                continue
            matcher = self.groups.get(anchor)
            if matcher is None:
                matcher = self.groups[anchor] = self._make()
                for value in anchor[1]:
                    self.index[anchor[0]].setdefault(value, set()).add(anchor)
            matcher.add(key, [pattern])

    def __len__(self) -> int:
        return self.count

    def __call__(self, doc) -> List[Tuple[int, int, int]]:
        lower, lemma = self.index["LOWER"], self.index["LEMMA"]
        todo: Set[Tuple[str, frozenset]] = set()
        for token in doc:
            hit = lower.get(token.lower_)
            if hit:
                todo |= hit
            hit = lemma.get(token.lemma_)
            if hit:
                todo |= hit
        found = list(self.always(doc)) if self._always_used else []
        for anchor in todo:
            found.extend(self.groups[anchor](doc))
        return found


class RuleSet:
    """Matcher + metadata compiled from one YAML file's rule lists."""

    def __init__(self, path: Path, sections: Iterable[Tuple[str, str]]) -> None:
        from spacy.matcher import PhraseMatcher

        nlp = get_nlp()
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        self.data = data
        self.sets = load_sets(data)
        self.second_net_words = frozenset(
            str(w).lower() for w in data.get("second_net_words") or ()
        )
        self.risk_vocabulary = frozenset(str(w).lower() for w in data.get("risk_vocabulary") or ())
        self.matcher = AnchoredMatcher(nlp.vocab)
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.rules: Dict[int, Rule] = {}
        for section, kind in sections:
            for entry in data.get(section) or []:
                rule = Rule(
                    id=str(entry["id"]),
                    kind=kind,
                    category=entry.get("category", entry.get("key")),
                    lang=str(entry.get("lang", "en")),
                    strong=bool(entry.get("strong", False)),
                )
                key = f"{kind}:{rule.id}"
                patterns: List[List[dict]] = []
                for text in entry.get("patterns") or []:
                    try:
                        patterns.extend(compile_pattern(str(text), self.sets))
                    except PatternError as exc:
                        raise PatternError(f"{path.name} {rule.id}: {exc}") from exc
                if patterns:
                    self.matcher.add(key, patterns)
                phrase_docs = [
                    nlp.make_doc(" ".join(t.text for t in tokenize(str(p))))
                    for p in entry.get("phrases") or []
                ]
                if phrase_docs:
                    self.phrases.add(key, phrase_docs)
                self.rules[nlp.vocab.strings[key]] = rule

    def matches(self, doc) -> List[Tuple[Rule, int, int]]:
        found = [(self.rules[mid], s, e) for mid, s, e in self.matcher(doc)]
        found.extend((self.rules[mid], s, e) for mid, s, e in self.phrases(doc))
        return found


# --------------------------------------------------------------------------- #
# Detection
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class CrisisResult:
    is_crisis: bool
    category: Optional[
        str
    ]  # suicidal, self_harm, overdose_emergency, harm_to_others, third_party, means
    language: str  # "en" or "es" (language of the crisis phrase; "en" when not crisis)
    idiom: bool  # True when only a known harmless use matched: an idiom ("my feet are
    # killing me") or topical FAQ wording ("how does Spravato help with
    # suicidal thoughts"); lets callers overrule a classifier's crisis guess
    span: Optional[Tuple[int, int]]  # char offsets of the first crisis match in the ORIGINAL text
    risk_words: bool = False  # the text uses crisis vocabulary even if no pattern matched; a
    # classifier's crisis guess is only trusted when this is True
    risk_vocabulary: bool = False  # the text uses risk vocabulary (death, funeral, overdose,
    # goodbye...): such a message never gets the generic fallback
    warning: bool = False  # a warning sign matched (a will just written, "the day I picked"):
    # not enough for the crisis reply unasked, always enough to ask directly
    resolved: bool = False  # a past attempt or self-harm told as over ("ten years ago, stable
    # since"): a check-in only when the bot has no normal answer
    safe_now: bool = False  # the writer says they are safe now ("I called 988, I'm ok for
    # tonight"): after a safety reply, thanks and their answer instead of another one


NOT_CRISIS = CrisisResult(False, None, "en", False, None)

_RULES: Optional[RuleSet] = None
_RULES_LOCK = threading.Lock()


def rules() -> RuleSet:
    global _RULES
    if _RULES is None:
        with _RULES_LOCK:
            if _RULES is None:
                with _NLP_LOCK:  # building patterns writes to the shared vocab
                    _RULES = RuleSet(
                        PATTERN_DIR / "crisis.yml",
                        [
                            ("crisis", "crisis"),
                            ("warning_signs", "warning"),
                            ("idioms", "idiom"),
                            ("topical", "topical"),
                        ],
                    )
    return _RULES


def _is_third_party(words: List[str], start: int, end: int, rs: RuleSet, lang: str = "en") -> bool:
    """Is this (suicidal / self-harm) match about someone other than the writer?

    Looks inside the match, then back to the start of the sentence, for the
    nearest subject: a first-person word (I, me, my) keeps it about the writer;
    a third-person pronoun or a person ("my sister", "he") makes it third party.
    """
    suffix = "_ES" if lang == "es" else ""
    first = set(rs.sets.get("FIRST" + suffix, ()))
    third = set(rs.sets.get("THIRD" + suffix, ()))
    inside = words[start:end]
    if any(w in first for w in inside):
        return False
    if any(w in third for w in inside):
        return True
    stop = set(rs.sets.get("SENTENCE_END", (".", "!", "?")))
    subjects_third = third | set(rs.sets.get("PERSON", ()))
    for j in range(start - 1, max(0, start - 9), -1):
        w = words[j]
        if w in stop:
            break
        if w in first:
            return False
        if w in subjects_third or (w.endswith("s") and w[:-1] in subjects_third):
            return True
    return False


def _mentions(words: List[str], rs: RuleSet, *names: str) -> bool:
    """Does the text contain a phrase of one of these marker lists (crisis.yml sets)?"""
    text = " " + " ".join(words) + " "
    return any(f" {m} " in text for name in names for m in rs.sets.get(name, ()))


def _long_past(words: List[str], rs: RuleSet) -> bool:
    """True when the message talks about the past ("two years ago") and nothing says "now"."""
    return _mentions(words, rs, "PAST_MARKERS") and not _mentions(words, rs, "NOW_MARKERS")


# "Suicidal thoughts in 2015, fully resolved": a year before this one places it
# in the past (only with a stability marker, like PAST_MARKERS_RESOLVED).
_PAST_YEAR = re.compile(r"^(19[5-9]\d|20\d\d)$")


def _names_past_year(words: List[str]) -> bool:
    """A year before this one, or one's age now ("one attempt at 16, now 44")."""
    this_year = datetime.date.today().year
    if any(_PAST_YEAR.match(w) and int(w) < this_year for w in words):
        return True
    return any(
        w == "now"
        and ((i + 1 < len(words) and words[i + 1].isdigit()) or (i and words[i - 1].isdigit()))
        for i, w in enumerate(words)
    )


def _resolved_past(words: List[str], rs: RuleSet) -> bool:
    """A past attempt or overdose told as over: a past marker, a stability marker,
    and nothing that says it is present or coming back."""
    return (
        (
            _mentions(words, rs, "PAST_MARKERS", "PAST_MARKERS_ES", "PAST_MARKERS_RESOLVED")
            or _names_past_year(words)
        )
        and _mentions(words, rs, "STABLE_MARKERS")
        and not _mentions(words, rs, "RECURRENCE_MARKERS")
    )


def _language(doc_words: List[str], langs: Set[str], rs: RuleSet) -> str:
    if len(langs) == 1:
        return next(iter(langs))
    es = set(rs.sets.get("ES_STOPWORDS", ()))
    en = set(rs.sets.get("EN_STOPWORDS", ()))
    n_es = sum(w in es for w in doc_words)
    n_en = sum(w in en for w in doc_words)
    return "es" if n_es > n_en else "en"


Match = Tuple[Rule, int, int]  # rule, start token, end token (in the Doc, sentinels included)


GUARD_KINDS = ("idiom", "topical")
# Rules that match only the word ("suicide", "suicidal", "suicidio") itself, with no person or act.
BARE_WORD_RULES = frozenset({"suicide_word", "es_suicidio"})


def _apply_guards(found: List[Match]) -> Tuple[List[Match], bool]:
    """Step 4: drop crisis and warning-sign matches that a guard (idiom / topical) overlaps.

    Strong rules (explicit first-person disclosures, method questions) are
    never dropped. Returns the crisis and warning matches kept and whether a
    guard matched (a known harmless use: an idiom, or topical FAQ wording).
    """
    guarded = bytearray()  # guarded[i] == 1 when token i lies inside some guard match
    for r, s, e in found:
        if r.kind in GUARD_KINDS:
            if len(guarded) < e:
                guarded.extend(b"\0" * (e - len(guarded)))
            guarded[s:e] = b"\1" * (e - s)
    kept = [
        (r, s, e)
        for r, s, e in found
        if r.kind not in GUARD_KINDS and (r.strong or 1 not in guarded[s:e])
    ]
    harmless = any(r.kind in GUARD_KINDS for r, _, _ in found)
    return kept, harmless


def _only_the_topic(kept: List[Match], idiom: bool, words: List[str], rs: RuleSet) -> bool:
    """The bare word again elsewhere in a message a guard already explains ("does
    it lower suicide deaths or just suicidal thoughts?"): a topic, not a
    disclosure. Never with a time it is happening ("'ctb soon', what does ctb
    mean?"); first-person and method rules are never dropped."""
    crisis = [r for r, _, _ in kept if r.kind == "crisis"]
    return (
        idiom
        and bool(crisis)
        and all(r.id in BARE_WORD_RULES for r in crisis)
        and "soon" not in words
        and not _mentions(words, rs, "RECURRENCE_MARKERS")
    )


def _categorise(kept: List[Match], words: List[str], rs: RuleSet) -> List[Tuple[str, Match]]:
    """Step 5a: the category of each kept match, most urgent first."""
    past_only = _long_past(words, rs)
    question = "?" in words or (
        len(words) > 1 and words[1] in set(rs.sets.get("QUESTION_START", ()))
    )

    def category(rule: Rule, s: int, e: int) -> str:
        cat = rule.category or "suicidal"
        if cat == "overdose_word":  # "overdose": a question about it is about means
            cat = "means" if question else "suicidal"
        if cat == "overdose_emergency" and past_only:  # "I overdosed two years ago ..."
            cat = "suicidal"
        if cat in _CONVERTIBLE and _is_third_party(words, s, e, rs, rule.lang):
            cat = "third_party"
        return cat

    scored = [(category(*m), m) for m in kept]
    rank = {c: i for i, c in enumerate(CATEGORY_PRIORITY)}
    scored.sort(key=lambda x: (rank.get(x[0], len(rank)), x[1][1]))
    return scored


def _span(kept: List[Match], tokens: Sequence[Token]) -> Optional[Tuple[int, int]]:
    """Step 5b: character span of the first crisis match in the ORIGINAL text."""
    _, s, e = min(kept, key=lambda m: (m[1], -m[2]))
    real = [i - 1 for i in range(s, e) if 1 <= i <= len(tokens)]  # skip the "." sentinels
    return (tokens[real[0]].start, tokens[real[-1]].end) if real else None


def _detect(text: str) -> CrisisResult:
    tokens = tokenize(text)  # 1. normalise + tokenise (bot.safety.text)
    if not tokens:
        return NOT_CRISIS
    rs = rules()
    with _NLP_LOCK:
        doc = make_doc(tokens)  # 2. spaCy Doc + lookup lemmas
        found = rs.matches(doc)  # 3. crisis, idiom and topical patterns
        words = [t.lower_ for t in doc]
        # The lemmas are English ones: in a Spanish message "dice" is not "die"
        # and "graves" is not "grave".
        english = message_language(text) != ES
        risky = any(
            t.lower_ in rs.second_net_words or (english and t.lemma_ in rs.second_net_words)
            for t in doc
        )
        vocabulary = any(
            t.lower_ in rs.risk_vocabulary or (english and t.lemma_ in rs.risk_vocabulary)
            for t in doc
        )
    kept, idiom = _apply_guards(found)  # 4. guards remove harmless uses
    if _only_the_topic(kept, idiom, words, rs):
        kept = [m for m in kept if m[0].kind != "crisis"]
    warning = any(r.kind == "warning" for r, _, _ in kept)
    kept = [m for m in kept if m[0].kind == "crisis"]
    safe_now = _mentions(words, rs, "SAFE_NOW")
    if not kept:
        return CrisisResult(
            False, None, "en", idiom, None, risky, vocabulary, warning, safe_now=safe_now
        )
    scored = _categorise(kept, words, rs)  # 5. result
    if all((r.category or "suicidal") in _RESOLVABLE for r, _, _ in kept) and _resolved_past(
        words, rs
    ):
        # "I attempted ten years ago; I've been stable since": not the crisis
        # reply unasked (bot/safety/assess.py decides whether to ask).
        return CrisisResult(
            False, None, "en", False, None, risky, vocabulary, warning, True, safe_now
        )
    langs = {rule.lang for _, (rule, _, _) in scored}
    language = scored[0][1][0].lang if len(langs) == 1 else _language(words, langs, rs)
    return CrisisResult(True, scored[0][0], language, False, _span(kept, tokens), True, True)


# Last-resort net if the pipeline itself fails (never expected): a few stems.
_FALLBACK = re.compile(
    r"suicid|kill\s*(my|him|her|them)self|\bkms\b|unaliv|end\s+(it\s+all|my\s+life)|want\s+to\s+die|"
    r"overdos|self[\s-]*harm|cut(ting)?\s+myself|better\s+off\s+(dead|without)|"
    r"matarme|suicid|morirme|quiero\s+morir|sobredosis",
    re.I,
)


@functools.lru_cache(maxsize=4096)
def _detect_cached(text: str) -> CrisisResult:
    return _detect(text)


def detect(text: str) -> CrisisResult:
    """Classify one message. Thread-safe; never raises on any input."""
    try:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        return _detect_cached(text)
    except Exception:  # pragma: no cover - defensive: the safety net must not fail
        logger.exception("crisis detector failed; using keyword fallback")
        try:
            m = _FALLBACK.search(text or "")
        except Exception:
            m = None
        if m:
            return CrisisResult(True, "suicidal", "en", False, (m.start(), m.end()))
        return NOT_CRISIS


def warm_up() -> None:
    """Load the pipeline and patterns now (e.g. at server start)."""
    detect("warm up")


__all__ = ["CrisisResult", "detect", "warm_up", "get_nlp", "make_doc", "RuleSet", "compile_pattern"]
