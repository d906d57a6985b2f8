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

from bot.nlu_components import LinearScorer

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
