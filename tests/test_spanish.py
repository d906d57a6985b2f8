"""The Spanish assistant: every text has a reviewed Spanish twin, and Spanish conversations get it.

Each Spanish variant is checked against its English source (same facts as far
as a machine can tell: same numbers, placeholders, buttons and emergency
lines), for the same safety rules, and for plain Spanish (Fernández-Huerta).
The conversation tests go through the real REST channel.
"""

from __future__ import annotations

import re
import statistics
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import textstat

from bot import content
from bot import decision_aid as da
from bot.language import conversation_language, message_language, requested_language
from bot.safety.advice import detect_advice
from bot.safety.rules import violations
from scripts.replies import reply_languages, response_names, turn_kind
from tests.conftest import new_sender

RAW = content.raw_responses()
PROFILE = content.clinic_profile()
# Profile fields with a Spanish version: the Spanish texts name {field_es}.
SPANISH_FIELDS = {"clinic_hours", "clinic_treatments"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The only number a Spanish text may add: "marca 2 para español" (988's Spanish line).
SPANISH_988_LINE = re.compile(r"marca 2 para español")


def _language(variant: Dict[str, Any]) -> str:
    return (variant.get("metadata") or {}).get("language", "en")


def _other_conditions(variant: Dict[str, Any]) -> set:
    """The variant's conditions apart from the language ones (an unset slot is no condition)."""
    return {
        (c["name"], c["value"])
        for c in variant.get("condition") or []
        if c["name"] != "language" and c["value"] is not None
    }


def _pairs() -> Iterator[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    """(name, English variant, Spanish variant) for every response and variant kind."""
    for name, variants in RAW.items():
        spanish = [v for v in variants if _language(v) == "es"]
        english = [v for v in variants if _language(v) == "en"]
        for es in spanish:
            # The English twin is the variant with the same non-language conditions.
            twin = next(v for v in english if _other_conditions(v) == _other_conditions(es))
            yield name, twin, es


PAIRS = list(_pairs())
IDS = [f"{p[0]}:{i}" for i, p in enumerate(PAIRS)]


def _placeholders(text: str) -> set:
    return {re.sub(r"_es$", "", p) for p in PLACEHOLDER.findall(text)}


def _numbers(text: str) -> set:
    return set(re.findall(r"\d+", SPANISH_988_LINE.sub("", text)))


def test_every_response_has_a_spanish_variant():
    missing = [
        name for name, variants in RAW.items() if not any(_language(v) == "es" for v in variants)
    ]
    assert missing == []


def test_each_spanish_variant_is_chosen_by_the_language_slot():
    for name, _, es in PAIRS:
        conditions = {(c["name"], c["value"]) for c in es.get("condition") or []}
        assert ("language", "es") in conditions, name


@pytest.mark.parametrize("name, en, es", PAIRS, ids=IDS)
def test_spanish_keeps_the_facts_placeholders_and_buttons(name, en, es):
    assert _placeholders(es["text"]) == _placeholders(en["text"]), name
    for field in SPANISH_FIELDS:
        assert "{" + field + "}" not in es["text"], f"{name}: use {{{field}_es}} in Spanish"
    if (es.get("metadata") or {}).get("translated_from"):
        # The safety replies are written from the crisis lines' own Spanish
        # service (988 option 2, text lines), not translated: their numbers differ.
        assert _numbers(es["text"]) == _numbers(en["text"]), name
    for line in ("988", "911"):
        assert (line in es["text"]) == (line in en["text"]), f"{name}: {line}"
    en_buttons, es_buttons = en.get("buttons") or [], es.get("buttons") or []
    assert len(es_buttons) == len(en_buttons), name
    for a, b in zip(en_buttons, es_buttons, strict=True):
        if a["payload"].startswith("/"):
            assert b["payload"] == a["payload"], name
        assert b["title"] != a["title"] or len(a["title"].split()) == 1, (
            f"{name}: untranslated button"
        )


@pytest.mark.parametrize("name, en, es", PAIRS, ids=IDS)
def test_spanish_is_safe_sourced_and_uses_tu(name, en, es):
    text = content.fill(es["text"], PROFILE)
    assert violations(text) == [], (name, text)
    assert not re.search(r"\busted(es)?\b", text, re.I), f"{name}: tú throughout, not usted"
    meta, en_meta = es.get("metadata") or {}, en.get("metadata") or {}
    assert meta.get("source") == en_meta.get("source"), name
    assert meta.get("reviewed") and meta.get("clinical_review"), name


@pytest.mark.parametrize("name", sorted(n for n in RAW if n.startswith("utter_advice/")))
def test_spanish_deferrals_send_the_person_to_their_clinician(name):
    es = next(v for v in RAW[name] if _language(v) == "es")
    last = re.split(r"(?<=[.!?])\s+", es["text"].strip())[-1]
    assert re.search(
        r"profesional de salud|médic|recet|psiquiatra|ginecólogo|obstetra|clínica", last
    ), last
    assert not re.search(
        r"\d", re.sub(r"\b(911|988)\b", "", SPANISH_988_LINE.sub("", es["text"]))
    ), name


@pytest.fixture
def spanish_readability():
    textstat.set_lang("es")
    yield
    textstat.set_lang("en_US")


def test_plain_spanish(spanish_readability):
    """Fernández-Huerta (higher is easier; 60-70 is plain): median >= 65, every answer >= 50."""
    scores = {
        f"{n}:{i}": textstat.fernandez_huerta(content.fill(es["text"], PROFILE))
        for i, (n, _, es) in enumerate(PAIRS)
    }
    median = statistics.median(scores.values())
    worst = sorted(scores.items(), key=lambda kv: kv[1])[:5]
    print(
        f"\nSpanish readability: {len(scores)} answers, median Fernández-Huerta {median:.1f}, "
        "hardest: " + ", ".join(f"{n} {s:.1f}" for n, s in worst)
    )
    assert median >= 65, worst
    assert {n: s for n, s in scores.items() if s < 50} == {}


# ----------------------------------------------------------------------
# The decision aid's Spanish files mirror the English ones
# ----------------------------------------------------------------------
# Keys whose values are data, not text: the same in both languages.
DATA_KEYS = {
    "id",
    "source",
    "slot",
    "faq_keys",
    "dimensions",
    "pairs",
    "version",
    "reviewed",
    "clinical_review",
}
TRANSLATED_KEYS = {"aliases", "contrast_aliases", "all_aliases", "table_aliases"}


def _mirror(en: Any, es: Any, path: str, problems: List[str]) -> None:
    if isinstance(en, dict):
        if not isinstance(es, dict) or list(en) != list(es):
            problems.append(f"{path}: keys differ")
            return
        for key in en:
            if key in TRANSLATED_KEYS:
                continue
            if (
                key in DATA_KEYS
                and not isinstance(en[key], (dict, list))
                or key in ("id", "source", "slot")
            ):
                if en[key] != es[key]:
                    problems.append(f"{path}.{key}: {en[key]!r} != {es[key]!r}")
                continue
            _mirror(en[key], es[key], f"{path}.{key}", problems)
    elif isinstance(en, list):
        if not isinstance(es, list) or len(en) != len(es):
            problems.append(f"{path}: list lengths differ")
            return
        for i, (a, b) in enumerate(zip(en, es, strict=True)):
            _mirror(a, b, f"{path}[{i}]", problems)
    elif isinstance(en, str):
        if not isinstance(es, str):
            problems.append(f"{path}: not text")
        elif _placeholders(en) != _placeholders(es):
            problems.append(f"{path}: placeholders differ")
    elif en != es:
        problems.append(f"{path}: {en!r} != {es!r}")


@pytest.mark.parametrize("file_name", ["comparison.yml", "tools.yml"])
def test_spanish_decision_aid_mirrors_the_english(file_name):
    en = content.read_yaml(da.CONTENT_DIR / file_name)
    es = content.read_yaml(da.CONTENT_DIR / "es" / file_name)
    problems: List[str] = []
    _mirror(en, es, file_name, problems)
    assert problems == []


def test_spanish_decision_aid_replies_are_safe_and_spanish():
    english = da.load()
    spanish = da.load(language="es")
    clinic = {**PROFILE}
    pairs = zip(english.all_replies(clinic), spanish.all_replies(clinic), strict=True)
    for (name, en), (_, es) in pairs:
        assert es.text != en.text, name
        assert violations(es.text) == [], (name, es.text)
        assert "{" not in es.text, (name, es.text)
        assert not re.search(
            r"\b(and|the|Add|Show all|Topic)\b", es.text.replace("Sample Ketamine Clinic", "")
        ), (name, es.text)
        assert [b["payload"] for b in es.buttons] == [b["payload"] for b in en.buttons], name


def test_spanish_aid_understands_spanish_and_english_names():
    spanish = da.load(language="es")
    assert spanish.find_options("¿y la intravenosa frente al spray nasal?") == ["iv", "spravato"]
    assert spanish.find_options("spravato vs IV") == ["iv", "spravato"]
    assert spanish.find_dimensions("¿y el costo?") == ["cost"]


# ----------------------------------------------------------------------
# Which language a message is in
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("¿cuánto cuesta la ketamina?", "es"),
        ("cuanto dura una infusion", "es"),
        ("¿cubre mi insurance el Spravato?", "es"),  # Spanglish is Spanish
        ("how much does it cost", "en"),
        ("I want to die", "en"),
        ("ok", None),
        ("Spravato", None),
        ("no", None),
        ("/affirm", None),
    ],
)
def test_message_language(text, expected):
    assert message_language(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("en español por favor", "es"),
        ("¿hablas español?", "es"),
        ("do you speak Spanish?", "es"),
        ("in English please", "en"),
        ("¿puedes responder en inglés?", "en"),
        ("Is Spravato given in Spanish-speaking clinics?", None),
    ],
)
def test_explicit_language_requests(text, expected):
    assert requested_language(text) == expected


