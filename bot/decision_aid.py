"""Decision aid: IV ketamine vs Spravato vs compounded ketamine, and its tools.

Pure Python (PyYAML only, no Rasa imports): the Rasa actions
(``actions/decision_aid.py``), the chat widget's tests and the staff console all
use this module, and all of them read the same two reviewed files:

- ``bot/content/comparison.yml``: the table (options x dimensions, every cell with
  its seed page), the aliases used to spot options and topics in a message, the
  review date and the conflict-of-interest note;
- ``bot/content/tools.yml``: the walkthrough's own words, "what matters most to
  you", the candidate checklist, the troubleshooting tool, questions to ask a
  provider and the guide for therapists.

Nothing here writes new text at run time: every reply is assembled from those
fixed, reviewed strings (plus the clinic profile for ``{clinic_name}``-style
placeholders).

Reply format
------------
Every render function returns a :class:`Reply` with three parts:

``text``
    Plain text for ``rasa shell``, SMS and text-to-speech: no markup, only short
    lines and "•" bullets.
``buttons``
    Rasa buttons, ``[{"title": str, "payload": str}]``. Payloads are either
    ``/intent`` or ``/intent{"entity": "value"}`` commands (the REST channel lets
    those through for our own intents).
``payload``
    A JSON object the widget renders, sent as Rasa's ``custom`` message
    (``dispatcher.utter_message(json_message=payload)``). Its ``type`` is one of:

    ``comparison_table``::

        {
          "type": "comparison_table",
          "title": str,
          "intro": str,
          "columns": [str, ...],         # header row; columns[0] is the row-label header
          "column_ids": [str, ...],      # same length; column_ids[0] is "topic"
          "rows": [[str, ...], ...],     # rows[i][0] is the row label, then one cell per column
          "row_ids": [str, ...],         # dimension / value / situation id of each row
          "cell_sources": [[[str]]],     # seed files of each cell; cell_sources[i][0] == []
          "sources": [{"file": str, "title": str}, ...],   # every seed used, sorted
          "reviewed": "YYYY-MM-DD",
          "note": str                    # conflict-of-interest disclosure ("" if not shown)
        }

    ``summary`` (a list someone can copy or print)::

        {
          "type": "summary",
          "title": str,
          "intro": str,
          "sections": [{"heading": str, "items": [str, ...]}, ...],
          "closing": str,
          "copyable": true,
          "sources": [{"file": str, "title": str}, ...],
          "reviewed": "YYYY-MM-DD"
        }

    ``question`` (one step of a form)::

        {"type": "question", "title": str, "text": str, "step": int, "steps": int,
         "choices": [{"title": str, "payload": str}, ...]}

    ``menu`` (a short message with choices)::

        {"type": "menu", "title": str, "text": str,
         "choices": [{"title": str, "payload": str}, ...],
         "reviewed": "YYYY-MM-DD", "note": str}

The plain text always says the same thing as the payload, so a reply reads well
with or without the widget.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from bot.content import clinic_profile, fill, read_yaml
from bot.language import EN, LANGUAGES, fold

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = ROOT / "bot" / "content"
COMPARISON_FILE = CONTENT_DIR / "comparison.yml"
TOOLS_FILE = CONTENT_DIR / "tools.yml"

# Intents and entities the buttons use (declared in domain.yml's decision-aid fence).
INTENT_COMPARE = "compare_options"
INTENT_DIMENSION = "compare_dimension"
INTENT_TABLE = "show_full_table"
INTENT_NEXT = "da_next"
INTENT_STOP = "da_stop"
INTENT_ABOUT = "da_about"
INTENT_VALUES = "values_clarification"
INTENT_CHOOSE_VALUE = "choose_value"
INTENT_NOT_SURE = "not_sure"
INTENT_CHECKLIST = "start_checklist"
INTENT_TROUBLESHOOT = "troubleshoot"
INTENT_QUESTIONS = "questions_to_ask"
INTENT_THERAPIST = "therapist_referral"
INTENT_THERAPIST_ROLE = "therapist_role"

ALL = "all"  # value / situation id meaning "every one"
# Words of a comparative question, in both languages (accents folded).
COMPARATIVE_WORDS = frozenset(
    "which each compare comparison versus vs between most least more less than "
    "cual cuales cada compara comparar comparacion entre mas menos".split()
)
ANSWERS = ("yes", "no", "not sure")

# The dimensions offered as buttons while walking through one topic at a time.
WALKTHROUGH_BUTTONS = (
    "cost",
    "insurance",
    "fda_status",
    "monitoring",
    "setting",
    "speed",
    "upsides",
    "cautions",
)
# The topics behind the "Upsides and cautions" button that every tool reply which
# names a treatment carries, so its main downsides are always one tap away (IPDAS).
BALANCE_DIMENSIONS = ["upsides", "cautions"]


def command(intent: str, **entities: Any) -> str:
    """A button payload: ``/intent`` or ``/intent{"entity": value}``."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}"


