"""Decision aid: the table's integrity, every reply's two forms, the actions.

- Table: every option x dimension has plain text and a seed source; review date
  and conflict-of-interest note present; upsides and cautions get equal care.
- Replies: every reply bot/decision_aid.py can build (all views, all value and
  checklist combinations) is non-empty plain text with no markup, passes the
  safety scanner, never steers a choice, and has a well-formed widget payload.
- Actions: run in-process through rasa_sdk's executor (no servers), and over
  REST against the real Rasa + action servers (marked ``server``; they use
  scripts/servers.py's model, which BOT_MODEL can point elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import textstat
import yaml

from bot import content as bot_content
from bot import decision_aid as da
from bot.safety.rules import violations

ROOT = Path(__file__).resolve().parent.parent
SEEDS = {
    "000_ba61a56dcce6168e.txt",
    "001_afcab3168b02a218.txt",
    "002_b3d1ab8cf04194ff.txt",
    "003_55c8d5fb2a2f38db.txt",
}
SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # shared/ sits beside the repo
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
AID = da.load()
REPLIES = list(AID.all_replies())

STEERING = re.compile(
    r"you should (choose|pick|get|go with|try)|best (option|choice|fit) for you|"
    r"\bi (recommend|suggest|would pick|would choose)\b|\bwe recommend\b|"
    r"\byou qualify|\bqualif(y|ies|ied)\b|\bright choice for you\b|"
    r"\bgo with (iv|spravato|compounded)",
    re.I,
)
MARKUP = re.compile(r"[*_#<>|`{}\[\]]|\]\(|https?://")
PRICE = re.compile(r"\$\s?\d|\b\d+\s?(dollars|usd)\b", re.I)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def domain_intents() -> set:
    names = set()
    for item in DOMAIN["intents"]:
        names.add(next(iter(item)) if isinstance(item, dict) else item)
    return names


# ======================================================================
# The table
# ======================================================================
def test_table_has_three_options_and_every_dimension():
    assert AID.option_ids == ["iv", "spravato", "compounded"]
    must = {
        "what_it_is",
        "fda_status",
        "insurance",
        "cost",
        "setting",
        "monitoring",
        "speed",
        "course",
        "best_for",
        "upsides",
        "cautions",
    }
    assert must <= set(AID.dimension_ids)
    for option in AID.options:
        assert set(option["cells"]) == set(AID.dimension_ids), option["id"]


@pytest.mark.parametrize("option", ["iv", "spravato", "compounded"])
def test_every_cell_has_text_and_a_seed_source(option):
    for dimension in AID.dimension_ids:
        text, sources = AID.cell(option, dimension)
        assert text.strip(), (option, dimension)
        assert sources, f"{option}/{dimension} has no source"
        assert set(sources) <= SEEDS, (option, dimension, sources)


def test_seed_list_matches_the_seed_pages():
    assert set(AID.seeds) == SEEDS
    for meta in AID.seeds.values():
        assert meta["title"] and meta["short"]
    if SEED_DIR.is_dir():
        assert SEEDS <= {p.name for p in SEED_DIR.iterdir()}


def test_reviewed_dates_and_disclosure():
    comparison = yaml.safe_load(da.COMPARISON_FILE.read_text(encoding="utf-8"))
    tools = yaml.safe_load(da.TOOLS_FILE.read_text(encoding="utf-8"))
    assert ISO_DATE.match(str(comparison["reviewed"]))
    assert ISO_DATE.match(str(tools["reviewed"]))
    note = AID.disclosure()
    assert bot_content.clinic_profile()["clinic_name"] in note
    assert "offers" in note and "itself" in note


def test_every_tool_fact_has_a_seed_source():
    tools = AID.tools
    groups = [
        tools["checklist"]["items"],
        tools["troubleshooting"]["situations"],
        tools["questions"]["items"],
        tools["therapist"]["criteria"],
        tools["values"]["general_questions"],
    ]
    groups += [v["questions"] for v in tools["values"]["items"]]
    for group in groups:
        for item in group:
            assert item["source"] and set(item["source"]) <= SEEDS, item
    for key in ("intro_source", "urgent_source", "referral_source"):
        assert set(tools["therapist"][key]) <= SEEDS and tools["therapist"][key]
    assert set(tools["therapist"]["role"]["source"]) <= SEEDS


def test_upsides_and_cautions_get_equal_care():
    """IPDAS: benefits and harms for every option, written with similar detail."""
    for option in AID.option_ids:
        upsides, _ = AID.cell(option, "upsides")
        cautions, _ = AID.cell(option, "cautions")
        up_sentences = len(re.findall(r"[.!?]", upsides))
        down_sentences = len(re.findall(r"[.!?]", cautions))
        assert up_sentences >= 2 and down_sentences >= 2, option
        assert 0.4 <= len(upsides) / len(cautions) <= 2.5, option


def test_facts_the_issue_asks_for():
    assert "REMS" in AID.cell("spravato", "setting")[0]
    assert "2 hours" in AID.cell("spravato", "monitoring")[0]
    fda = AID.cell("spravato", "fda_status")[0]
    assert "treatment-resistant" in fda and "suicidal" in fda
    assert "Medicare" in AID.cell("spravato", "insurance")[0]
    assert "off-label" in AID.cell("iv", "fda_status")[0]
    assert "Workers' comp" in AID.cell("iv", "insurance")[0]
    assert "heart monitor" in AID.cell("iv", "monitoring")[0]
    assert "six infusions" in AID.cell("iv", "course")[0]
    assert "hours" in AID.cell("iv", "speed")[0]
    assert "least oversight" in AID.cell("compounded", "monitoring")[0]
    assert "Not FDA-approved" in AID.cell("compounded", "fda_status")[0]
    # The pages give no onset or course data for these: no invented numbers.
    for option in ("spravato", "compounded"):
        for dimension in ("speed", "course"):
            text = AID.cell(option, dimension)[0]
            assert "pages we use don't" in text and "Ask your clinician" in text
            assert not re.search(r"\d", text)


def test_no_prices_or_doses_anywhere_in_the_content():
    for path in (da.COMPARISON_FILE, da.TOOLS_FILE):
        text = path.read_text(encoding="utf-8")
        assert not PRICE.search(text), path
        assert violations(text) == [], path


def test_aliases_point_to_one_thing_only():
    for kind in ("options", "dimensions"):
        seen: Dict[str, str] = {}
        for item in AID.comparison[kind]:
            for alias in item["aliases"] + item.get("contrast_aliases", []):
                assert alias == alias.lower(), alias
                assert seen.setdefault(alias, item["id"]) == item["id"], (kind, alias)


def test_cells_are_plain_language():
    grades = {
        f"{o}/{d}": textstat.flesch_kincaid_grade(AID.cell(o, d)[0])
        for o in AID.option_ids
        for d in AID.dimension_ids
    }
    median = statistics.median(grades.values())
    assert median <= 8, (median, sorted(grades.items(), key=lambda kv: -kv[1])[:5])
    assert {k: g for k, g in grades.items() if g > 11} == {}


# ======================================================================
# Reading free text
# ======================================================================
@pytest.mark.parametrize(
    "text, expected",
    [
        ("compare my options", []),
        ("spravato vs IV", ["iv", "spravato"]),
        ("what's the difference between esketamine and ketamine", ["iv", "spravato"]),
        ("compare IV and compounded", ["iv", "compounded"]),
        ("compounded ketamine or spravato?", ["spravato", "compounded"]),
        ("nasal ketamine vs lozenges", ["spravato", "compounded"]),
        ("and compounded?", ["compounded"]),
        ("compare the ketamine options", []),
        ("infusion vs troches vs the nasal spray", ["iv", "spravato", "compounded"]),
        ("is it covered by insurance", []),
    ],
)
def test_find_options(text, expected):
    assert AID.find_options(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("what about insurance?", ["insurance"]),
        ("which is FDA approved?", ["fda_status"]),
        ("how much does it cost", ["cost"]),
        ("which works fastest", ["speed"]),
        ("how many sessions does each take", ["course"]),
        ("which has the most oversight", ["monitoring"]),
        ("compare my options", []),
    ],
)
def test_find_dimensions(text, expected):
    assert AID.find_dimensions(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cost and speed", ["cost_insurance", "speed"]),
        ("I care about FDA approval and close monitoring", ["fda", "monitoring"]),
        ("convenience", ["convenience"]),
        ("not sure", ["cost_insurance", "speed", "fda", "monitoring", "convenience"]),
        ("what matters most to me", []),
    ],
)
def test_find_values(text, expected):
    assert AID.find_values(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("and compounded?", True),
        ("what about spravato", True),
        ("Spravato?", True),
        ("the lozenges", True),
        ("how long does an infusion take?", False),
        ("is spravato safe for teenagers", False),
    ],
)
def test_short_follow_ups_are_told_apart_from_faq_questions(text, expected):
    from actions.decision_aid import is_elliptical

    assert is_elliptical(text) is expected


def test_walkthrough_order():
    order = []
    current = None
    while True:
        current = AID.next_dimension(current)
        if current is None:
            break
        order.append(current)
    assert order == AID.dimension_ids


# ======================================================================
# Every reply: plain text + payload
# ======================================================================
@pytest.mark.parametrize("name, reply", REPLIES, ids=[n for n, _ in REPLIES])
def test_every_reply_is_plain_safe_and_neutral(name, reply):
    text = reply.text
    assert text.strip(), name
    assert not MARKUP.search(text), (name, MARKUP.search(text).group(0))
    assert violations(text) == [], (name, violations(text))
    assert not STEERING.search(text), (name, STEERING.search(text).group(0))
    assert not PRICE.search(text), name
    json.dumps(reply.payload)  # serialisable for the custom message
    for button in reply.buttons:
        assert button["title"].strip()
        assert not STEERING.search(button["title"])


@pytest.mark.parametrize("name, reply", REPLIES, ids=[n for n, _ in REPLIES])
def test_every_payload_follows_the_schema(name, reply):
    payload = reply.payload
    assert payload["type"] in {"comparison_table", "summary", "question", "menu", "about"}, name
    assert payload["title"].strip()
    if payload["type"] == "comparison_table":
        width = len(payload["columns"])
        assert len(payload["column_ids"]) == width
        assert len(payload["rows"]) == len(payload["row_ids"]) == len(payload["cell_sources"]) >= 1
        for row, sources in zip(payload["rows"], payload["cell_sources"], strict=True):
            assert len(row) == len(sources) == width
            assert all(cell.strip() for cell in row)
            assert all(set(s) <= SEEDS and s for s in sources[1:])
            for cell in row[1:]:
                assert cell in text_without_bullets(reply.text), (name, cell)
        assert payload["sources"] and {s["file"] for s in payload["sources"]} <= SEEDS
        assert ISO_DATE.match(payload["reviewed"])
        assert "note" in payload
    elif payload["type"] == "summary":
        assert payload["copyable"] is True
        assert payload["sections"] and all(s["items"] for s in payload["sections"])
        for section in payload["sections"]:
            for item in section["items"]:
                assert item in reply.text, (name, item)
        assert {s["file"] for s in payload["sources"]} <= SEEDS and payload["sources"]
        assert ISO_DATE.match(payload["reviewed"])
    else:
        assert payload["text"] == reply.text
        assert payload["choices"] == reply.buttons


def text_without_bullets(text: str) -> str:
    return text.replace("• ", "")


@pytest.mark.parametrize("name, reply", REPLIES, ids=[n for n, _ in REPLIES])
def test_every_reply_is_one_message(name, reply):
    """Rasa's REST channel splits a text WITHOUT buttons at blank lines."""
    assert reply.buttons or "\n\n" not in reply.text, name


