"""The approved answers, read from the same files Rasa trains on.

One source of truth: domain.yml (safety, clinic and conversation replies, plus the
clinic profile as slot initial values) and data/responses/*.yml (FAQ and
personal-question replies). The staff console and the channel's own fallback
replies read them through this module, never from a copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_FILE = ROOT / "domain.yml"
RESPONSES_DIR = ROOT / "data" / "responses"
CLINIC_SLOT_PREFIX = "clinic_"

_FIELD = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")


@dataclass(frozen=True)
class Answer:
    """One response variant as the bot sends it, with its review metadata."""

    name: str
    text: str
    topic: str
    sources: Tuple[str, ...]
    reviewed: str
    language: str = "en"
    buttons: Tuple[Tuple[str, str], ...] = field(default=())


def strings_in(node: Any) -> Iterator[str]:
    """Every string in a loaded YAML tree (values of mappings, items of lists)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def read_yaml(path: Path) -> Dict[str, Any]:
    """A YAML mapping file (empty file -> {}); the one loader for content files."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@lru_cache(maxsize=4)
def _load(root: Path) -> Tuple[Dict[str, List[dict]], Dict[str, str]]:
    domain = read_yaml(root / "domain.yml")
    responses: Dict[str, List[dict]] = dict(domain.get("responses") or {})
    for path in sorted((root / "data" / "responses").glob("*.yml")):
        responses.update(read_yaml(path).get("responses") or {})
    profile = {
        name: str(slot.get("initial_value", ""))
        for name, slot in (domain.get("slots") or {}).items()
        if name.startswith(CLINIC_SLOT_PREFIX)
    }
    return responses, profile


def raw_responses(root: Path = ROOT) -> Dict[str, List[dict]]:
    """All response variants by name, exactly as written (placeholders unfilled)."""
    return _load(root)[0]


def clinic_profile(root: Path = ROOT) -> Dict[str, str]:
    """The configured clinic details (slot name -> value)."""
    return dict(_load(root)[1])


def fill(text: str, values: Mapping[str, Any]) -> str:
    """Fills ``{slot}`` placeholders the way Rasa's NLG does; unknown ones stay."""
    return _FIELD.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


def answers(root: Path = ROOT) -> List[Answer]:
    """Every response variant, filled with the clinic profile, in file order."""
    responses, profile = _load(root)
    result = []
    for name, variants in responses.items():
        for variant in variants or []:
            meta = variant.get("metadata") or {}
            result.append(
                Answer(
                    name=name,
                    text=fill(variant.get("text") or "", profile),
                    topic=str(meta.get("topic", "Other")),
                    sources=tuple(meta.get("source") or ()),
                    reviewed=str(meta.get("reviewed", "")),
                    language=str(meta.get("language", "en")),
                    buttons=tuple(
                        (b.get("title", ""), b.get("payload", ""))
                        for b in variant.get("buttons") or []
                    ),
                )
            )
    return result


@lru_cache(maxsize=16)
def system_message(name: str, language: str = "en", root: Path = ROOT) -> str:
    """A reply the REST channel sends itself (bot/content/system_messages.yml)."""
    message = read_yaml(root / "bot" / "content" / "system_messages.yml")[name]
    text = (message.get("translations") or {}).get(language) or message["text"]
    return fill(text, clinic_profile(root))


def answer(name: str, language: str = "en", root: Path = ROOT) -> Optional[Answer]:
    for item in answers(root):
        if item.name == name and item.language == language:
            return item
    return None