def _button(title: str, payload: str) -> Dict[str, str]:
    return {"title": title, "payload": payload}


def _normalise(text: str) -> str:
    text = fold(text).replace("\u2019", "'").replace("\u2018", "'")
    return " " + re.sub(r"\s+", " ", text).strip() + " "


def _alias_pattern(alias: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(part) for part in fold(alias).split())
    return re.compile(r"(?<![\w'])" + body + r"(?![\w'])")


class _AliasIndex:
    """Finds ids in free text by whole-word aliases, longest alias first.

    A matched span is blanked out, so "compounded ketamine" is not also read as
    plain "ketamine", and "how fast" wins over "fast".
    """

    def __init__(self, aliases: Mapping[str, Sequence[str]], order: Sequence[str]) -> None:
        self.order = list(order)
        pairs = [(alias, key) for key, names in aliases.items() for alias in names]
        pairs.sort(key=lambda pair: -len(pair[0]))
        self.patterns = [(_alias_pattern(alias), key) for alias, key in pairs]

    def find(self, text: str) -> Tuple[List[str], str]:
        """Returns (ids in canonical order, the text with matches blanked)."""
        found = set()
        rest = _normalise(text)
        for pattern, key in self.patterns:
            if pattern.search(rest):
                found.add(key)
                rest = pattern.sub(lambda m: " " * len(m.group(0)), rest)
        return [key for key in self.order if key in found], rest


@dataclass(frozen=True)
class Reply:
    """One bot message: plain text, buttons and the widget payload."""

    text: str
    payload: Dict[str, Any]
    buttons: List[Dict[str, str]] = field(default_factory=list)