def test_comparison_payloads_carry_the_disclosure():
    for name, reply in REPLIES:
        if (
            name.startswith(("table", "topic:", "values:"))
            and reply.payload["type"] == "comparison_table"
        ):
            assert "offers" in reply.payload["note"], name
    assert "offers" in AID.table().text and "offers" in AID.about().text


def test_the_menu_keeps_its_buttons_on_a_phone_screen_and_the_disclosure_one_tap_away():
    menu = AID.menu()
    # About 400 characters is ten lines on a 360-pixel screen, above the buttons.
    assert len(menu.text) < 420, len(menu.text)
    assert AID.not_advice() in menu.text
    about = next(b for b in menu.buttons if b["title"] == AID.button_titles["about"])
    assert about["payload"] == "/" + da.INTENT_ABOUT
    assert AID.disclosure() in AID.about().text


def test_about_keeps_the_view_on_screen():
    result = run_action(
        "action_da_compare",
        _tracker(
            "/da_about",
            "da_about",
            slots={"da_context": "compare", "da_view": "insurance", "da_options": ["iv"]},
        ),
    )
    assert payloads(result)[0]["type"] == "about"
    assert slots_set(result)["da_view"] == "insurance"
    assert slots_set(result)["da_options"] == ["iv"]


@pytest.mark.parametrize("name, reply", REPLIES, ids=[n for n, _ in REPLIES])
def test_every_button_is_a_known_intent(name, reply):
    intents = domain_intents()
    entities = set(DOMAIN["entities"])
    for button in reply.buttons:
        match = re.match(r"^/(\w+)(\{.*\})?$", button["payload"])
        assert match, button
        assert match.group(1) in intents, button
        assert match.group(1) not in {"faq", "advice"}
        if match.group(2):
            values = json.loads(match.group(2))
            assert set(values) <= entities, button