@pytest.mark.parametrize("text", ["in plain english pls", "can you say that in simple words?"])
def test_asking_for_plainer_words_is_not_a_language_request(text):
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu_language import SWITCH_INTENT, LanguageRequest

    # The classifier's guess for such a message, as it was seen on a blind set.
    message = Message(data={"text": text, "intent": {"name": SWITCH_INTENT, "confidence": 0.6}})
    LanguageRequest().process([message])
    assert requested_language(text) is None
    assert message.get("intent")["name"] == "ask_simpler"


def test_unclear_messages_keep_the_conversation_language():
    assert conversation_language("ok", "es") == "es"
    assert conversation_language("Spravato", "es") == "es"
    assert conversation_language("ok", None, asked="es") == "es"  # the page says Spanish
    assert conversation_language("how much is it?", "es") == "en"  # a clear message wins
    assert conversation_language("in English please", "es", asked="es") == "en"


@pytest.mark.parametrize(
    "text, previous, expected",
    [
        ("ok thanks!", "es", "es"),  # a courtesy keeps the conversation's language
        ("k see ya", "en", "en"),  # "ya" is not Spanish here
        ("gracias", "en", "en"),
        ("gracias", None, "es"),
        ("y where do I get them, en cualquier farmacia?", "es", "es"),  # Spanglish
        ("quiero comparar IV vs spravato, what are the pros and cons", "es", "es"),
        ("ok voy a mandar mensaje", "en", "es"),  # "a" gives nothing away
        ("no, no voy a hacer na, solo lo pienso a veces", "en", "es"),
        ("where do I get them?", "es", "en"),  # all English: the person switched
        ("quiero comparar IV vs los troches, what are the pros and cons de cada uno", None, "es"),
        ("my doctor in La Jolla said to ask about it", None, "en"),
        ("comparacion", None, "es"),
    ],
)
def test_courtesies_and_mixed_messages_keep_the_conversation_language(text, previous, expected):
    assert conversation_language(text, previous) == expected


