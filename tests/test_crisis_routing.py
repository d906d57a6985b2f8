"""Crisis routing through the trained pipeline (classifier + SafetyOverride).

tests/test_safety_detectors.py measures the rule-based detector alone; this
file checks what the NLU pipeline as a whole decides, where the classifier's
own crisis guess is a second net that must not turn idioms into crisis cards.
"""
from __future__ import annotations

from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data"
CRISIS = yaml.safe_load((DATA / "crisis_messages.yml").read_text(encoding="utf-8"))
NEAR = yaml.safe_load((DATA / "near_miss.yml").read_text(encoding="utf-8"))
FAQ = [t for p in yaml.safe_load((DATA / "faq_paraphrases.yml").read_text())["paraphrases"]
       for t in p["texts"]]


def test_every_crisis_message_gets_the_crisis_intent(bot):
    # "/intent{...}" text skips NLU in Rasa; the REST channel and CrisisPolicy
    # handle those (tests/test_server.py).
    texts = [i["text"] for i in CRISIS if not i["text"].startswith("/")]
    missed = [t for t in texts if bot.parse(t)["intent"]["name"] != "crisis"]
    print(f"\ncrisis intent through the pipeline: {len(texts) - len(missed)}/{len(texts)}")
    assert missed == []


def test_near_misses_and_faq_questions_are_not_crisis(bot):
    texts = [i["text"] for i in NEAR] + FAQ
    flagged = [t for t in texts if bot.parse(t)["intent"]["name"] == "crisis"]
    print(f"\nnear misses + FAQ paraphrases with the crisis intent: {len(flagged)}/{len(texts)}")
    assert flagged == []
