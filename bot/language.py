"""Which language (English or Spanish) a message is written in, and so the conversation.

A message's language is read from its words: first an explicit request ("en
español", "in English please"), then function words ("el", "de", "the", "my"),
which also settle Spanglish ("¿cubre mi insurance el Spravato?" is Spanish:
the reply a person can read), then lingua's statistical model, restricted to
English and Spanish. Short or neutral messages ("ok", "Spravato", "no", a
button payload) are unclear: the conversation keeps the language it had.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Optional

from lingua import Language, LanguageDetectorBuilder

EN, ES = "en", "es"
# Words that open a question, in both languages (accents folded, see fold()).
QUESTION_WORDS = frozenset(
    "what how why when where who which is are do does can could will would should tell "
    "que como cuando donde quien cual cuanto cuanta por es son puedo puede hay dime".split()
)


def fold(text: str) -> str:
    """Lower case without accents: people type "mas segura" for "más segura"."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


LANGUAGES = (EN, ES)

# The function words that give a language away even in a mixed message.
_ES_WORDS = frozenset(
    """
el la los las un una unos unas y o que de del al en con por para sin sobre entre
es son está están estoy estás soy eres fue ser estar hay hace tiene tengo tienes
puedo puede pueden podría quiero quieres necesito sé
qué cuál cuáles cuánto cuánta cuántos cuántas cómo dónde cuándo quién por qué porque
cual cuales cuanto cuanta cuantos cuantas como donde cuando quien
mi mis tu tus su sus me te se le les lo nos usted ustedes vos él ella ellos
muy más mas pero también tambien ya todavía todavia aún nada algo alguien nadie
sí si no esto eso este esta estos estas ese esa otro otra
hola gracias buenos buenas días dias tardes noches adiós adios ayuda favor
cuesta cuestan costo precio seguro cubre sirve funciona dura duele pasa
ketamina esketamina tratamiento tratamientos infusión infusiones sesión sesion sesiones
médico medico doctora clínica clinica pastillas efectos secundarios
comparación comparacion comparar compara compárame comparame diferencia diferencias opciones porfa
""".split()
)
# Not in the list above although Spanish: words an English message uses as they
# are ("nasal vs drip", "pills vs infusion?", "my doctor", "aerosol", "yo, quick
# question").
_EN_WORDS = frozenset(
    """
the an and or of to in on at for with from about by is are was were be been being
am i you he she we they it my your his her our their me him us them this that these those
what which how when where who why do does did can could would should will shall have has had
not no yes please thanks thank hi hello hey much many long after before there here
cost insurance covered cover work works side effects safe treatment session sessions
""".split()
)
# Words each language uses as its own ("a" and "no" in both; "see ya", "y" for
# "why" in texting): they give nothing away.
_BOTH_WORDS = frozenset("a no me ya y".split())
# Courtesies people use in either language ("ok thanks!" in a Spanish
# conversation, "gracias" in an English one): a message made only of them
# keeps the conversation's language.
_COURTESY_WORDS = frozenset(
    """
ok okay okey k kk thanks thank you thx ty tysm bye goodbye see ya later cool great
good gud nice night nite hi hello hey yes yeah yep sure perfect
gracias muchas mil hola adios adiós chao chau vale dale bueno buena listo perfecto
genial si sí claro buenas noches nos vemos
""".split()
)

# A person asking for a language outright, in a short message.
_ASKING = (
    r"(?:can you |could you |can we |do you |please |por favor |puedes |puede |podría "
    r"|podrias |me puedes |se puede )?"
)
_VERBS = (
    r"(?:(?:speak|talk|write|answer|respond|reply|switch to|change to|habla[rs]?|hablas"
    r"|escrib[ei]r?|respond[ea]r?|contesta[r]?|cambia[r]? a|cambiemos a|hablo|yo hablo"
    r"|solo hablo|i speak|i only speak|prefiero|i prefer)\s+(?:in\s+|en\s+|al\s+)?)?"
)


