"""Every text the bot can send: safe (no dose, directive or personal yes), sourced, readable."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import textstat
import yaml

from bot import content
from bot.safety.rules import violations

ROOT = Path(__file__).resolve().parent.parent
SEEDS = {
    "000_ba61a56dcce6168e.txt",
    "001_afcab3168b02a218.txt",
    "002_b3d1ab8cf04194ff.txt",
    "003_55c8d5fb2a2f38db.txt",
}
ANSWERS = content.answers()


def _content_file_strings() -> Iterator[Tuple[str, str]]:
    """Every string in the content files the actions and the console send from."""
    for path in sorted((ROOT / "bot" / "content").glob("*.yml")):
        for text in content.strings_in(yaml.safe_load(path.read_text(encoding="utf-8"))):
            yield path.name, text


def test_there_are_answers_for_every_kind_of_reply():
    names = {a.name for a in ANSWERS}
    assert "utter_crisis" in names
    assert any(n.startswith("utter_faq/") for n in names)
    assert any(n.startswith("utter_advice/") for n in names)


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: f"{a.name}:{a.language}")
def test_no_dose_directive_or_personal_yes_in_responses(answer):
    assert violations(answer.text) == [], answer.text


def test_no_dose_directive_or_personal_yes_in_content_files():
    bad = [
        (name, text, violations(text)) for name, text in _content_file_strings() if violations(text)
    ]
    assert bad == []


def test_rules_catch_what_they_must():
    # The scanner itself must be able to fail.
    assert violations("Take 50 mg before bed") == ["dose"]
    assert "dose per weight" in violations("0.5 mg/kg over 40 minutes")
    assert violations("You should stop your sertraline.") == ["personal directive"]
    assert violations("Yes, you can take it with Xanax.") == ["personal yes"]
    assert violations("IV ketamine is usually paid out of pocket.") == []


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: f"{a.name}:{a.language}")
def test_every_answer_has_topic_source_and_review_date(answer):
    assert answer.topic and answer.topic != "Other"
    assert answer.reviewed, "missing reviewed date"
    assert set(answer.sources) <= SEEDS, f"unknown source {answer.sources}"
    if answer.name.startswith(("utter_faq/", "utter_advice/")):
        assert answer.sources, "every FAQ and advice answer must name its seed page"


def test_no_placeholder_left_unfilled():
    leftovers = [a.name for a in ANSWERS if "{" in a.text or "}" in a.text]
    assert leftovers == []


def test_crisis_reply_has_every_line():
    en = content.answer("utter_crisis", "en").text
    for must in (
        "988",
        "988lifeline.org",
        "911",
        "emergency room",
        "press 1",
        "AYUDA",
        "HOME to 741741",
        "1-800-222-1222",
        "automated",
    ):
        assert must in en, must
    es = content.answer("utter_crisis", "es").text
    for must in ("988", "911", "AYUDA", "1-800-222-1222", "marca 2"):
        assert must in es, must


def test_plain_language():
    """Median Flesch-Kincaid grade <= 8 and every answer <= 11 (English replies)."""
    english = [a for a in ANSWERS if a.language == "en"]
    grades = {f"{a.name}": textstat.flesch_kincaid_grade(a.text) for a in english}
    median = statistics.median(grades.values())
    worst = sorted(grades.items(), key=lambda kv: -kv[1])[:5]
    print(
        f"\nreadability: {len(grades)} answers, median FK grade {median:.1f}, "
        f"worst: " + ", ".join(f"{n} {g:.1f}" for n, g in worst)
    )
    assert median <= 8, f"median grade {median:.1f}; worst: {worst}"
    too_hard = {n: g for n, g in grades.items() if g > 11}
    assert too_hard == {}, f"answers above grade 11: {too_hard}"


# The clinic's own voice: what it says about prices, companions and telehealth.
PROFILE_FIELDS = {
    "clinic_prices": "utter_faq/cost",
    "clinic_companions": "utter_faq/companion_during",
    "clinic_telehealth": "utter_faq/follow_up",
}


@pytest.mark.parametrize("field, response", sorted(PROFILE_FIELDS.items()))
def test_answers_use_the_clinic_profile_in_both_languages(field, response):
    variants = content.raw_responses()[response]
    for variant in variants:
        spanish = (variant.get("metadata") or {}).get("language") == "es"
        assert "{" + field + ("_es}" if spanish else "}") in variant["text"], (response, spanish)
    profile = content.clinic_profile()
    for name in (field, field + "_es"):
        default = profile[name]
        # The shipped default says honestly that the pages give no such detail.
        assert default.strip() and violations(default) == [], name
        assert "$" not in default and not any(ch.isdigit() for ch in default), name


def test_a_clinic_that_fills_in_its_profile_is_quoted_in_the_answer():
    cost = next(
        v
        for v in content.raw_responses()["utter_faq/cost"]
        if (v.get("metadata") or {}).get("language") != "es"
    )
    own_words = "Our consultation fee is on our price list."
    own = {**content.clinic_profile(), "clinic_prices": own_words}
    assert own_words in content.fill(cost["text"], own)