# ----------------------------------------------------------------------
# Spanish conversations through the REST channel
# ----------------------------------------------------------------------
def _turn(rasa_server, sender: str, text: str, **metadata):
    """(replies, their texts) of one turn."""
    body: Dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    status, replies = rasa_server.post(body)
    assert status == 200, (status, replies)
    return replies, [r["text"] for r in replies if r.get("text")]


def test_spanish_faq_question_gets_the_spanish_answer(rasa_server):
    replies, said = _turn(rasa_server, new_sender(), "¿Cuánto dura una infusión de ketamina?")
    assert "utter_faq/session_length" in response_names(said)
    assert set(reply_languages(said)) == {"es"}  # the intro too


def test_spanish_personal_question_gets_the_spanish_deferral(rasa_server):
    _, said = _turn(rasa_server, new_sender(), "¿Cuántos miligramos de ketamina debo tomar?")
    assert turn_kind(said) == "advice"
    assert set(reply_languages(said)) == {"es"}
    assert all(violations(t) == [] for t in said)


def test_spanish_crisis_gets_the_spanish_crisis_reply(rasa_server):
    _, said = _turn(rasa_server, new_sender(), "ya no quiero vivir")
    assert turn_kind(said) == "crisis"
    assert "988" in " ".join(said) and "español" in " ".join(said)
    assert set(reply_languages(said)) == {"es"}


