"""Adapter to the decision aid (bot/decision_aid.py over bot/content/comparison.yml
and tools.yml): the comparison table, the candidate checklist, the
troubleshooting guide, the questions to ask a provider and the therapists' guide.

The console never keeps a copy of that content: it asks bot.decision_aid for its
plain-text renderings (the same text the bot sends) and, for the two tables,
for the rows of its widget payload. Until that module exists the console shows
no decision-aid sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from bot import content
from bot.console.words import Words
from bot.console.words import load as load_words


@dataclass(frozen=True)
class Section:
    key: str  # "comparison", "checklist", "troubleshooting", "questions", "therapist"
    title: str
    text: str  # plain text, ready to read aloud
    sources: Tuple[str, ...] = ()
    reviewed: str = ""
    table: Tuple[Tuple[str, ...], ...] = field(default=())  # optional rows, first = header
    intents: Tuple[str, ...] = ()  # NLU intents that ask for this section


def _files(items: Iterable[Any]) -> Tuple[str, ...]:
    seen: Dict[str, None] = {}
    for item in items:
        name = item.get("file") if isinstance(item, dict) else item
        if name:
            seen.setdefault(str(name), None)
    return tuple(seen)


def _flat(text: Any) -> str:
    return " ".join(str(text or "").split())


def _table(payload: Dict[str, Any]) -> Tuple[Tuple[str, ...], ...]:
    columns = payload.get("columns") or []
    rows = payload.get("rows") or []
    return (
        (tuple(map(str, columns)),) + tuple(tuple(map(str, row)) for row in rows) if columns else ()
    )


def _checklist(aid: Any) -> Tuple[str, Tuple[str, ...]]:
    """The candidate checklist read aloud: its questions, red flags and closing."""
    if hasattr(aid, "checklist_sheet"):  # the decision aid's own renderer, when it has one
        reply = aid.checklist_sheet()
        return reply.text, _files(reply.payload.get("sources") or ())
    checklist = aid.tools["checklist"]
    lines: List[str] = [_flat(checklist.get("intro")), ""]
    files: List[str] = list(checklist.get("source") or [])
    for i, item in enumerate(checklist.get("items") or [], 1):
        lines.append(f"{i}. {item['label']}: {item['question']}")
        files += item.get("source") or []
    lines += [
        "",
        f"{checklist.get('red_flags_heading', '')}".strip(),
        _flat(checklist.get("red_flags")),
        "",
        _flat(checklist.get("closing")),
    ]
    files += list(checklist.get("red_flags_source") or []) + list(
        checklist.get("closing_source") or []
    )
    return "\n".join(lines).replace("\n\n\n", "\n\n").strip(), _files(files)


def _build(aid: Any, module: Any, clinic: Dict[str, str], words: Words) -> List[Section]:
    title = words.decision_title
    sections: List[Section] = []
    comparison = aid.table(clinic=clinic)
    sections.append(
        Section(
            "comparison",
            title("comparison"),
            comparison.text,
            _files(comparison.payload.get("sources") or ()),
            str(comparison.payload.get("reviewed") or aid.reviewed),
            _table(comparison.payload),
            (module.INTENT_COMPARE, module.INTENT_TABLE, module.INTENT_DIMENSION),
        )
    )
    tools_reviewed = str(aid.tools.get("reviewed") or "")
    text, files = _checklist(aid)
    sections.append(
        Section(
            "checklist",
            title("checklist"),
            text,
            files,
            tools_reviewed,
            intents=(module.INTENT_CHECKLIST,),
        )
    )
    trouble = aid.troubleshooting(module.ALL)
    sections.append(
        Section(
            "troubleshooting",
            title("troubleshooting"),
            trouble.text,
            _files(trouble.payload.get("sources") or ()),
            tools_reviewed,
            _table(trouble.payload),
            (module.INTENT_TROUBLESHOOT,),
        )
    )
    questions = aid.questions()
    sections.append(
        Section(
            "questions",
            title("questions"),
            questions.text,
            _files(questions.payload.get("sources") or ()),
            tools_reviewed,
            intents=(module.INTENT_QUESTIONS,),
        )
    )
    guide, role = aid.therapist(), aid.therapist("role")
    sections.append(
        Section(
            "therapist",
            title("therapist"),
            guide.text + "\n\n" + role.text,
            _files(
                list(guide.payload.get("sources") or ()) + list(role.payload.get("sources") or ())
            ),
            tools_reviewed,
            intents=(module.INTENT_THERAPIST, module.INTENT_THERAPIST_ROLE),
        )
    )
    return sections


def sections(
    clinic: Optional[Mapping[str, str]] = None, language: Optional[str] = None
) -> List[Section]:
    """The decision-aid sections in a language (English when None)."""
    try:
        from bot import decision_aid
    except ImportError:
        return []
    words = load_words(language)
    return _build(
        decision_aid.load(language=words.language),
        decision_aid,
        dict(clinic or content.clinic_profile()),
        words,
    )
