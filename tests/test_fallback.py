"""Low-confidence and out-of-scope input gets an honest "not sure", never a confident
wrong answer."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.safety.advice import detect_advice

ROOT = Path(__file__).resolve().parent.parent
OUT_OF_SCOPE = yaml.safe_load((ROOT / "tests/data/out_of_scope.yml").read_text())["messages"]
HONEST = {"nlu_fallback", "out_of_scope"}
# Regression guard under the measured level (90% on the committed model,
# README); the goal is every one of these.
FLOOR = 0.85


def test_out_of_scope_messages_are_not_answered_as_faq(bot):
    results = [(text, bot.parse(text)["intent"]["name"]) for text in OUT_OF_SCOPE]
    honest = [r for r in results if r[1] in HONEST]
    share = len(honest) / len(results)
    print(f"\nout-of-scope held-out: {len(honest)}/{len(results)} fell back honestly ({share:.0%})")
    for text, intent in results:
        if intent not in HONEST:
            print(f"  answered {text!r} as {intent}")
    assert share >= FLOOR
    # The rule-based override layer must not over-fire on these: no crisis
    # reply, and the advice rules never claim them (a classifier's low-grade
    # "advice" guess only costs the honest-fallback share above).
    assert not [r for r in results if r[1] == "crisis"]
    assert not [text for text in OUT_OF_SCOPE if detect_advice(text)]


def test_fallback_reply_offers_topics_and_contact(bot):
    replies = bot.say("/nlu_fallback")  # the intent LexicalIntentClassifier gives unsure text
    text = replies[0]["text"]
    assert "not sure" in text and "988" in text
    assert replies[0].get("buttons")
