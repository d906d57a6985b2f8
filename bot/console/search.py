"""Search: the caller's question in staff's own words -> the best scripted answers.

1. Crisis first, always: if the bot's crisis detector (or the model) flags the
   text, the result says so and the console shows the crisis script on top.
2. The trained NLU model ranks the responses (the intent classifier's answer
   ranking for faq/advice, its intent ranking for the rest).
3. Keyword search (bot.console.keyword: BM25 over the answers, their topics and
   the bot's own NLU examples) is the backstop: blended in with a smaller weight,
   and ranking alone when the model is not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from bot.console import crisis_script
from bot.console.catalog import Catalog, Entry
from bot.console.keyword import KeywordIndex, build_index
from bot.console.nlu import NluRanker, responses_from_parse

KEYWORD_WEIGHT = 0.35  # a confident model answer (>= 0.5) is never overruled by keywords alone
TOP_N = 3


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float
    model: float = 0.0
    keywords: float = 0.0


@dataclass
class SearchResult:
    query: str
    crisis: bool
    ranker: str  # "model + keywords" or "keywords only"
    hits: List[Hit] = field(default_factory=list)  # the best scripted answers (responses)
    tools: List[Hit] = field(default_factory=list)  # a decision tool that matches as well

    @property
    def names(self) -> List[str]:
        return [h.entry.name for h in self.hits]


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        nlu: Optional[NluRanker] = None,
        keyword_weight: float = KEYWORD_WEIGHT,
    ) -> None:
        self.catalog = catalog
        self.nlu = nlu
        self.keyword_weight = keyword_weight
        self._entries: Dict[str, Entry] = {e.name: e for e in catalog.searchable}
        # The model names intents (compare_options -> "utter_compare_options"): map
        # the decision-aid intents to their section.
        self._aliases: Dict[str, str] = {
            f"utter_{intent}": entry.name
            for entry in self._entries.values()
            for intent in entry.intents
        }
        self.index: KeywordIndex = build_index(
            self._entries.values(), catalog.root / "data" / "nlu"
        )

    @property
    def ranker(self) -> str:
        return "model + keywords" if self.nlu else "keywords only"

    def search(self, query: str, n: int = TOP_N) -> SearchResult:
        query = " ".join((query or "").split())
        if not query:
            return SearchResult(query, False, self.ranker)
        crisis = crisis_script.is_crisis(query)
        model: Dict[str, float] = {}
        if self.nlu is not None:
            parsed = self.nlu.parse(query)
            top_intent = (parsed.get("intent") or {}).get("name")
            crisis = crisis or top_intent == "crisis"
            for name, score in responses_from_parse(parsed):
                name = self._aliases.get(name, name)
                if name in self._entries:
                    model[name] = max(model.get(name, 0.0), score)
        keywords = self.index.scores(query)
        weight = self.keyword_weight if self.nlu is not None else 1.0
        names = set(model) | set(keywords)
        hits = [
            Hit(
                self._entries[name],
                model.get(name, 0.0) + weight * keywords.get(name, 0.0),
                model.get(name, 0.0),
                keywords.get(name, 0.0),
            )
            for name in names
        ]
        hits.sort(key=lambda h: (-h.score, h.entry.name))
        ranked = [h for h in hits if h.score > 0]
        # The answer slots hold the bot's responses; a decision tool (comparison
        # table, checklist...) that would rank among them is offered beside them.
        answers = [h for h in ranked if not h.entry.intents][:n]
        tools = [h for h in ranked[:n] if h.entry.intents][:1]
        return SearchResult(query, crisis, self.ranker, answers, tools)
