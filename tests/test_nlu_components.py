"""The intent classifier's fast scorer gives sklearn's numbers; its output has
ResponseSelector's shape."""

from __future__ import annotations

import pickle
import tarfile
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.nlu_components import LinearScorer, asks_more

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pipeline(model_path):
    with tarfile.open(model_path) as archive:
        member = next(
            m for m in archive.getmembers() if m.name.endswith("lexical_intent_classifier.pkl")
        )
        model, _, _ = pickle.load(archive.extractfile(member))
    return model


def texts():
    data = ROOT / "tests" / "data"
    held = [
        t
        for p in yaml.safe_load((data / "faq_paraphrases.yml").read_text())["paraphrases"]
        for t in p["texts"]
    ]
    crisis = [i["text"] for i in yaml.safe_load((data / "crisis_messages.yml").read_text())]
    odd = [
        "",
        " ",
        "😀😀",
        "ÉSKETAMINE???",
        "a" * 3000,
        "word " * 400,
        "日本語のテキスト",
        "<b>cost</b>",
        "zzzz qqqq",
        "iv\\nketamine\\tcost",
    ]
    return held + crisis + odd


def test_fast_scores_equal_sklearns(pipeline):
    scorer = LinearScorer.for_model(pipeline)
    assert isinstance(scorer, LinearScorer)
    worst = 0.0
    for text in texts():
        expected = pipeline.decision_function([text])[0]
        got = scorer(text)
        assert got.shape == expected.shape
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst < 1e-9, worst


def test_parse_has_response_selector_shape(bot):
    parsed = bot.parse("how much does an infusion cost")
    selector = parsed["response_selector"]
    assert set(selector["all_retrieval_intents"]) == {"faq", "advice"}
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == "faq/cost"
    assert response["utter_action"] == "utter_faq/cost"
    ranking = selector["faq"]["ranking"]
    assert ranking[0]["intent_response_key"] == "faq/cost"
    assert all(a["confidence"] >= b["confidence"] for a, b in pairwise(ranking))
    assert parsed["intent"]["name"] == "faq" and parsed["intent_ranking"][0]["name"] == "faq"


def test_gibberish_falls_back(bot):
    assert bot.parse("qwpoeiru zmxncbv")["intent"]["name"] in {"nlu_fallback", "out_of_scope"}


@pytest.mark.parametrize(
    "text, more",
    [
        ("thanks, what was the insurance part again?", True),
        ("hi, how much does IV ketamine cost", True),
        ("gracias, y cuánto cuesta la consulta", True),
        ("thanks so much, this is really helpful", False),
        ("ok thanks", False),
        ("Thanks, that is all I wanted to know", False),
    ],
)
def test_a_question_after_small_talk_is_seen(text, more):
    assert asks_more(text) is more


@pytest.mark.parametrize(
    "text, key",
    [
        ("thanks! and how much does IV ketamine cost?", "faq/cost"),
        ("thank you, and does insurance cover spravato?", "faq/insurance"),
        ("gracias, ¿y cuánto cuesta la consulta?", "faq/cost"),
    ],
)
def test_a_question_after_thanks_gets_its_answer_not_you_are_welcome(bot, text, key):
    parse = bot.parse(text)
    assert parse["intent"]["name"] == "faq", text
    assert parse["response_selector"]["faq"]["response"]["intent_response_key"] == key
    assert bot.parse("thank you so much")["intent"]["name"] == "thank"


def _classified(labels, scores, **config):
    """LexicalIntentClassifier._classify on given SVM scores (no training)."""
    from types import SimpleNamespace

    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu_components import LexicalIntentClassifier

    settings = {**LexicalIntentClassifier.get_default_config(), **config}
    classifier = LexicalIntentClassifier(
        settings, None, None, SimpleNamespace(classes_=np.array(labels)), threshold=-10.0
    )
    classifier._scores = None  # the scores are given
    message = Message(data={"text": "how long is it"})
    classifier._classify(message, np.array(scores, dtype=float))
    return message.get("intent")["name"]


def test_min_confidence_turns_a_guess_between_faq_answers_into_a_fallback():
    labels = [f"faq/{key}" for key in "abcdefghi"] + ["advice/dose"]
    close = [0.31] + [0.30] * 8 + [-1.0]  # no answer stands out: ~12% for the best
    assert _classified(labels, close, min_confidence=0.0) == "faq"
    assert _classified(labels, close, min_confidence=0.15) == "nlu_fallback"
    clear = [1.5] + [0.0] * 8 + [-1.0]
    assert _classified(labels, clear, min_confidence=0.15) == "faq"
    # A weak guess that the question is personal still gets the deferral.
    weak_advice = [0.30] * 9 + [0.31]
    assert _classified(labels, weak_advice, min_confidence=0.15) == "advice"


def test_min_confidence_leaves_clear_questions_answered(bot):
    """With the trained model: gibberish falls back, clear FAQ questions keep their answer."""
    parse = bot.parse("blorp ketamine wibble zonk")
    assert parse["intent"]["name"] == "nlu_fallback"
    for text in ("how much does IV ketamine cost?", "what are the side effects of spravato?"):
        assert bot.parse(text)["intent"]["name"] == "faq", text


