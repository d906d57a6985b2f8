"""Spelling correction before the intent classifier (bot/spelling.py, bot/nlu_spelling.py)."""

from __future__ import annotations

import pytest

from bot.nlu_spelling import CORRECTED_TEXT
from bot.spelling import SpellingCorrector

TRAINING = [
    "is spravato covered by insurance",
    "how long is an infusion",
    "what is a ketamine troche",
    "can i drive after the infusion",
    "is esketamine the same as ketamine",
    "i want to unalive myself",
]


@pytest.fixture(scope="module")
def corrector() -> SpellingCorrector:
    return SpellingCorrector.from_texts(TRAINING)


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("is spravto covred by insurence", "is spravato covered by insurance"),
        ("how long is an infusoin", "how long is an infusion"),
        ("what is a ketamin troch", "what is a ketamine troche"),
    ],
)
def test_unknown_words_become_the_nearest_training_word(corrector, typed, meant):
    assert corrector.correct(typed) == meant


@pytest.mark.parametrize(
    "text",
    [
        # English words, even unusual ones, are not "typos".
        "wether or not",
        # Short words have too many neighbours one edit away.
        "hw long",
        # Acronyms and contractions are written on purpose.
        "an SNRI and REMS",
        "they've tried it",
        # Spanish: the dictionary is English.
        "¿cuánto cuesta la infusoin?",
        # Training words are known words, slang included.
        "i want to unalive myself",
    ],
)
def test_known_short_and_foreign_words_are_kept(corrector, text):
    assert corrector.correct(text) == text


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("hw long dose a iv take", "hw long does a iv take"),
        ("what dose insurance cover", "what does insurance cover"),
        # A question about a dose keeps its word.
        ("what dose is right for me", "what dose is right for me"),
    ],
)
def test_dose_typed_for_does_after_a_question_word(corrector, typed, meant):
    assert corrector.correct(typed) == meant


def test_a_typo_with_two_equally_near_words_is_kept():
    corrector = SpellingCorrector({"infusion": 1, "infusions": 1})
    # "infusiona" is one edit from "infusion"... and from "infusions".
    assert corrector.correct("infusiona") == "infusiona"


def test_the_bot_answers_typed_questions_and_keeps_the_text_as_written(bot):
    parsed = bot.parse("can i drvie home aftr my infusoin")
    assert parsed["text"] == "can i drvie home aftr my infusoin"
    assert CORRECTED_TEXT not in parsed
    assert parsed["response_selector"]["faq"]["response"]["intent_response_key"] == (
        "faq/driving_after"
    )


def test_a_crisis_message_with_typos_still_gets_the_crisis_reply(bot):
    texts = [r.get("text", "") for r in bot.say("i wnat to kil myslef tonigt")]
    assert any("988" in t for t in texts)
    assert not any("not sure I understood" in t for t in texts)