def test_checklist_never_says_you_qualify_and_ends_with_clinician():
    for name, reply in REPLIES:
        if name.startswith("checklist_summary"):
            assert "Bring this to a clinician" in reply.text
            assert "988" in reply.text
            assert not re.search(r"qualif|eligible|good candidate", reply.text, re.I)


def test_values_summary_is_copyable_and_has_questions():
    table, summary = AID.values_view(["cost_insurance", "speed"])
    assert table.payload["row_ids"] == ["cost_insurance", "speed"]
    assert summary.payload["copyable"]
    assert "What matters most to me" in summary.text
    assert "Questions to bring to my clinician" in summary.text
    assert "Cost and insurance" in summary.text and "Speed of relief" in summary.text


def test_troubleshooting_is_things_to_discuss():
    for situation in AID.situation_ids:
        reply = AID.troubleshooting(situation)
        assert "discuss with your clinician" in reply.text


def test_therapist_guide_covers_criteria_and_role():
    text = AID.therapist().text
    for label in (
        "Treatment resistance",
        "Urgent symptoms",
        "daily life",
        "other forms of ketamine",
        "Medical readiness",
        "988",
    ):
        assert label in text
    role = AID.therapist("role").text
    assert "psychotherapy" in role and "anesthesiologist" in role


# ======================================================================
# Domain and data wiring
# ======================================================================
def test_forms_ignore_crisis():
    for form in ("values_form", "checklist_form"):
        assert "crisis" in DOMAIN["forms"][form]["ignored_intents"]


