"""The staff crisis script, read from its one data file.

bot/content/staff_crisis_script.yml holds what to say, the crisis numbers and
the steps for a caller in immediate danger (bot/content/es/ has it in
Spanish). The console pins it on every screen; the bot's own crisis reply
(utter_crisis) is shown beside it, read from the domain through bot.content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from bot import content

SCRIPT_FILE = content.ROOT / "bot" / "content" / "staff_crisis_script.yml"
# The same script in Spanish, for staff on the phone with a Spanish speaker.
SCRIPT_FILES = {
    "en": SCRIPT_FILE,
    "es": content.ROOT / "bot" / "content" / "es" / "staff_crisis_script.yml",
}
LABELS = {
    "when_to_use": "When to use this",
    "say": "What to say",
    "numbers": "Numbers",
    "do_not": "Do not",
    "signs": "Signs",
    "bot_reply": "What the chat assistant tells a visitor in crisis",
    "reviewed": "Reviewed",
}
BOT_CRISIS_RESPONSE = "utter_crisis"


@dataclass(frozen=True)
class CrisisNumber:
    number: str
    label: str
    when: str


@dataclass(frozen=True)
class StepList:
    title: str
    steps: Tuple[str, ...]
    signs: str = ""


@dataclass(frozen=True)
class CrisisScript:
    title: str
    status: str
    when_to_use: str
    say: Tuple[str, ...]
    numbers: Tuple[CrisisNumber, ...]
    immediate_danger: StepList
    not_immediate: StepList
    do_not: Tuple[str, ...]
    sources: Tuple[str, ...]
    reviewed: str
    headline: str = ""
    language: str = "en"
    labels: Mapping[str, str] = field(default_factory=lambda: dict(LABELS))

    def bot_reply(self) -> Optional[str]:
        """What the bot itself tells a visitor in crisis, in the script's language."""
        reply = content.answer(BOT_CRISIS_RESPONSE, self.language)
        return reply.text if reply else None

    def sections(self) -> List[Tuple[str, str, List[str], bool]]:
        """The script as (heading, intro, lines, numbered) in reading order."""
        danger, label = self.immediate_danger, self.labels
        return [
            (label["when_to_use"], self.when_to_use, [], False),
            (
                danger.title,
                f"{label['signs']}: {danger.signs}" if danger.signs else "",
                list(danger.steps),
                True,
            ),
            (label["say"], "", list(self.say), False),
            (
                label["numbers"],
                "",
                [f"{n.number}: {n.label}. {n.when}" for n in self.numbers],
                False,
            ),
            (self.not_immediate.title, "", list(self.not_immediate.steps), True),
            (label["do_not"], "", list(self.do_not), False),
        ]

    def as_text(self) -> str:
        """The whole script as plain text (CLI, JSON)."""
        lines = [self.title.upper(), self.headline, ""]
        for heading, intro, body, numbered in self.sections():
            lines.append(heading)
            if intro:
                lines.append(f"  {intro}")
            lines.extend(
                f"  {i}. {line}" if numbered else f"  - {line}" for i, line in enumerate(body, 1)
            )
            lines.append("")
        lines.append(f"({self.status} {self.labels['reviewed']} {self.reviewed}.)")
        return "\n".join(lines)


def _steps(node: Dict[str, Any]) -> StepList:
    return StepList(
        title=str(node.get("title", "")),
        steps=tuple(str(s) for s in node.get("steps") or ()),
        signs=" ".join(str(node.get("signs", "")).split()),
    )


@lru_cache(maxsize=4)
def load(path: Optional[Path] = None, language: Optional[str] = None) -> CrisisScript:
    """The script in a language ("en" when None or unknown), or from a file."""
    data = content.read_yaml(path or SCRIPT_FILES.get(language or "en", SCRIPT_FILE))
    return CrisisScript(
        title=str(data.get("title", "Caller in crisis")),
        headline=str(
            data.get("headline") or "In danger now: call 911. Suicide or crisis: call or text 988."
        ),
        status=str(data.get("status", "")),
        when_to_use=" ".join(str(data.get("when_to_use", "")).split()),
        say=tuple(str(s) for s in data.get("say") or ()),
        numbers=tuple(
            CrisisNumber(str(n["number"]), str(n.get("label", "")), str(n.get("when", "")))
            for n in data.get("numbers") or ()
        ),
        immediate_danger=_steps(data.get("immediate_danger") or {}),
        not_immediate=_steps(data.get("not_immediate") or {}),
        do_not=tuple(str(s) for s in data.get("do_not") or ()),
        sources=tuple(data.get("source") or ()),
        reviewed=str(data.get("reviewed", "")),
        language=str(data.get("language") or "en"),
        labels={**LABELS, **(data.get("labels") or {})},
    )


def is_crisis(text: str) -> bool:
    """The bot's own crisis detector (bot.safety.crisis), so staff see what the bot sees."""
    from bot.safety.crisis import detect  # spaCy-based; imported on first use

    return bool(detect(text or "").is_crisis)