def test_language_is_kept_switched_and_asked_for(rasa_server):
    sender = new_sender()
    _turn(rasa_server, sender, "hola, ¿qué es Spravato?")
    _, said = _turn(rasa_server, sender, "ok")
    assert set(reply_languages(said)) == {"es"}  # "ok" keeps Spanish
    _, said = _turn(rasa_server, sender, "in English please")
    assert reply_languages(said) == ["en"] and "utter_language_switched" in response_names(said)
    _, said = _turn(rasa_server, sender, "What are the side effects?")
    assert set(reply_languages(said)) == {"en"}


def test_the_page_language_picks_spanish_for_an_unclear_first_message(rasa_server):
    _, said = _turn(rasa_server, new_sender(), "Spravato", language="es")
    assert said and set(reply_languages(said)) == {"es"}


def test_spanish_comparison_walkthrough(rasa_server):
    sender = new_sender()
    replies, _ = _turn(rasa_server, sender, "quiero comparar las opciones")
    menu = [r for r in replies if (r.get("custom") or {}).get("type") == "menu"]
    assert menu and "Compara" in menu[0]["custom"]["title"]
    replies, said = _turn(rasa_server, sender, "¿y el costo?")
    table = [r for r in replies if (r.get("custom") or {}).get("type") == "comparison_table"]
    assert table, said
    assert table[0]["custom"]["columns"][0] == "Tema"


@pytest.mark.parametrize(
    "text, key",
    [
        ("¿Cuántos miligramos debo tomar?", "dose"),
        ("¿puedo dejar mi sertralina?", "medication_change"),
        ("¿puedo tomar alcohol con la ketamina?", "combine"),
        ("Estoy dando pecho, ¿me puedo hacer una infusión?", "pregnancy"),
        ("vos qué harías en mi lugar, ¿spravato o IV?", "which_option"),
        ("¿soy buen candidato?", "diagnosis"),
        ("Sufro de migrañas. ¿La ketamina me puede empeorar?", "safe_for_me"),
        # General questions are FAQ questions, not personal ones.
        ("¿Quién es buen candidato?", None),
        ("tengo una duda, ¿la ketamina me puede dar sueño?", None),
        ("¿la gente sigue tomando antidepresivos con la ketamina?", None),
        ("¿cuál es la diferencia entre IV y Spravato?", None),
    ],
)
def test_spanish_personal_questions_are_recognised(text, key):
    assert detect_advice(text) == key