def test_every_decision_aid_intent_has_at_least_12_examples():
    nlu = yaml.safe_load((ROOT / "data" / "nlu" / "decision_aid.yml").read_text(encoding="utf-8"))
    for item in nlu["nlu"]:
        examples = [line for line in item["examples"].splitlines() if line.strip().startswith("- ")]
        assert len(examples) >= 12, item["intent"]
        assert item["intent"] in domain_intents()


def test_responses_the_actions_name_exist():
    from actions import decision_aid as actions

    names = {a.name for a in bot_content.answers()}
    assert actions.FALLBACK_RESPONSE in names
    assert {"utter_da_not_sure", "utter_da_not_understood"} <= names


def test_checklist_slots_match_the_content():
    assert DOMAIN["forms"]["checklist_form"]["required_slots"] == AID.checklist_slots


# ======================================================================
# The actions, in-process (rasa_sdk executor)
# ======================================================================
def _domain_for_sdk() -> Dict[str, Any]:
    domain = dict(DOMAIN)
    domain["intents"] = sorted(domain_intents())
    return domain


def _tracker(
    text: str = "",
    intent: Optional[str] = None,
    entities: Optional[List[dict]] = None,
    slots: Optional[Dict[str, Any]] = None,
    faq: Optional[str] = None,
    active_loop: Optional[str] = None,
    latest_action: str = "action_listen",
    events: Optional[List[dict]] = None,
) -> Dict[str, Any]:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
    }
    if faq:
        latest["response_selector"] = {
            "faq": {
                "response": {
                    "intent_response_key": f"faq/{faq}",
                    "utter_action": f"utter_faq/{faq}",
                }
            }
        }
    all_slots = dict(bot_content.clinic_profile())
    all_slots.update(slots or {})
    if events is None:
        events = [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": latest},
        ]
    return {
        "sender_id": "test",
        "slots": all_slots,
        "latest_message": latest,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": latest_action,
    }


def run_action(name: str, tracker: Dict[str, Any]) -> Dict[str, Any]:
    import rasa_sdk
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    call = {
        "next_action": name,
        "sender_id": "test",
        "tracker": tracker,
        "domain": _domain_for_sdk(),
        "version": rasa_sdk.__version__,
    }
    result = asyncio.run(executor.run(call))
    for message in result["responses"]:
        if message.get("response"):
            continue
        assert message.get("text"), message
        if not tracker["latest_message"].get("metadata") and not any(
            e.get("input_channel") == "cmdline" for e in tracker["events"]
        ):
            assert message.get("custom", {}).get("type"), "every reply carries a widget payload"
        assert violations(message["text"]) == []
        assert not STEERING.search(message["text"])
    return result


def slots_set(result: Dict[str, Any]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}