@pytest.mark.parametrize(
    "text, side_by_side",
    [
        ("nasal vs drip", True),
        ("pills vs infusion?", True),
        ("the spray or the lozenges", True),
        ("spray nasal o infusión", True),
        ("¿IV o Spravato?", True),
        # One option, no connector, or a question of its own.
        ("what about the spray?", False),
        ("is spravato the same thing as iv ketamine", False),
        ("is spravato or iv covered by my plan if i switch jobs next year?", False),
    ],
)
def test_options_named_side_by_side(text, side_by_side):
    from bot.nlu_comparison import names_options_side_by_side

    assert names_options_side_by_side(text) is side_by_side


@pytest.mark.parametrize(
    "text, intent",
    [
        ("nasal vs drip", "compare_options"),
        ("pills vs infusion?", "compare_options"),
        ("spray nasal o infusión", "compare_options"),
        # A request to choose stays the clinician deferral.
        ("should I do spravato or iv?", "advice"),
    ],
)
def test_a_side_by_side_request_is_the_comparison_and_a_choice_is_deferred(bot, text, intent):
    assert bot.parse(text)["intent"]["name"] == intent


# How each comparison detector (bot/nlu_comparison.py) reads a message.
COMPARISON_READINGS = [
    # A topic asked of each option is a comparison row.
    ("asks_across_options", "where is each one given", True),
    ("asks_across_options", "how much of my day does each take", True),
    ("asks_across_options", "who monitors you with each", True),
    ("asks_across_options", "¿cuánto cuesta cada una?", True),
    ("asks_across_options", "how long does each session last", False),  # one option's FAQ
    ("asks_across_options", "how many infusions does each person need", False),
    ("asks_across_options", "does each infusion hurt", False),
    # A follow-up that names only an option.
    ("names_only_options", "and the pills?", True),
    ("names_only_options", "what about the spray?", True),
    ("names_only_options", "¿y las pastillas?", True),
    ("names_only_options", "and the pills, did I take too many", False),
    ("names_only_options", "took the pills", False),
    ("names_only_options", "and the lozenges all at once?", False),
    # An unclear long request for the options side by side.
    (
        "asks_how_options_differ",
        "My physician mentioned three kinds of ketamine treatment. Could you lay them out?",
        True,
    ),
    (
        "asks_how_options_differ",
        "buddy got the nose spray, i'm looking at the IV. how do they stack up",
        True,
    ),
    (
        "asks_how_options_differ",
        "her doc mentioned ketamine. what's the breakdown of the options?",
        True,
    ),
    ("asks_how_options_differ", "what are my options if insurance denies?", False),
    # Named options and a request to compare beat one option's FAQ answer.
    (
        "names_options_and_asks_how_they_differ",
        "what are the options, iv or the spray or pills?",
        True,
    ),
    ("names_options_and_asks_how_they_differ", "Quick rundown of IV vs esketamine?", True),
    (
        "names_options_and_asks_how_they_differ",
        "Is there a risk of addiction with both IV and Spravato?",  # a question
        False,
    ),
]


@pytest.mark.parametrize(
    "intent, confidence, expected",
    [
        ("faq", 0.35, "compare_dimension"),  # a weak FAQ guess: the table's row
        ("nlu_fallback", 0.1, "compare_dimension"),
        ("faq", 0.9, "faq"),  # a clear FAQ answer stays
    ],
)
def test_a_which_question_about_a_table_topic_gets_the_row_when_the_faq_guess_is_weak(
    intent, confidence, expected
):
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu_comparison import ComparisonRequest

    message = Message(data={"text": "which ones don't need a needle?"})
    message.set("intent", {"name": intent, "confidence": confidence})
    ComparisonRequest().process([message])
    assert message.get("intent")["name"] == expected


@pytest.mark.parametrize("detector, text, expected", COMPARISON_READINGS)
def test_comparison_detectors(detector, text, expected):
    from bot import nlu_comparison

    assert getattr(nlu_comparison, detector)(text) is expected


@pytest.mark.parametrize(
    "text, restart",
    [
        ("start over", True),
        ("let's start from the top", True),
        ("empezar de nuevo", True),
        ("how do I start over with a new clinic", False),
    ],
)
def test_start_over_is_recognised_only_as_a_whole_message(text, restart):
    from bot.nlu_comparison import RESTART

    assert bool(RESTART.match(text)) is restart


@pytest.mark.parametrize(
    "text, expected",
    [
        ("compare IV ketamine vs spravato vs lozenges for me", True),
        ("lay out IV vs spravato vs troches for me, no sales pitch", True),
        ("compare them and tell me which is best for me", False),  # a choice
        ("which should i pick, compare iv vs spravato", False),
    ],
)
def test_a_request_to_see_the_options_compared_is_not_a_request_to_choose(text, expected):
    from bot.nlu_safety import asks_to_see_them_compared

    assert asks_to_see_them_compared(text) is expected
