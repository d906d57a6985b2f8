"""The console's and the phone script's own words in one language (bot/content/console_words.yml).

The approved answers come from the bot's responses; these are only the
headings, labels and notes around them, so a Spanish phone script reads as
Spanish from its title to its last "Revisado".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from bot import content

WORDS_FILE = content.ROOT / "bot" / "content" / "console_words.yml"
DEFAULT = "en"


@dataclass(frozen=True)
class Words:
    language: str
    texts: Mapping[str, Any]

    def __getitem__(self, key: str) -> str:
        return " ".join(str(self.texts[key]).split())

    def fill(self, key: str, **values: Any) -> str:
        return self[key].format(**values)

    def topic(self, name: str) -> str:
        """A topic name (English in the responses' metadata) in this language."""
        return str((self.texts.get("topics") or {}).get(name, name))

    def decision_title(self, key: str) -> str:
        return str(self.texts["decision_titles"][key])


@lru_cache(maxsize=4)
def load(language: Optional[str] = None, path: Path = WORDS_FILE) -> Words:
    data: Dict[str, Any] = content.read_yaml(path)
    name = language if language in data else DEFAULT
    return Words(name, data[name])