def payloads(result: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [m["custom"] for m in result["responses"] if m.get("custom")]


def test_action_compare_menu_from_free_text():
    result = run_action("action_da_compare", _tracker("compare my options", "compare_options"))
    assert payloads(result)[0]["type"] == "menu"
    assert slots_set(result)["da_context"] == "compare"
    assert slots_set(result)["da_view"] == "menu"
    titles = [b["title"] for b in result["responses"][0]["buttons"]]
    assert "See the whole table" in titles and "One topic at a time" in titles


def test_action_compare_two_options_from_free_text():
    result = run_action("action_da_compare", _tracker("spravato vs IV", "compare_options"))
    table = payloads(result)[0]
    assert table["column_ids"] == ["topic", "iv", "spravato"]
    assert table["row_ids"] == AID.dimension_ids
    assert slots_set(result)["da_options"] == ["iv", "spravato"]


def test_action_compare_two_options_from_a_button():
    result = run_action(
        "action_da_compare",
        _tracker(
            '/compare_options{"option":["spravato","compounded"]}',
            "compare_options",
            entities=[
                {"entity": "option", "value": "spravato"},
                {"entity": "option", "value": "compounded"},
            ],
        ),
    )
    assert payloads(result)[0]["column_ids"] == ["topic", "spravato", "compounded"]


def test_action_one_topic_at_a_time_starts_with_the_first_topic():
    result = run_action(
        "action_da_compare",
        _tracker(
            "one topic at a time",
            "compare_dimension",
            slots={"da_context": "compare", "da_view": "menu"},
        ),
    )
    assert payloads(result)[0]["row_ids"] == [AID.dimension_ids[0]]


def test_action_show_all_in_troubleshooting_shows_all_situations():
    result = run_action(
        "action_da_compare",
        _tracker("show all", "show_full_table", slots={"da_context": "troubleshoot"}),
    )
    assert payloads(result)[0]["row_ids"] == AID.situation_ids


def test_action_whole_table():
    result = run_action("action_da_compare", _tracker("/show_full_table", "show_full_table"))
    table = payloads(result)[0]
    assert table["column_ids"] == ["topic", "iv", "spravato", "compounded"]
    assert len(table["rows"]) == len(AID.dimension_ids)


@pytest.mark.parametrize("dimension", list(da.WALKTHROUGH_BUTTONS))
def test_action_one_dimension_with_buttons(dimension):
    result = run_action(
        "action_da_compare",
        _tracker(
            f'/compare_dimension{{"dimension":"{dimension}"}}',
            "compare_dimension",
            entities=[{"entity": "dimension", "value": dimension}],
        ),
    )
    table = payloads(result)[0]
    assert table["row_ids"] == [dimension]
    titles = [b["title"] for b in result["responses"][0]["buttons"]]
    assert "Done" in titles and AID.dimension(dimension)["button"] not in titles
    assert slots_set(result)["da_view"] == dimension


def test_action_next_walks_the_topics_and_ends_with_the_table():
    context = {"da_context": "compare", "da_options": ["iv", "spravato", "compounded"]}
    view = "cost"
    result = run_action(
        "action_da_compare", _tracker("next", "da_next", slots={**context, "da_view": view})
    )
    assert payloads(result)[0]["row_ids"] == [AID.next_dimension("cost")]
    last = AID.dimension_ids[-1]
    result = run_action(
        "action_da_compare", _tracker("next", "da_next", slots={**context, "da_view": last})
    )
    assert payloads(result)[0]["row_ids"] == AID.dimension_ids


def test_action_followups_keep_the_context():
    context = {"da_context": "compare", "da_options": ["iv", "spravato"], "da_view": "table"}
    result = run_action(
        "action_da_followup",
        _tracker("what about insurance?", "faq", slots=context, faq="insurance"),
    )
    table = payloads(result)[0]
    assert table["row_ids"] == ["insurance"] and table["column_ids"] == ["topic", "iv", "spravato"]

    context["da_view"] = "insurance"
    result = run_action(
        "action_da_followup",
        _tracker("and compounded?", "faq", slots=context, faq="what_is_compounded"),
    )
    table = payloads(result)[0]
    assert table["row_ids"] == ["insurance"]
    assert table["column_ids"] == ["topic", "iv", "spravato", "compounded"]

    result = run_action(
        "action_da_compare", _tracker("which is FDA approved?", "compare_dimension", slots=context)
    )
    assert payloads(result)[0]["row_ids"] == ["fda_status"]
    assert payloads(result)[0]["column_ids"] == ["topic", "iv", "spravato"]


@pytest.mark.parametrize(
    "text, rows",
    [
        ("which is safest?", ["fda_status", "monitoring", "cautions"]),
        ("which is more legit and which is sketchy?", ["fda_status", "monitoring", "cautions"]),
        ("what's the catch with each one?", ["cautions"]),
        ("which one gives the best results?", ["speed", "best_for"]),
        ("which feels less bad?", ["what_it_is", "cautions"]),
        ("which is cheapest", ["cost"]),
    ],
)
def test_comparison_questions_no_row_names_get_the_rows_that_bear_on_them(text, rows):
    result = run_action("action_da_compare", _tracker(text, "compare_dimension"))
    table = payloads(result)[0]
    assert table["row_ids"] == rows, text
    assert table["column_ids"] == ["topic", "iv", "spravato", "compounded"]


def test_time_each_option_takes_is_about_time_not_cost():
    result = run_action(
        "action_da_compare", _tracker("How much time does each one take?", "compare_dimension")
    )
    assert payloads(result)[0]["row_ids"] == ["what_it_is", "monitoring", "course"]


def test_a_question_read_as_show_the_table_gets_the_rows_that_answer_it():
    result = run_action("action_da_compare", _tracker("Which one is safest?", "show_full_table"))
    assert payloads(result)[0]["row_ids"] == ["fda_status", "monitoring", "cautions"]
    result = run_action("action_da_compare", _tracker("show me the whole table", "show_full_table"))
    assert len(payloads(result)[0]["row_ids"]) == len(AID.dimension_ids)


@pytest.mark.parametrize(
    "text, language",
    [("summarize please", "en"), ("can you make it simpler?", "en"), ("resúmelo", "es")],
)
def test_summarize_inside_the_comparison_gives_one_line_per_option(text, language):
    context = {
        "da_context": "compare",
        "da_options": ["iv", "spravato"],
        "da_view": "table",
        "language": language,
    }
    result = run_action("action_da_followup", _tracker(text, "nlu_fallback", slots=context))
    table = payloads(result)[0]
    assert table["row_ids"] == ["what_it_is", "best_for"]
    assert table["column_ids"] == ["topic", "iv", "spravato"]


def test_a_comparison_question_about_an_aspect_no_one_names_gets_the_table_not_one_row():
    result = run_action(
        "action_da_compare", _tracker("how do they differ for me?", "compare_dimension")
    )
    assert payloads(result)[0]["type"] == "comparison_table"
    assert len(payloads(result)[0]["row_ids"]) == len(AID.dimension_ids)


def test_which_is_strongest_gets_the_absorption_answer_and_keeps_the_comparison():
    result = run_action("action_da_compare", _tracker("which is strongest?", "compare_dimension"))
    assert result["responses"][0]["response"] == "utter_faq/bioavailability"
    assert slots_set(result)["da_context"] == "compare"
    context = {"da_context": "compare", "da_options": ["iv", "spravato"], "da_view": "cost"}
    result = run_action(
        "action_da_followup",
        _tracker("which one gets absorbed better?", "faq", slots=context, faq="why_iv"),
    )
    assert result["responses"][0]["response"] == "utter_faq/bioavailability"


@pytest.mark.parametrize("text", ["compare all three", "can you show them side by side"])
def test_asking_for_all_three_gets_the_whole_table_not_the_menu(text):
    result = run_action("action_da_compare", _tracker(text, "compare_options"))
    assert payloads(result)[0]["type"] == "comparison_table"
    assert payloads(result)[0]["column_ids"] == ["topic", "iv", "spravato", "compounded"]


def test_compare_them_read_as_a_topic_request_gets_the_whole_table_not_the_first_row():
    result = run_action("action_da_compare", _tracker("compare them for me", "compare_dimension"))
    assert payloads(result)[0]["type"] == "comparison_table"
    assert len(payloads(result)[0]["row_ids"]) > 1


def test_spanish_comparison_questions_and_accents_optional():
    spanish = da.load(language="es")
    assert spanish.find_dimensions("¿cuál es la más segura?") == spanish.find_dimensions(
        "cual es la mas segura"
    )
    assert spanish.find_dimensions("cual es la mas segura") == [
        "fda_status",
        "monitoring",
        "cautions",
    ]
    assert spanish.question_faq("¿cuál es más fuerte?") == "bioavailability"
    assert spanish.wants_whole_table("compara las tres")


def test_action_faq_mid_walkthrough_gets_the_faq_answer_and_leaves():
    context = {
        "da_context": "compare",
        "da_options": ["iv", "spravato", "compounded"],
        "da_view": "cost",
    }
    result = run_action(
        "action_da_followup",
        _tracker(
            "how long does an infusion session last?", "faq", slots=context, faq="session_length"
        ),
    )
    assert result["responses"][0]["response"] == "utter_faq/session_length"
    assert payloads(result) == []
    assert slots_set(result) == {"da_context": None}


def test_action_unclear_followup_stays_in_the_comparison():
    context = {"da_context": "compare", "da_options": ["iv", "spravato"], "da_view": "table"}
    result = run_action(
        "action_da_followup", _tracker("and compounded?", "nlu_fallback", slots=context)
    )
    assert payloads(result)[0]["column_ids"] == ["topic", "iv", "spravato", "compounded"]
    result = run_action("action_da_followup", _tracker("blorp", "nlu_fallback", slots=context))
    assert result["responses"][0]["response"] == "utter_fallback"
    assert slots_set(result) == {}


def test_action_troubleshooting_followup():
    result = run_action("action_troubleshoot", _tracker("help me troubleshoot", "troubleshoot"))
    assert payloads(result)[0]["type"] == "menu"
    assert slots_set(result)["da_context"] == "troubleshoot"
    result = run_action(
        "action_da_followup",
        _tracker(
            "i had six infusions and feel no different",
            "faq",
            slots={"da_context": "troubleshoot"},
            faq="not_working",
        ),
    )
    assert payloads(result)[0]["row_ids"] == ["no_change"]
    result = run_action(
        "action_troubleshoot",
        _tracker(
            '/troubleshoot{"situation":"fades"}',
            "troubleshoot",
            entities=[{"entity": "situation", "value": "fades"}],
        ),
    )
    assert payloads(result)[0]["row_ids"] == ["fades"]


def test_starting_a_tool_ends_an_open_form():
    result = run_action(
        "action_da_compare",
        _tracker(
            "spravato vs IV",
            "compare_options",
            active_loop="checklist_form",
            slots={"requested_slot": "cl_history"},
        ),
    )
    kinds = [e["event"] for e in result["events"]]
    assert "active_loop" in kinds
    assert slots_set(result)["requested_slot"] is None


def _form_events(text: str, parse: Dict[str, Any], before: str = "action_listen") -> List[dict]:
    events = [{"event": "action", "name": "values_form"}, {"event": "action", "name": before}]
    if before == "action_listen":
        events.append({"event": "user", "text": text, "parse_data": parse})
    else:  # e.g. utter_faq answered an FAQ question asked inside the form
        events = [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": parse},
            {"event": "action", "name": before},
        ]
    return events + [
        {"event": "slot", "name": "requested_slot", "value": "da_values"},
        {"event": "action", "name": "values_form"},
    ]


def _values_tracker(
    text: str, intent: str, before: str = "action_listen", entities: Optional[List[dict]] = None
) -> Dict[str, Any]:
    tracker = _tracker(
        text,
        intent,
        entities=entities,
        active_loop="values_form",
        slots={"requested_slot": "da_values"},
        latest_action="values_form",
    )
    tracker["events"] = _form_events(text, tracker["latest_message"], before)
    return tracker


def test_values_form_reads_free_text_and_buttons():
    result = run_action("validate_values_form", _values_tracker("cost and speed", "choose_value"))
    assert slots_set(result)["da_values"] == ["cost_insurance", "speed"]
    result = run_action(
        "validate_values_form",
        _values_tracker(
            '/choose_value{"value":"fda"}',
            "choose_value",
            entities=[{"entity": "value", "value": "fda"}],
        ),
    )
    assert slots_set(result)["da_values"] == ["fda"]
    result = run_action("validate_values_form", _values_tracker("not sure", "not_sure"))
    assert slots_set(result)["da_values"] == AID.value_ids


def test_values_form_leaves_faq_questions_to_the_faq():
    result = run_action(
        "validate_values_form", _values_tracker("does insurance cover ketamine?", "faq")
    )
    assert "da_values" not in slots_set(result)
    # Asked again after the FAQ answer: the old question is not read as an answer.
    result = run_action("validate_values_form", _values_tracker("cost", "faq", before="utter_faq"))
    assert "da_values" not in slots_set(result)


def test_values_summary_after_the_form_and_when_adding():
    result = run_action(
        "action_values_summary",
        _tracker(
            "cost and speed",
            "choose_value",
            latest_action="values_form",
            slots={"da_values": ["cost_insurance", "speed"]},
        ),
    )
    table, summary = payloads(result)
    assert table["row_ids"] == ["cost_insurance", "speed"]
    assert summary["type"] == "summary" and summary["copyable"]
    assert slots_set(result)["da_values_shown"] == ["cost_insurance", "speed"]
    assert slots_set(result)["da_values"] is None

    result = run_action(
        "action_values_summary",
        _tracker(
            '/choose_value{"value":"monitoring"}',
            "choose_value",
            entities=[{"entity": "value", "value": "monitoring"}],
            slots={"da_values_shown": ["cost_insurance", "speed"]},
        ),
    )
    assert payloads(result)[0]["row_ids"] == ["cost_insurance", "speed", "monitoring"]


def test_values_question_and_checklist_questions():
    result = run_action(
        "action_ask_da_values",
        _tracker("what matters most", "values_clarification", slots={"da_context": "compare"}),
    )
    assert payloads(result)[0]["type"] == "question"
    assert slots_set(result) == {"da_context": None}
    for step, slot in enumerate(AID.checklist_slots, start=1):
        result = run_action(f"action_ask_{slot}", _tracker("yes", "affirm"))
        question = payloads(result)[0]
        assert question["step"] == step and question["steps"] == len(AID.checklist_slots)
        assert [b["payload"] for b in result["responses"][0]["buttons"]][:3] == [
            "/affirm",
            "/deny",
            "/not_sure",
        ]


def test_checklist_summary_clears_the_answers():
    answers = dict(zip(AID.checklist_slots, ["yes", "no", "not sure", "yes", "no"], strict=True))
    result = run_action(
        "action_checklist_summary",
        _tracker("no", "deny", slots=answers, latest_action="checklist_form"),
    )
    text = result["responses"][0]["text"]
    assert "Bring this to a clinician" in text and "qualif" not in text.lower()
    assert slots_set(result) == {slot: None for slot in AID.checklist_slots}


def test_questions_and_therapist_actions():
    result = run_action(
        "action_questions_to_ask", _tracker("questions to ask the clinic", "questions_to_ask")
    )
    assert payloads(result)[0]["copyable"]
    result = run_action(
        "action_therapist_referral", _tracker("for therapists", "therapist_referral")
    )
    assert "Medical readiness" in result["responses"][0]["text"]
    result = run_action("action_therapist_referral", _tracker("therapist role", "therapist_role"))
    assert "psychotherapy" in result["responses"][0]["text"]


def test_text_only_channels_get_no_payload():
    tracker = _tracker("spravato vs IV", "compare_options")
    tracker["events"][-1]["input_channel"] = "cmdline"
    result = run_action("action_da_compare", tracker)
    assert payloads(result) == [] and "Spravato" in result["responses"][0]["text"]
    tracker = _tracker("spravato vs IV", "compare_options")
    tracker["latest_message"]["metadata"] = {"text_only": True}
    assert payloads(run_action("action_da_compare", tracker)) == []


def test_stop_clears_the_context():
    result = run_action(
        "action_da_stop", _tracker("done", "da_stop", slots={"da_context": "compare"})
    )
    assert slots_set(result)["da_context"] is None
    assert payloads(result)[0]["type"] == "menu"


# ======================================================================
# End to end over REST (real Rasa + action servers)
# ======================================================================
def _custom(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [r["custom"] for r in replies if isinstance(r.get("custom"), dict)]


def _tables(replies):
    return [c for c in _custom(replies) if c.get("type") == "comparison_table"]


def _check_texts(replies):
    for reply in replies:
        if reply.get("text"):
            assert violations(reply["text"]) == []
            assert not STEERING.search(reply["text"])


@pytest.mark.server
def test_rest_walkthrough_with_followups(rasa_server):
    from tests.conftest import new_sender

    sender = new_sender()
    replies = rasa_server.say(sender, "compare my options")
    assert any(c["type"] == "menu" for c in _custom(replies))
    replies = rasa_server.say(sender, "spravato vs IV")
    assert _tables(replies)[0]["column_ids"] == ["topic", "iv", "spravato"]
    replies = rasa_server.say(sender, "what about insurance?")
    table = _tables(replies)[0]
    assert table["row_ids"] == ["insurance"] and table["column_ids"] == ["topic", "iv", "spravato"]
    replies = rasa_server.say(sender, "and compounded?")
    assert "compounded" in _tables(replies)[0]["column_ids"]
    replies = rasa_server.say(sender, "which is FDA approved?")
    assert _tables(replies)[0]["row_ids"] == ["fda_status"]
    replies = rasa_server.say(sender, '/compare_dimension{"dimension":"cost"}')
    assert _tables(replies)[0]["row_ids"] == ["cost"]
    replies = rasa_server.say(sender, "/da_next")
    assert _tables(replies)[0]["row_ids"] == [AID.next_dimension("cost")]
    _check_texts(replies)
    # An FAQ question mid-walkthrough gets its FAQ answer (no table).
    replies = rasa_server.say(sender, "can I drive home after an infusion?")
    assert not _tables(replies)
    faq_texts = {a.text for a in bot_content.answers() if a.name.startswith("utter_faq/")}
    assert any(r.get("text") in faq_texts for r in replies), replies


@pytest.mark.server
@pytest.mark.parametrize(
    "follow_up, row",
    [
        ("cheaper?", "cost"),  # read as off-topic by the classifier
        ("and the good parts?", "upsides"),
        ("who monitors you with each", "monitoring"),
    ],
)
def test_rest_short_follow_ups_inside_the_comparison_get_their_row(rasa_server, follow_up, row):
    from tests.conftest import new_sender

    sender = new_sender()
    rasa_server.say(sender, "compare my options")
    replies = rasa_server.say(sender, follow_up)
    assert row in _tables(replies)[0]["row_ids"], replies


@pytest.mark.server
def test_rest_start_over_inside_the_comparison_shows_its_menu(rasa_server):
    from tests.conftest import new_sender

    sender = new_sender()
    rasa_server.say(sender, "compare my options")
    rasa_server.say(sender, "what about cost?")
    replies = rasa_server.say(sender, "start over")
    assert any(c["type"] == "menu" for c in _custom(replies)) and not _tables(replies), replies


@pytest.mark.server
def test_rest_a_topic_asked_of_each_option_gets_the_row_for_all_three(rasa_server):
    from tests.conftest import new_sender

    replies = rasa_server.say(new_sender(), "where is each one given?")
    table = _tables(replies)[0]
    assert table["row_ids"] == ["setting"]
    assert table["column_ids"] == ["topic", "iv", "spravato", "compounded"]


@pytest.mark.server
def test_rest_values_clarification(rasa_server):
    from tests.conftest import new_sender

    sender = new_sender()
    replies = rasa_server.say(sender, "/values_clarification")
    assert any(c["type"] == "question" for c in _custom(replies))
    replies = rasa_server.say(sender, "cost and speed")
    custom = _custom(replies)
    assert custom[0]["row_ids"] == ["cost_insurance", "speed"]
    assert custom[1]["type"] == "summary" and custom[1]["copyable"]
    replies = rasa_server.say(sender, '/choose_value{"value":"monitoring"}')
    assert _custom(replies)[0]["row_ids"] == ["cost_insurance", "speed", "monitoring"]
    _check_texts(replies)


@pytest.mark.server
def test_rest_checklist_and_crisis_mid_form(rasa_server):
    from tests.conftest import new_sender

    sender = new_sender()
    replies = rasa_server.say(sender, "/start_checklist")
    assert _custom(replies)[-1]["step"] == 1
    for answer in ("/affirm", "/deny", "/not_sure", "yes"):
        replies = rasa_server.say(sender, answer)
    assert _custom(replies)[-1]["step"] == 5
    replies = rasa_server.say(sender, "no")
    summary = _custom(replies)[-1]
    assert summary["type"] == "summary"
    assert "Bring this to a clinician" in summary["closing"]

    sender = new_sender()
    rasa_server.say(sender, "/start_checklist")
    rasa_server.say(sender, "/affirm")
    replies = rasa_server.say(sender, "I want to kill myself")
    body = "\n".join(r.get("text", "") for r in replies)
    # No decision-aid payload: only the crisis reply's own mark.
    assert "988" in body and _custom(replies) == [{"type": "crisis"}]
    # The checklist is over: "yes" no longer answers it.
    replies = rasa_server.say(sender, "yes")
    assert not any(c.get("type") == "question" for c in _custom(replies))