def _request(names: str) -> re.Pattern:
    return re.compile(
        rf"^\W*(?:{_ASKING}{_VERBS}(?:en\s+|in\s+)?(?:{names})"
        r"(?:\s+(?:please|por favor|pls))?\??)\W*$",
        re.I,
    )


_ASK_ES = _request("español|espanol|castellano|spanish")
_ASK_EN = _request("english|inglés|ingles")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# lingua's confidence needed when no function word decides.
_SURE = 0.9


@lru_cache(maxsize=1)
def _detector():
    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH)
        .with_preloaded_language_models()
        .build()
    )


# "In plain English, please" asks for simpler words, not for a language.
_PLAINER = re.compile(
    r"\b(?:plain|simple|simpler|easy|easier|normal|regular|everyday|layman'?s?|human)\s+"
    r"(?:english|words|terms|language)\b|\b(?:palabras|t[eé]rminos)\s+(?:sencill|simple|f[aá]cil)"
    r"|\ben cristiano\b",
    re.I,
)


def asks_for_plainer_words(text: str) -> bool:
    return bool(_PLAINER.search(text or ""))


def requested_language(text: str) -> Optional[str]:
    """The language a short message asks for outright ("en español"), else None."""
    text = (text or "").strip()
    if len(text) > 60:
        return None
    if _ASK_ES.match(text):
        return ES
    if _ASK_EN.match(text):
        return EN
    return None


@lru_cache(maxsize=4096)  # read by the NLU, the safety detector and the policies
def message_language(text: str) -> Optional[str]:
    """ "es" or "en" when the message shows its language, None when it is unclear."""
    text = (text or "").strip()
    if not text or text.startswith("/"):
        return None
    asked = requested_language(text)
    if asked:
        return asked
    if re.search(r"[ñ¿¡]|[áéíóú]\w", text.lower()):
        return ES
    words = [w.lower() for w in _WORD.findall(text)]
    n_es, n_en = _function_words(words)
    if n_es != n_en and max(n_es, n_en) >= 1 and len(words) >= 2:
        return ES if n_es > n_en else EN
    if len(words) < 2 and not (n_es or n_en):
        return None
    confidence = _detector().compute_language_confidence(text, Language.SPANISH)
    if confidence >= _SURE:
        return ES
    if confidence <= 1 - _SURE:
        return EN
    if len(words) == 1 and n_es != n_en:
        return ES if n_es else EN
    return None


def _function_words(words) -> tuple:
    telling = [w for w in words if w not in _BOTH_WORDS]
    return sum(w in _ES_WORDS for w in telling), sum(w in _EN_WORDS for w in telling)


def _keeps_previous(text: str) -> bool:
    """A message that should not switch a conversation's language: only
    courtesies, or both languages' function words (Spanglish in a Spanish
    conversation, a Spanish word in an English one)."""
    if re.search(r"[ñ¿¡]", text):
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    if words and all(w in _COURTESY_WORDS for w in words):
        return True
    n_es, n_en = _function_words(words)
    return n_es >= 1 and n_en >= 1


def _spanglish(text: str) -> bool:
    """Spanish and English function words mixed, with at least two Spanish ones
    ("quiero comparar IV vs los troches, what are the pros and cons de cada
    uno"): a first message written by someone who reads Spanish."""
    n_es, n_en = _function_words([w.lower() for w in _WORD.findall(text)])
    return n_es >= 2 and n_en >= 1


def conversation_language(text: str, previous: Optional[str], asked: Optional[str] = None) -> str:
    """The language to answer in: a person's explicit request, else the message's
    own language when it is clear, else the widget's choice (``asked``, from the
    page or its EN/ES switch), else the conversation's so far."""
    explicit = requested_language(text)
    if explicit:
        return explicit
    if previous in LANGUAGES and _keeps_previous(text):
        return previous
    if previous not in LANGUAGES and asked not in LANGUAGES and _spanglish(text):
        return ES
    found = message_language(text)
    if found:
        return found
    if asked in LANGUAGES:
        return asked
    return previous if previous in LANGUAGES else EN


def warm_up() -> None:
    """Load lingua's models now, not on a visitor's first message."""
    _detector().compute_language_confidence("hola", Language.SPANISH)
