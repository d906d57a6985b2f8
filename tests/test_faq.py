"""The trained bot answers every FAQ topic, including paraphrases it never saw."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import content
from bot.nlu_comparison import names_options_side_by_side
from bot.safety.advice import detect_advice

ROOT = Path(__file__).resolve().parent.parent
PARAPHRASES = yaml.safe_load((ROOT / "tests/data/faq_paraphrases.yml").read_text())["paraphrases"]
FAQ_KEYS = sorted(
    name.split("/", 1)[1] for name in content.raw_responses() if name.startswith("utter_faq/")
)
# The foundation issue's floor. Measured on the committed model: 0.923 (README).
HELDOUT_FLOOR = 0.90
# "What's the difference between ketamine and esketamine?" starts the side-by-side
# comparison (decision-aid issue); for that topic the walkthrough is a right answer.
ALSO_RIGHT = {"ketamine_vs_esketamine": {"compare_options"}}


def _training_examples() -> set:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    return {m.get("text").strip().lower() for m in data.intent_examples}


def _predicted_faq_key(parse) -> str:
    if parse["intent"]["name"] != "faq":
        return parse["intent"]["name"]
    key = parse["response_selector"]["faq"]["response"]["intent_response_key"]
    return key.split("/", 1)[1]


def _right(key: str, text: str, got: str) -> bool:
    if got == key or got in ALSO_RIGHT.get(key, ()):
        return True
    # A paraphrase the advice rules call personal ("can I drink after my
    # infusion?") is deferred to the clinician by design (safety issue).
    return got == "advice" and detect_advice(text) is not None


def test_every_faq_topic_has_heldout_paraphrases():
    by_key = {p["key"]: p["texts"] for p in PARAPHRASES}
    missing = [k for k in FAQ_KEYS if len(by_key.get(k, [])) < 3]
    assert missing == [], f"FAQ keys with fewer than 3 held-out paraphrases: {missing}"
    assert set(by_key) <= set(FAQ_KEYS)


def test_heldout_paraphrases_are_not_training_examples():
    seen = _training_examples()
    leaked = [t for p in PARAPHRASES for t in p["texts"] if t.strip().lower() in seen]
    assert leaked == []


def test_heldout_paraphrases_are_answered(bot):
    results = []
    for item in PARAPHRASES:
        for text in item["texts"]:
            results.append((item["key"], text, _predicted_faq_key(bot.parse(text))))
    wrong = [(k, t, got) for k, t, got in results if not _right(k, t, got)]
    share = 1 - len(wrong) / len(results)
    print(
        f"\nFAQ held-out paraphrases: {len(results) - len(wrong)}/{len(results)} "
        f"answered with the right topic ({share:.1%}); floor {HELDOUT_FLOOR:.0%}"
    )
    for key, text, got in wrong:
        print(f"  miss: {text!r} -> {got} (expected {key})")
    assert share >= HELDOUT_FLOOR


@pytest.fixture(scope="module")
def first_training_example():
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    examples = {}
    for message in data.intent_examples:
        full = message.get("intent_response_key") or ""
        text = message.get("text")
        # Texts another layer answers first: a personal question (the deferral)
        # or options side by side (the comparison, also right: ALSO_RIGHT).
        if (
            full.startswith("faq/")
            and detect_advice(text) is None
            and not names_options_side_by_side(text)
        ):
            examples.setdefault(full.split("/", 1)[1], message.get("text"))
    return examples


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_each_faq_topic_gets_its_answer_in_a_conversation(bot, key, first_training_example):
    """NLU + policies + NLG together send each topic's approved answer."""
    replies = bot.say(first_training_example[key])
    expected = {a.text for a in content.answers() if a.name == f"utter_faq/{key}"}
    assert expected & {r.get("text") for r in replies}, replies