class DecisionAid:
    """The comparison table and tools, loaded from the reviewed YAML files."""

    def __init__(
        self, comparison: Mapping[str, Any], tools: Mapping[str, Any], language: str = "en"
    ) -> None:
        self.language = language
        self.comparison = comparison
        self.tools = tools
        self.reviewed = str(comparison["reviewed"])
        self.seeds: Dict[str, Dict[str, str]] = dict(comparison["seeds"])
        self.options: List[Dict[str, Any]] = list(comparison["options"])
        self.dimensions: List[Dict[str, Any]] = list(comparison["dimensions"])
        self.option_ids = [o["id"] for o in self.options]
        self.dimension_ids = [d["id"] for d in self.dimensions]
        self._options = {o["id"]: o for o in self.options}
        self._dimensions = {d["id"]: d for d in self.dimensions}
        self.texts: Dict[str, str] = dict(tools["texts"])
        self.button_titles: Dict[str, str] = dict(tools["buttons"])
        self.values: List[Dict[str, Any]] = list(tools["values"]["items"])
        self.value_ids = [v["id"] for v in self.values]
        self._values = {v["id"]: v for v in self.values}
        self.situations: List[Dict[str, Any]] = list(tools["troubleshooting"]["situations"])
        self.situation_ids = [s["id"] for s in self.situations]
        self._situations = {s["id"]: s for s in self.situations}
        self.checklist_items: List[Dict[str, Any]] = list(tools["checklist"]["items"])
        self.checklist_slots = [item["slot"] for item in self.checklist_items]

        self._option_index = _AliasIndex(
            {o["id"]: o.get("aliases", []) for o in self.options}, self.option_ids
        )
        self._contrast_index = _AliasIndex(
            {o["id"]: o.get("contrast_aliases", []) for o in self.options}, self.option_ids
        )
        self._dimension_index = _AliasIndex(
            {d["id"]: d.get("aliases", []) for d in self.dimensions}, self.dimension_ids
        )
        self.comparison_questions: Dict[str, Dict[str, Any]] = {
            q["id"]: q for q in comparison.get("questions") or []
        }
        self._question_index = _AliasIndex(
            {q: v.get("aliases", []) for q, v in self.comparison_questions.items()},
            list(self.comparison_questions),
        )
        self._table_index = _AliasIndex({ALL: comparison.get("table_aliases") or []}, [ALL])
        self._value_index = _AliasIndex(
            {
                **{v["id"]: v.get("aliases", []) for v in self.values},
                ALL: tools["values"].get("all_aliases", []),
            },
            self.value_ids + [ALL],
        )
        self._situation_index = _AliasIndex(
            {s["id"]: s.get("aliases", []) for s in self.situations}, self.situation_ids
        )

    # ------------------------------------------------------------------
    # Looking things up
    # ------------------------------------------------------------------
    def option(self, option_id: str) -> Dict[str, Any]:
        return self._options[option_id]

    def dimension(self, dimension_id: str) -> Dict[str, Any]:
        return self._dimensions[dimension_id]

    def cell(self, option_id: str, dimension_id: str) -> Tuple[str, List[str]]:
        cell = self._options[option_id]["cells"][dimension_id]
        return cell["text"].strip(), list(cell["source"])

    def next_dimension(self, current: Optional[str]) -> Optional[str]:
        """The topic after ``current`` in walkthrough order (the first if none)."""
        if current not in self._dimensions:
            return self.dimension_ids[0]
        index = self.dimension_ids.index(current) + 1
        return self.dimension_ids[index] if index < len(self.dimension_ids) else None

    def valid(self, ids: Iterable[Any], known: Sequence[str]) -> List[str]:
        """Known ids from ``ids`` (case-insensitive), in canonical order."""
        wanted = {str(i).lower() for i in ids or [] if i is not None}
        return [k for k in known if k in wanted]

    # ------------------------------------------------------------------
    # Reading free text (aliases live in the YAML files)
    # ------------------------------------------------------------------
    def find_options(self, text: str) -> List[str]:
        """Options named in the text, e.g. "spravato vs IV" -> ["iv", "spravato"].

        Plain "ketamine" counts as IV ketamine only next to another option
        ("esketamine vs ketamine"); "compare ketamine options" names none.
        """
        found, rest = self._option_index.find(text)
        if found:
            contrast, _ = self._contrast_index.find(rest)
            found = [o for o in self.option_ids if o in found or o in contrast]
        return found

    def without_options(self, text: str) -> str:
        """The text with every option alias blanked out (what else does it say?)."""
        return self._option_index.find(text)[1]

    def find_dimensions(self, text: str, questions: bool = True) -> List[str]:
        """Topics named in the text, and (with ``questions``) the topics of a
        question no single row answers ("which is safest?" -> FDA status,
        monitoring, cautions)."""
        # Questions first: "how much time" is a question about time, not "how much".
        groups, rest = self._question_index.find(text)
        asked = set(self._dimension_index.find(rest)[0])
        for question in groups:
            group = self.comparison_questions[question]
            if questions or group.get("always"):
                asked.update(group.get("dimensions") or [])
        return [d for d in self.dimension_ids if d in asked]

    def question_faq(self, text: str) -> Optional[str]:
        """The FAQ key that answers a comparison question best ("which is
        strongest?" -> bioavailability), when the text names no topic itself."""
        groups, rest = self._question_index.find(text)
        if self._dimension_index.find(rest)[0]:
            return None
        for question in groups:
            if self.comparison_questions[question].get("faq"):
                return str(self.comparison_questions[question]["faq"])
        return None

    def compares(self, text: str) -> bool:
        """The text compares ("which is safer?", "¿cuál es más fuerte?"), as opposed
        to asking about one thing ("is an infusion safe?")."""
        words = set(re.findall(r"\w+", fold(text)))
        return bool(words & COMPARATIVE_WORDS) or len(self.find_options(text)) >= 2

    def wants_whole_table(self, text: str) -> bool:
        """ "Compare all three", "show me a table": the whole table, not the menu."""
        return bool(self._table_index.find(text)[0])

    def find_values(self, text: str) -> List[str]:
        """Values named in the text; "not sure" / "all of them" -> every value."""
        found = self._value_index.find(text)[0]
        if ALL in found:
            return list(self.value_ids)
        return found

    def find_situation(self, text: str) -> Optional[str]:
        found = self._situation_index.find(text)[0]
        return found[0] if found else None

    def dimension_for_faq(self, key: Optional[str]) -> Optional[str]:
        for dimension in self.dimensions:
            if key and key in dimension.get("faq_keys", []):
                return dimension["id"]
        return None

    def options_for_faq(self, key: Optional[str]) -> List[str]:
        return [o["id"] for o in self.options if key and key in o.get("faq_keys", [])]

    def situation_for_faq(self, key: Optional[str]) -> Optional[str]:
        for situation in self.situations:
            if key and key in situation.get("faq_keys", []):
                return situation["id"]
        return None

    # ------------------------------------------------------------------
    # Shared pieces
    # ------------------------------------------------------------------
    def _t(self, key: str, clinic: Optional[Mapping[str, Any]] = None, **values: Any) -> str:
        text = " ".join(str(self.texts[key]).split())
        return fill(text, {**_clinic(clinic), **values})

    def disclosure(self, clinic: Optional[Mapping[str, Any]] = None) -> str:
        return fill(" ".join(self.comparison["disclosure"].split()), _clinic(clinic))

    def not_advice(self) -> str:
        return " ".join(self.comparison["not_advice"].split())

    def _sources(self, files: Iterable[str]) -> List[Dict[str, str]]:
        return [{"file": f, "title": self.seeds[f]["title"]} for f in sorted(set(files))]

    def _sources_line(self, files: Iterable[str]) -> str:
        names = [self.seeds[f]["short"] for f in sorted(set(files))]
        return self._t("sources_line", sources=self._join(names))

    def _reviewed_line(self, reviewed: Optional[str] = None) -> str:
        return self._t("reviewed_line", date=self.human_date(reviewed or self.reviewed))

    def _join(self, names: Sequence[str]) -> str:
        """["a", "b", "c"] -> "a, b and c" (in the content's language)."""
        names = list(dict.fromkeys(names))
        if len(names) <= 1:
            return "".join(names)
        return ", ".join(names[:-1]) + f" {self.texts['and']} " + names[-1]

    def human_date(self, iso: str) -> str:
        """ "2026-11-27" -> "November 27, 2026" (reads well aloud)."""
        try:
            day = _dt.date.fromisoformat(iso)
        except ValueError:
            return iso
        month = self.texts["months"].split()[day.month - 1]
        return self.texts["date"].format(month=month, day=day.day, year=day.year)

    def _join_options(self, option_ids: Sequence[str]) -> str:
        return self._join([self.option(o)["short"] for o in option_ids])

    def _pair_title(self, option_ids: Sequence[str]) -> str:
        return _cap(f" {self.texts['versus']} ".join(self.option(o)["short"] for o in option_ids))

    def _topic_buttons(self, current: Optional[str]) -> List[Dict[str, str]]:
        buttons = [
            _button(self.dimension(d)["button"], command(INTENT_DIMENSION, dimension=d))
            for d in WALKTHROUGH_BUTTONS
            if d != current
        ]
        if self.next_dimension(current) is not None:
            buttons.append(_button(self.button_titles["next"], command(INTENT_NEXT)))
        buttons.append(_button(self.button_titles["done"], command(INTENT_STOP)))
        return buttons

    def balance_button(self) -> Dict[str, str]:
        """ "Upsides and cautions of each option": both rows, side by side."""
        return _button(
            self.button_titles["balance"], command(INTENT_DIMENSION, dimension=BALANCE_DIMENSIONS)
        )

    def _after_table_buttons(self) -> List[Dict[str, str]]:
        return [
            _button(
                self.button_titles["one_topic"],
                command(INTENT_DIMENSION, dimension=self.dimension_ids[0]),
            ),
            _button(self.button_titles["values"], command(INTENT_VALUES)),
            _button(self.button_titles["questions"], command(INTENT_QUESTIONS)),
            _button(self.button_titles["done"], command(INTENT_STOP)),
        ]

    # ------------------------------------------------------------------
    # The comparison
    # ------------------------------------------------------------------
    def menu(self, clinic: Optional[Mapping[str, Any]] = None) -> Reply:
        buttons = [
            _button(self.button_titles["whole_table"], command(INTENT_TABLE)),
            _button(
                self.button_titles["one_topic"],
                command(INTENT_DIMENSION, dimension=self.dimension_ids[0]),
            ),
        ]
        for pair in self.tools["pairs"]:
            buttons.append(
                _button(self._pair_title(pair), command(INTENT_COMPARE, option=list(pair)))
            )
        buttons.append(_button(self.button_titles["values"], command(INTENT_VALUES)))
        buttons.append(_button(self.button_titles["about"], command(INTENT_ABOUT)))
        buttons.append(_button(self.button_titles["done"], command(INTENT_STOP)))
        note = self.disclosure(clinic)
        # The buttons must fit on a phone screen: the disclosure is one tap
        # away ("About this comparison") and is shown with every table.
        text = "\n\n".join([self._t("menu"), self.not_advice()])
        payload = {
            "type": "menu",
            "title": self._t("menu_title"),
            "text": text,
            "choices": buttons,
            "reviewed": self.reviewed,
            "note": note,
        }
        return Reply(text, payload, buttons)

    def about(self, clinic: Optional[Mapping[str, Any]] = None) -> Reply:
        """Who made the comparison and from what: the disclosure, the pages, the review date."""
        note = self.disclosure(clinic)
        footer = "\n".join([self._sources_line(self.seeds), self._reviewed_line()])
        text = "\n\n".join([self._t("about_intro"), note, self.not_advice(), footer])
        buttons = [
            _button(self.button_titles["whole_table"], command(INTENT_TABLE)),
            _button(
                self.button_titles["one_topic"],
                command(INTENT_DIMENSION, dimension=self.dimension_ids[0]),
            ),
            _button(self.button_titles["done"], command(INTENT_STOP)),
        ]
        payload = {
            "type": "about",
            "title": self._t("about_title"),
            "text": text,
            "choices": buttons,
            "sources": self._sources(self.seeds),
            "reviewed": self.reviewed,
            "note": note,
        }
        return Reply(text, payload, buttons)

    def table(
        self,
        option_ids: Optional[Sequence[str]] = None,
        dimension_ids: Optional[Sequence[str]] = None,
        clinic: Optional[Mapping[str, Any]] = None,
    ) -> Reply:
        """All (or some) options x all (or some) dimensions.

        One dimension gives the "one topic at a time" view; several give a table
        (read aloud option by option).
        """
        options = self.valid(option_ids, self.option_ids) or list(self.option_ids)
        dimensions = self.valid(dimension_ids, self.dimension_ids) or list(self.dimension_ids)
        if len(dimensions) == 1:
            return self._topic(dimensions[0], options, clinic)

        joined = self._join_options(options)
        if len(options) == len(self.option_ids):
            title, intro = self._t("table_title"), self._t("table_intro")
        elif len(options) == 1:
            title, intro = (
                self._t("single_title", options=joined),
                self._t("single_intro", options=joined),
            )
        else:
            title = self._t("pair_title", options=self._pair_title(options))
            intro = self._t("pair_intro", options=joined)

        files: List[str] = []
        blocks = []
        for o in options:
            lines = [self.option(o)["label"]]
            for d in dimensions:
                text, sources = self.cell(o, d)
                files += sources
                lines.append(f"• {self.dimension(d)['label']}: {text}")
            blocks.append("\n".join(lines))
        note = self.disclosure(clinic)
        footer = "\n".join(
            [note, self.not_advice(), self._sources_line(files), self._reviewed_line()]
        )
        text = "\n\n".join([intro] + blocks + [footer])
        payload = self._table_payload(title, intro, options, dimensions, note)
        return Reply(text, payload, self._after_table_buttons())

    def _topic(
        self, dimension_id: str, option_ids: Sequence[str], clinic: Optional[Mapping[str, Any]]
    ) -> Reply:
        label = self.dimension(dimension_id)["label"]
        files: List[str] = []
        lines = [self._t("topic_intro", topic=label)]
        for o in option_ids:
            text, sources = self.cell(o, dimension_id)
            files += sources
            lines.append(f"• {_cap(self.option(o)['short'])}: {text}")
        hint = (
            self._t("walkthrough_hint")
            if self.next_dimension(dimension_id) is not None
            else " ".join([self._t("last_topic"), self._t("walkthrough_hint")])
        )
        footer = "\n".join([self._sources_line(files), self._reviewed_line(), hint])
        text = "\n".join(lines) + "\n\n" + footer
        payload = self._table_payload(
            self._t("topic_title", topic=label),
            lines[0],
            option_ids,
            [dimension_id],
            self.disclosure(clinic),
        )
        return Reply(text, payload, self._topic_buttons(dimension_id))

    def _table_payload(
        self,
        title: str,
        intro: str,
        option_ids: Sequence[str],
        dimension_ids: Sequence[str],
        note: str,
    ) -> Dict[str, Any]:
        rows, cell_sources, files = [], [], []
        for d in dimension_ids:
            row, row_sources = [self.dimension(d)["label"]], [[]]
            for o in option_ids:
                text, sources = self.cell(o, d)
                row.append(text)
                row_sources.append(sources)
                files += sources
            rows.append(row)
            cell_sources.append(row_sources)
        return {
            "type": "comparison_table",
            "title": title,
            "intro": intro,
            "columns": [self.texts["topic_column"]] + [self.option(o)["label"] for o in option_ids],
            "column_ids": ["topic"] + list(option_ids),
            "rows": rows,
            "row_ids": list(dimension_ids),
            "cell_sources": cell_sources,
            "sources": self._sources(files),
            "reviewed": self.reviewed,
            "note": note,
        }

    def stop(self) -> Reply:
        buttons = [
            _button(self.button_titles["compare"], command(INTENT_COMPARE)),
            _button(self.button_titles["values"], command(INTENT_VALUES)),
            _button(self.button_titles["questions"], command(INTENT_QUESTIONS)),
        ]
        text = self._t("stop")
        return Reply(
            text,
            {
                "type": "menu",
                "title": self._t("stop_title"),
                "text": text,
                "choices": buttons,
                "reviewed": self.reviewed,
                "note": "",
            },
            buttons,
        )

    # ------------------------------------------------------------------
    # What matters most to you (values clarification)
    # ------------------------------------------------------------------
    def values_question(self) -> Reply:
        values = self.tools["values"]
        buttons = [
            _button(v["label"], command(INTENT_CHOOSE_VALUE, value=v["id"])) for v in self.values
        ]
        buttons.append(
            _button(self.button_titles["not_sure"], command(INTENT_CHOOSE_VALUE, value=ALL))
        )
        buttons.append(_button(self.button_titles["stop"], command(INTENT_STOP)))
        text = " ".join(values["question"].split())
        return Reply(
            text,
            {
                "type": "question",
                "title": values["title"],
                "text": text,
                "step": 1,
                "steps": 1,
                "choices": buttons,
            },
            buttons,
        )

    def values_view(
        self, value_ids: Sequence[str], clinic: Optional[Mapping[str, Any]] = None
    ) -> List[Reply]:
        """How each option stands on the chosen values, then the copyable summary."""
        chosen = self.valid(value_ids, self.value_ids)
        if not chosen:
            return [self.values_question()]
        values = self.tools["values"]
        intro = " ".join(values["intro"].split())
        files: List[str] = []
        blocks, rows, cell_sources = [], [], []
        for v in chosen:
            item = self._values[v]
            lines = [item["label"]]
            row, row_sources = [item["label"]], [[]]
            for o in self.option_ids:
                parts, sources = [], []
                for d in item["dimensions"]:
                    text, cell_files = self.cell(o, d)
                    parts.append(text)
                    sources += cell_files
                cell_text = " ".join(parts)
                files += sources
                lines.append(f"• {_cap(self.option(o)['short'])}: {cell_text}")
                row.append(cell_text)
                row_sources.append(sorted(set(sources)))
            blocks.append("\n".join(lines))
            rows.append(row)
            cell_sources.append(row_sources)
        note = self.disclosure(clinic)
        footer = "\n".join([note, self._sources_line(files), self._reviewed_line()])
        table_text = "\n\n".join([intro] + blocks + [footer])
        table_payload = {
            "type": "comparison_table",
            "title": values["title"],
            "intro": intro,
            "columns": [self.texts["values_column"]]
            + [self.option(o)["label"] for o in self.option_ids],
            "column_ids": ["value"] + list(self.option_ids),
            "rows": rows,
            "row_ids": list(chosen),
            "cell_sources": cell_sources,
            "sources": self._sources(files),
            "reviewed": self.reviewed,
            "note": note,
        }

        questions, q_files = [], []
        for v in chosen:
            for q in self._values[v]["questions"]:
                questions.append(q["text"])
                q_files += q["source"]
        for q in values["general_questions"]:
            questions.append(q["text"])
            q_files += q["source"]
        sections = [
            {
                "heading": values["summary_matters"],
                "items": [self._values[v]["label"] for v in chosen],
            },
            {"heading": values["summary_questions"], "items": questions},
        ]
        closing = " ".join(values["summary_closing"].split())
        summary = self._summary(
            values["summary_title"], values["summary_intro"], sections, closing, q_files
        )
        # Both replies carry buttons: Rasa's REST channel sends a text without
        # buttons as one message per paragraph, a text with buttons as one message.
        more = [
            _button(
                self._t("add_value", value=self._values[v]["label"]),
                command(INTENT_CHOOSE_VALUE, value=v),
            )
            for v in self.value_ids
            if v not in chosen
        ]
        if more:
            table_text += "\n\n" + " ".join(values["more"].split())
        more.append(self.balance_button())
        more.append(_button(self.button_titles["done"], command(INTENT_STOP)))
        after = [
            _button(self.button_titles["questions"], command(INTENT_QUESTIONS)),
            _button(self.button_titles["compare"], command(INTENT_COMPARE)),
            self.balance_button(),
            _button(self.button_titles["done"], command(INTENT_STOP)),
        ]
        return [Reply(table_text, table_payload, more), Reply(summary.text, summary.payload, after)]

    def _summary(
        self,
        title: str,
        intro: str,
        sections: List[Dict[str, Any]],
        closing: str,
        files: Iterable[str],
    ) -> Reply:
        intro = " ".join(intro.split())
        lines = [title, intro]
        for section in sections:
            lines.append("")
            if section["heading"] != title:
                lines.append(section["heading"])
            lines += [f"• {item}" for item in section["items"]]
        if closing:
            lines += ["", closing]
        payload = {
            "type": "summary",
            "title": title,
            "intro": intro,
            "sections": sections,
            "closing": closing,
            "copyable": True,
            "sources": self._sources(files),
            "reviewed": str(self.tools["reviewed"]),
        }
        return Reply("\n".join(lines), payload)

    # ------------------------------------------------------------------
    # Candidate checklist (self-reflection)
    # ------------------------------------------------------------------
    def checklist_question(self, slot: str) -> Reply:
        checklist = self.tools["checklist"]
        index = self.checklist_slots.index(slot)
        question = self.checklist_items[index]["question"]
        text = question
        if index == 0:
            text = " ".join(checklist["intro"].split()) + "\n\n" + question
        buttons = [
            _button(self.button_titles["yes"], command("affirm")),
            _button(self.button_titles["no"], command("deny")),
            _button(self.button_titles["not_sure"], command(INTENT_NOT_SURE)),
            _button(self.button_titles["stop"], command(INTENT_STOP)),
        ]
        payload = {
            "type": "question",
            "title": checklist["title"],
            "text": text,
            "step": index + 1,
            "steps": len(self.checklist_items),
            "choices": buttons,
        }
        return Reply(text, payload, buttons)

    def checklist_summary(self, answers: Mapping[str, Optional[str]]) -> Reply:
        checklist = self.tools["checklist"]
        items, files = [], list(checklist["source"])
        for item in self.checklist_items:
            answer = answers.get(item["slot"])
            if answer not in ANSWERS:
                answer = "not sure"
            items.append(f"{item['label']}: {item['notes'][answer]}")
            files += item["source"]
        files += checklist["red_flags_source"] + checklist["closing_source"]
        sections = [
            {"heading": checklist["answers_heading"], "items": items},
            {
                "heading": checklist["red_flags_heading"],
                "items": [" ".join(checklist["red_flags"].split())],
            },
        ]
        buttons = [
            _button(self.button_titles["questions"], command(INTENT_QUESTIONS)),
            _button(self.button_titles["compare"], command(INTENT_COMPARE)),
        ]
        reply = self._summary(
            checklist["summary_title"],
            checklist["summary_intro"],
            sections,
            " ".join(checklist["closing"].split()),
            files,
        )
        return Reply(reply.text, reply.payload, buttons)

    # ------------------------------------------------------------------
    # Troubleshooting
    # ------------------------------------------------------------------
    def troubleshooting(self, situation: Optional[str] = None) -> Reply:
        tool = self.tools["troubleshooting"]
        closing = fill(" ".join(tool["closing"].split()), _clinic(None))
        buttons = [
            _button(s["button"], command(INTENT_TROUBLESHOOT, situation=s["id"]))
            for s in self.situations
            if s["id"] != situation
        ]
        if situation != ALL:
            buttons.append(
                _button(self.texts["show_all"], command(INTENT_TROUBLESHOOT, situation=ALL))
            )
        if situation is not None:
            buttons.append(self.balance_button())
        buttons.append(_button(self.button_titles["done"], command(INTENT_STOP)))

        if situation is None:
            intro = " ".join(tool["intro"].split())
            text = "\n".join([intro] + [f"• {s['label']}" for s in self.situations])
            payload = {
                "type": "menu",
                "title": tool["title"],
                "text": text,
                "choices": buttons,
                "reviewed": str(self.tools["reviewed"]),
                "note": "",
            }
            return Reply(text, payload, buttons)

        chosen = self.situation_ids if situation == ALL else [situation]
        columns = tool["columns"]
        blocks, rows, cell_sources, files = [], [], [], list(tool["closing_source"])
        for s in chosen:
            item = self._situations[s]
            blocks.append(
                "\n".join(
                    [
                        f"{columns[0]}: {item['label']}",
                        f"• {columns[1]}: {item['means']}",
                        f"• {columns[2]}: {item['discuss']}",
                    ]
                )
            )
            rows.append([item["label"], item["means"], item["discuss"]])
            cell_sources.append([list(item["source"])] * 3)
            files += item["source"]
        text = "\n\n".join(blocks + [closing, self._sources_line(files)])
        payload = {
            "type": "comparison_table",
            "title": tool["title"],
            "intro": "",
            "columns": list(columns),
            "column_ids": ["situation", "meaning", "discuss"],
            "rows": rows,
            "row_ids": list(chosen),
            "cell_sources": cell_sources,
            "sources": self._sources(files),
            "reviewed": str(self.tools["reviewed"]),
            "note": closing,
        }
        return Reply(text, payload, buttons)

    # ------------------------------------------------------------------
    # Questions to ask a provider; guide for therapists
    # ------------------------------------------------------------------
    def questions(self) -> Reply:
        q = self.tools["questions"]
        items = [i["text"] for i in q["items"]]
        files = [f for i in q["items"] for f in i["source"]]
        reply = self._summary(
            q["title"], q["intro"], [{"heading": q["title"], "items": items}], "", files
        )
        buttons = [
            _button(self.button_titles["compare"], command(INTENT_COMPARE)),
            _button(self.button_titles["values"], command(INTENT_VALUES)),
            self.balance_button(),
        ]
        return Reply(reply.text, reply.payload, buttons)

    def therapist(self, part: str = "criteria") -> Reply:
        t = self.tools["therapist"]
        if part == "role":
            role = t["role"]
            sections = [{"heading": role["title"], "items": list(role["points"])}]
            files = list(role["source"]) + list(role["extra_source"])
            reply = self._summary(
                role["title"], role["intro"], sections, " ".join(role["extra"].split()), files
            )
            buttons = [_button(t["title"], command(INTENT_THERAPIST))]
            return Reply(reply.text, reply.payload, buttons)
        sections = [{"heading": c["label"], "items": list(c["points"])} for c in t["criteria"]]
        files = list(t["intro_source"]) + [f for c in t["criteria"] for f in c["source"]]
        files += t["urgent_source"] + t["referral_source"]
        closing = " ".join(
            [" ".join(t["referral_note"].split()), " ".join(t["urgent_note"].split())]
        )
        reply = self._summary(t["title"], t["intro"], sections, closing, files)
        buttons = [
            _button(t["role"]["title"], command(INTENT_THERAPIST_ROLE)),
            _button(self.button_titles["compare"], command(INTENT_COMPARE)),
            self.balance_button(),
        ]
        return Reply(reply.text, reply.payload, buttons)

    # ------------------------------------------------------------------
    # Everything, for tests and the staff console
    # ------------------------------------------------------------------
    def all_replies(
        self, clinic: Optional[Mapping[str, Any]] = None
    ) -> Iterator[Tuple[str, Reply]]:
        """Every kind of reply, together using every reviewed string (for review and tests).

        Each view of the table for every option subset; each value alone and all
        together; the checklist summary with all "yes", all "no" and all "not
        sure" (so every note appears); each troubleshooting situation.
        """
        yield "menu", self.menu(clinic)
        yield "about", self.about(clinic)
        yield "table", self.table(clinic=clinic)
        for n in (1, 2):
            for options in itertools.combinations(self.option_ids, n):
                yield f"table:{'+'.join(options)}", self.table(options, clinic=clinic)
        for d in self.dimension_ids:
            for n in (1, 2, 3):
                for options in itertools.combinations(self.option_ids, n):
                    yield f"topic:{d}:{'+'.join(options)}", self.table(options, [d], clinic)
        yield "stop", self.stop()
        yield "values_question", self.values_question()
        for values in [[v] for v in self.value_ids] + [self.value_ids]:
            for i, reply in enumerate(self.values_view(values, clinic)):
                yield f"values:{'+'.join(values)}:{i}", reply
        for slot in self.checklist_slots:
            yield f"checklist_question:{slot}", self.checklist_question(slot)
        for answer in ANSWERS:
            yield (
                f"checklist_summary:{answer}",
                self.checklist_summary({slot: answer for slot in self.checklist_slots}),
            )
        yield "troubleshooting", self.troubleshooting()
        for s in self.situation_ids + [ALL]:
            yield f"troubleshooting:{s}", self.troubleshooting(s)
        yield "questions", self.questions()
        yield "therapist", self.therapist()
        yield "therapist:role", self.therapist("role")


