"""The staff crisis script, read from its one data file.

bot/content/staff_crisis_script.yml holds what to say, the crisis numbers and
the steps for a caller in immediate danger. The console pins it on every
screen; the bot's own crisis reply (utter_crisis) is shown beside it, read from
the domain through bot.content.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bot import content

SCRIPT_FILE = content.ROOT / "bot" / "content" / "staff_crisis_script.yml"
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

    def bot_reply(self) -> Optional[str]:
        """What the bot itself tells a visitor in crisis (English), from the domain."""
        reply = content.answer(BOT_CRISIS_RESPONSE, "en")
        return reply.text if reply else None

    def sections(self) -> List[Tuple[str, str, List[str], bool]]:
        """The script as (heading, intro, lines, numbered) in reading order."""
        danger = self.immediate_danger
        return [
            ("When to use this", self.when_to_use, [], False),
            (
                danger.title,
                f"Signs: {danger.signs}" if danger.signs else "",
                list(danger.steps),
                True,
            ),
            ("What to say", "", list(self.say), False),
            ("Numbers", "", [f"{n.number}: {n.label}. {n.when}" for n in self.numbers], False),
            (self.not_immediate.title, "", list(self.not_immediate.steps), True),
            ("Do not", "", list(self.do_not), False),
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
        lines.append(f"({self.status} Reviewed {self.reviewed}.)")
        return "\n".join(lines)


def _steps(node: Dict[str, Any]) -> StepList:
    return StepList(
        title=str(node.get("title", "")),
        steps=tuple(str(s) for s in node.get("steps") or ()),
        signs=" ".join(str(node.get("signs", "")).split()),
    )


@lru_cache(maxsize=2)
def load(path: Path = SCRIPT_FILE) -> CrisisScript:
    data = content.read_yaml(path)
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
    )


def is_crisis(text: str) -> bool:
    """The bot's own crisis detector (bot.safety.crisis), so staff see what the bot sees."""
    from bot.safety.crisis import detect  # spaCy-based; imported on first use

    return bool(detect(text or "").is_crisis)
