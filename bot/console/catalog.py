"""Everything the console shows, read from the bot's own content (no copies).

- answers: bot.content.answers() (domain.yml + data/responses/*.yml, clinic
  placeholders filled), grouped by response name and by topic;
- decision-aid sections: bot.console.decision (bot.decision_aid's renderers);
- the staff crisis script: bot.console.crisis_script.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from bot import content
from bot.console import crisis_script, decision
from bot.console.plain import plain
from bot.console.words import Words
from bot.console.words import load as load_words

# Replies that only make sense inside a chat (greetings, small talk, "I didn't
# understand"): shown when browsing and printed, never offered as search hits.
CHAT_ONLY = frozenset(
    {
        "utter_greet",
        "utter_goodbye",
        "utter_thank",
        "utter_affirm",
        "utter_deny",
        "utter_simpler",
        "utter_general_for_option",
        "utter_intro",
        "utter_help",
        "utter_fallback",
        "utter_out_of_scope",
        "utter_empty_input",
    }
)
CRISIS_TOPIC = "Crisis"
CRISIS_RESPONSE = "utter_crisis"
DECISION_TOPIC = "Decision tools"
DECISION_PREFIX = "decision:"


@lru_cache(maxsize=1)
def _seed_titles() -> Dict[str, str]:
    """The seed pages' titles, from the decision aid's one list (comparison.yml `seeds`)."""
    from bot import decision_aid

    titles = {}
    for name, seed in decision_aid.load().seeds.items():
        titles[name] = str(seed.get("title", "")) if isinstance(seed, dict) else str(seed)
    return titles


def source_label(source: str) -> str:
    """The source page as staff see it: its title and its file name."""
    title = _seed_titles().get(source)
    return f"{title} ({source})" if title else source


@dataclass(frozen=True)
class Entry:
    """One response (all its variants), as staff see it."""

    name: str
    topic: str
    variants: Tuple[content.Answer, ...]
    label: str = ""  # explicit title (decision-aid sections)
    intents: Tuple[str, ...] = ()  # NLU intents that ask for it (decision-aid sections)

    @property
    def key(self) -> str:
        """utter_faq/session_length -> faq/session_length; utter_help -> help."""
        return self.name[len("utter_") :] if self.name.startswith("utter_") else self.name

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        tail = self.key.split("/", 1)[-1]
        return tail.replace("_", " ").strip().capitalize()

    @property
    def texts(self) -> List[str]:
        return [plain(v.text) for v in self.variants]

    @property
    def sources(self) -> Tuple[str, ...]:
        seen: Dict[str, None] = {}
        for variant in self.variants:
            for source in variant.sources:
                seen.setdefault(source, None)
        return tuple(seen)

    @property
    def reviewed(self) -> str:
        return max((v.reviewed for v in self.variants if v.reviewed), default="")

    def variant_label(self, variant: content.Answer, words: Optional[Words] = None) -> str:
        """ "Spanish" / "English" when the entry shows both; nothing for one language."""
        if len({v.language for v in self.variants}) < 2:
            return ""
        return (words or load_words())["spanish" if variant.language == "es" else "english"]


class Catalog:
    def __init__(self, root: Path = content.ROOT, language: Optional[str] = None) -> None:
        """``language`` ("en" / "es"): only that language's variants (a phone script
        in one language); None: every variant, English first."""
        self.root = root
        self.language = language
        self.answers = [
            a for a in content.answers(root) if language is None or a.language == language
        ]
        by_name: Dict[str, List[content.Answer]] = {}
        for answer in self.answers:
            by_name.setdefault(answer.name, []).append(answer)
        self.entries: Dict[str, Entry] = {}
        for name, variants in by_name.items():
            # English first (what staff read aloud), then other languages.
            ordered = sorted(variants, key=lambda v: v.language != "en")
            self.entries[name] = Entry(name, ordered[0].topic, tuple(ordered))
        self.words = load_words(language)
        self.crisis = crisis_script.load(language=language)
        self.decision_sections = decision.sections(content.clinic_profile(root), language)
        # The decision-aid sections as search results (same text, shown with a copy button).
        self.decision_entries: Dict[str, Entry] = {
            DECISION_PREFIX + s.key: Entry(
                DECISION_PREFIX + s.key,
                DECISION_TOPIC,
                (
                    content.Answer(
                        DECISION_PREFIX + s.key, s.text, DECISION_TOPIC, s.sources, s.reviewed
                    ),
                ),
                label=s.title,
                intents=s.intents,
            )
            for s in self.decision_sections
        }
        self.clinic = content.clinic_profile(root)

    def entry(self, name: str) -> Optional[Entry]:
        return self.entries.get(name) or self.decision_entries.get(name)

    @property
    def searchable(self) -> List[Entry]:
        """What search can return: every response but chat-only ones and the crisis reply
        (a crisis search shows the whole crisis script instead), and the decision tools."""
        return [
            e
            for e in self.entries.values()
            if e.name not in CHAT_ONLY and e.name != CRISIS_RESPONSE
        ] + list(self.decision_entries.values())

    def by_topic(self) -> List[Tuple[str, List[Entry]]]:
        """Topics in file order, crisis first, chat-only replies last."""
        groups: Dict[str, List[Entry]] = {}
        for entry in self.entries.values():
            groups.setdefault(entry.topic, []).append(entry)

        def rank(item: Tuple[str, List[Entry]]) -> int:
            topic, entries = item
            if topic == CRISIS_TOPIC:
                return 0
            if all(e.name in CHAT_ONLY for e in entries):
                return 2
            return 1

        return sorted(groups.items(), key=rank)  # stable: file order within a rank

    @property
    def last_changed(self) -> str:
        """The latest `reviewed` date over every answer, the crisis script and the tables."""
        dates = [a.reviewed for a in self.answers if a.reviewed]
        dates.append(self.crisis.reviewed)
        dates.extend(s.reviewed for s in self.decision_sections if s.reviewed)
        return max((d for d in dates if d), default="")