def _clinic(clinic: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    profile = dict(clinic_profile())
    profile.update({k: v for k, v in (clinic or {}).items() if v not in (None, "")})
    return profile


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@lru_cache(maxsize=4)
def load(content_dir: Path = CONTENT_DIR, language: str = "en") -> DecisionAid:
    """The decision aid in one language, read once per process.

    The Spanish files (content_dir/es/) mirror the English ones cell by cell
    (tests/test_content_review.py checks it). A Spanish message may still name
    an option or topic in English ("el copay de Spravato"), so the English
    aliases are matched too.
    """
    comparison = read_yaml(content_dir / "comparison.yml")
    tools = read_yaml(content_dir / "tools.yml")
    if language not in LANGUAGES or language == EN:
        return DecisionAid(comparison, tools)
    translated = read_yaml(content_dir / language / "comparison.yml")
    translated_tools = read_yaml(content_dir / language / "tools.yml")
    _add_aliases(translated, comparison, ("options", "dimensions", "questions"))
    translated["table_aliases"] = list(
        dict.fromkeys((translated.get("table_aliases") or []) + comparison["table_aliases"])
    )
    _add_aliases(translated_tools.get("values") or {}, tools.get("values") or {}, ("items",))
    _add_aliases(
        translated_tools.get("troubleshooting") or {},
        tools.get("troubleshooting") or {},
        ("situations",),
    )
    return DecisionAid(translated, translated_tools, language)


def _add_aliases(
    translated: Dict[str, Any], english: Mapping[str, Any], lists: Sequence[str]
) -> None:
    for name in lists:
        for mine, theirs in zip(translated.get(name) or [], english.get(name) or [], strict=True):
            for key in ("aliases", "contrast_aliases"):
                if theirs.get(key):
                    mine[key] = list(dict.fromkeys(list(mine.get(key) or []) + list(theirs[key])))
