"""Follow-ups keep their topic: the table (bot/content/follow_ups.yml), its matcher, real talks."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from bot import content, decision_aid
from bot.follow_up import OPTION_KINDS, load
from scripts.replies import reply_languages, response_names, turn_kind
from tests.conftest import new_sender

TABLE = load()
FAQ_KEYS = {
    name.split("/", 1)[1] for name in content.raw_responses() if name.startswith("utter_faq/")
}


def test_every_faq_answer_has_a_topic_entry_and_every_target_exists():
    assert set(TABLE.topics) == FAQ_KEYS
    for key, entry in TABLE.topics.items():
        for kind, target in entry.items():
            if kind == "option":
                assert target in OPTION_KINDS, key
                continue
            assert kind in TABLE.cues, (key, kind)
            assert target in FAQ_KEYS and target != key, (key, kind, target)


def test_no_cue_phrase_belongs_to_two_kinds():
    seen: Dict[str, str] = {}
    for kind, phrases in TABLE.cues.items():
        for phrase in phrases:
            assert seen.setdefault(phrase, kind) == kind, (phrase, seen[phrase], kind)


CUE_CASES = [(kind, phrase) for kind, phrases in TABLE.cues.items() for phrase in phrases]


@pytest.mark.parametrize("kind, phrase", CUE_CASES, ids=[f"{k}:{p}" for k, p in CUE_CASES])
def test_each_cue_is_read_as_its_kind_in_a_short_follow_up(kind, phrase):
    # The longest phrase wins where one contains another ("how many hours" / "how many").
    kinds = TABLE.kinds_in(f"what about {phrase}?")
    assert kinds and kinds[0] == kind, (phrase, kinds)
    assert TABLE.is_elliptical(f"and {phrase}?")


@pytest.mark.parametrize(
    "topic, text, understood, expected",
    [
        ("preparation", "what about after?", None, "aftercare"),
        ("number_of_sessions", "and after that?", None, "maintenance"),
        ("fda_status", "since when?", None, "history"),
        ("preparation", "¿y después?", None, "aftercare"),
        ("what_is_iv_ketamine", "what about Spravato?", None, "what_is_spravato"),
        # A Spravato answer changes what "how long do I stay?" means.
        (
            "what_is_spravato",
            "How long do I stay at the clinic?",
            "session_length",
            "spravato_observation",
        ),
        # Not follow-ups: a question of its own, no topic, or a kind the topic has no answer for.
        (
            "preparation",
            "How long does an IV infusion take from start to finish at your clinic?",
            "session_length",
            None,
        ),
        (None, "what about after?", None, None),
        ("preparation", "thanks", None, None),
    ],
)
def test_resolve(topic, text, understood, expected):
    assert TABLE.resolve(text, topic, understood) == expected


# ----------------------------------------------------------------------
# Through the REST channel
# ----------------------------------------------------------------------
def _conversation(rasa_server, turns: List[str]) -> List[List[str]]:
    sender = new_sender()
    said = []
    for text in turns:
        replies: List[Dict[str, Any]] = rasa_server.say(sender, text)
        said.append([r["text"] for r in replies if r.get("text")])
    return said


@pytest.mark.parametrize(
    "turns, expected",
    [
        (["How should I prepare for an infusion?", "what about after?"], "utter_faq/aftercare"),
        (["How many infusions will I need?", "and after that?"], "utter_faq/maintenance"),
        (["Is ketamine FDA approved?", "since when?"], "utter_faq/history"),
        (
            ["What is Spravato?", "How long do I stay at the clinic?"],
            "utter_faq/spravato_observation",
        ),
        (["What is IV ketamine?", "what about Spravato?"], "utter_faq/what_is_spravato"),
    ],
)
def test_follow_ups_keep_their_topic(rasa_server, turns, expected):
    said = _conversation(rasa_server, turns)
    assert expected in response_names(said[-1]), said[-1]
    assert len(said[-1]) == 1, said[-1]  # one answer, no fallback after it


@pytest.mark.parametrize(
    "topic, text, expected",
    [
        # A general answer, and no separate one for that option.
        ("response_rate", "for spravato?", "spravato"),
        ("addiction", "and the iv?", "iv"),
        ("referral", "for spravato too?", "spravato"),
        ("cost", "no, I meant IV", "iv"),
        # An answer about IV: repeating it for Spravato would mislead.
        ("how_fast", "and for the nasal spray?", None),
        # The table has an answer for that option.
        ("what_is_iv_ketamine", "what about spravato?", None),
        # Not only an option: the table or the classifier decides.
        ("response_rate", "how many sessions for spravato?", None),
        ("addiction", "is the iv addictive when a clinic gives it to you?", None),
    ],
)
def test_an_option_with_no_answer_of_its_own(topic, text, expected):
    assert TABLE.option_without_answer(text, topic) == expected


def test_an_option_follow_up_repeats_the_general_answer_and_says_so(rasa_server):
    said = _conversation(rasa_server, ["Is Spravato addictive?", "and the IV?"])
    assert response_names(said[-1]) == ["utter_general_for_option", "utter_faq/addiction"]


def test_no_i_meant_an_option_is_not_a_plain_no(rasa_server):
    said = _conversation(rasa_server, ["How much does Spravato cost?", "no, I meant IV"])
    assert "utter_deny" not in response_names(said[-1])
    # The cost answer has a row in the comparison: that row, for IV.
    aid = decision_aid.load()
    row = next(t for t in said[-1] if t.startswith(aid.dimension("cost")["label"]))
    assert aid.cell("iv", "cost")[0] in row
    assert aid.cell("spravato", "cost")[0] not in row


def test_an_option_follow_up_on_a_comparison_topic_gets_that_row(rasa_server):
    said = _conversation(rasa_server, ["Does insurance cover IV ketamine?", "what about Spravato?"])
    aid = decision_aid.load()
    row = next(t for t in said[-1] if t.startswith(aid.dimension("insurance")["label"]))
    assert aid.cell("spravato", "insurance")[0] in row
    assert "utter_general_for_option" not in response_names(said[-1])


@pytest.mark.parametrize(
    "turns, allowed",
    [
        (
            ["What conditions does ketamine treat?", "what about OCD?"],
            {"utter_faq/conditions_treated"},
        ),
        # Nothing the comparison or the classifier is sure of: not sure, no table.
        (["Is ketamine addictive?", "what about the weather?"], None),
    ],
)
def test_what_about_after_an_answer_is_not_the_comparison_table(rasa_server, turns, allowed):
    said = _conversation(rasa_server, turns)
    names = response_names(said[-1])
    assert names, said[-1]  # a domain response, not the decision aid's table
    assert set(names) <= (allowed or {"utter_fallback"}) | {"utter_fallback"}, names


def test_spanish_follow_up_gets_the_spanish_answer(rasa_server):
    said = _conversation(rasa_server, ["¿Cómo me preparo para una infusión?", "¿y después?"])
    assert "utter_faq/aftercare" in response_names(said[-1])
    assert reply_languages(said[-1]) == ["es"]


def test_a_crisis_inside_a_follow_up_still_gets_the_crisis_reply(rasa_server):
    said = _conversation(
        rasa_server,
        ["How should I prepare for an infusion?", "and after? honestly i want to kill myself"],
    )
    assert turn_kind(said[-1]) == "crisis"


def test_a_personal_follow_up_is_still_deferred(rasa_server):
    said = _conversation(
        rasa_server, ["How should I prepare for an infusion?", "what about my dose after?"]
    )
    assert turn_kind(said[-1]) == "advice"


def test_the_topic_does_not_outlive_a_new_start(rasa_server):
    said = _conversation(
        rasa_server, ["How should I prepare for an infusion?", "hi", "what about after?"]
    )
    assert "utter_faq/aftercare" not in response_names(said[-1])


def test_a_two_word_follow_up_is_not_a_risk(rasa_server):
    # "and then?" shares letters with many crisis texts ("and then I took..."):
    # two words are too few for the safety model without a crisis word.
    said = _conversation(rasa_server, ["How should I prepare for an infusion?", "and then?"])
    assert turn_kind(said[-1]) not in ("crisis", "check_in"), said[-1]
