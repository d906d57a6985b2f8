"""ComparisonRequest: "nasal vs drip", "pills or infusion?", "¿IV o Spravato?" compare options.

A short message that names two or more options with "vs", "or" or "o" between
them wants them side by side, and so does a longer one the classifier did not
understand that names them and asks how they differ; the classifier, which
knows the words but not the options' many names, may read it as one option's
FAQ or not at all. The
options' names are the decision aid's own aliases (bot/content/comparison.yml
and its Spanish mirror), so this component keeps no list of its own. It runs
after the intent classifier and before SafetyOverride, which still turns a
request to choose ("should I do Spravato or IV?") into the clinician deferral.
"""

from __future__ import annotations

import re
from typing import List, Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.core.constants import USER_INTENT_OUT_OF_SCOPE
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import decision_aid
from bot.nlu_components import IntentOverride, force_intent, selected_response

CONNECTOR = re.compile(
    r"\b(vs|versus|or|o|compared (to|with)|against|frente a|contra|comparad[oa] con)\b",
    re.IGNORECASE,
)
# Longer messages are questions of their own ("is Spravato or IV covered by
# my plan if I switch jobs next year?").
MAX_WORDS = 8
# Intents a side-by-side request replaces; a greeting, a deferral or a crisis stays.
REPLACES = {"faq", DEFAULT_NLU_FALLBACK_INTENT_NAME, USER_INTENT_OUT_OF_SCOPE}
# A longer message that the classifier did not understand still asks for the
# comparison when it names the options and asks how they differ.
UNDERSTOOD_NOTHING = {DEFAULT_NLU_FALLBACK_INTENT_NAME, USER_INTENT_OUT_OF_SCOPE}
# Words that ask for a comparison even when the classifier found an FAQ answer;
# weaker ones ("both", "between": "is there a risk with both?" is a question)
# count only when the classifier understood nothing.
_COMPARE_WORDS = (
    r"differ\w*|compar\w*|vs|versus|side by side|stack up|stacks up|next to (one|each) other|"
    r"lay (them|those) out|breakdown|break down|rundown|pros and cons|diferencia\w*"
)
_WEAK_COMPARE_WORDS = (
    r"between|the two|both|lay it out|lay out|run down|"
    r"diferent\w*|entre|los dos|las dos|ambos|ambas"
)
ASKS_TO_COMPARE = re.compile(rf"\b({_COMPARE_WORDS})\b", re.IGNORECASE)
DIFFERENCE = re.compile(rf"\b({_COMPARE_WORDS}|{_WEAK_COMPARE_WORDS})\b", re.IGNORECASE)
# "Three kinds of ketamine treatment ... lay them out": the options, unnamed.
THE_OPTIONS = re.compile(
    r"\b((the|my|all|three|3|different|other) "
    r"(options|kinds|types|forms|choices|treatments|routes)|"
    r"(las|mis|tres|3) (opciones|formas|tipos|clases))\b",
    re.IGNORECASE,
)
# "Start over" inside the comparison: back to its menu, not a row.
RESTART = re.compile(
    r"^\W*(ok |okay |let'?s |can we |please )?"
    r"(start (it )?over|start again|start from the (top|beginning)|"
    r"from the (top|beginning)|begin again|back to the (start|menu)|"
    r"empe[zc]ar de nuevo|empecemos de nuevo|desde el principio|volver a empezar|"
    r"otra vez desde el principio)"
    r"\W*(please|pls|por favor|porfa)?\W*$",
    re.IGNORECASE,
)


# "Where is each one given?", "¿cuánto cuesta cada una?": a fact asked across
# all the options, which one option's FAQ answer would leave half unanswered.
ACROSS = re.compile(
    r"\b(each|every one|all of them|all three|all 3|the three|the 3|them all|"
    r"the other kinds|the other forms|the other options|the others|"
    r"cada un[oa]|cada opci[oó]n|l[oa]s tres|l[oa]s 3|todas las opciones)\b",
    re.IGNORECASE,
)


# FAQ answers that are themselves about two options' difference: the
# classifier's pick stands ("ketamine vs esketamine, same drug?").
OWN_COMPARISONS = {"faq/ketamine_vs_esketamine"}


def _aids():
    return [decision_aid.load(language=language) for language in ("en", "es")]


def names_options_side_by_side(text: str) -> bool:
    if len(text.split()) > MAX_WORDS or not CONNECTOR.search(text):
        return False
    return any(len(aid.find_options(text)) >= 2 for aid in _aids())


def asks_how_options_differ(text: str) -> bool:
    """ "Could you explain how the spray and the IV differ?", "break down the three kinds"."""
    if not DIFFERENCE.search(text):
        return False
    return bool(THE_OPTIONS.search(text)) or any(
        len(aid.find_options(text)) >= 2 or aid.wants_whole_table(text) for aid in _aids()
    )


def names_options_and_asks_how_they_differ(text: str) -> bool:
    """ "What are the options, iv or the spray or pills?": three named, or two and a
    word of difference; an FAQ answer about one of them would leave the rest out."""
    found = max(len(aid.find_options(text)) for aid in _aids())
    return found >= 3 or (found >= 2 and bool(ASKS_TO_COMPARE.search(text)))


# "Which one lets me drive home?", "¿cuál cubre Medicare?": a question word
# that asks across the options for a fact.
WHICH = re.compile(r"^\W*(?:\w+\W+){0,3}?(which|cu[aá]l|cu[aá]les)\b", re.IGNORECASE)


def asks_across_options(text: str) -> bool:
    """A comparison topic asked of every option ("how long is the visit for each?")."""
    across = ACROSS.search(text)
    if not across:
        return False
    # "IV compared to the other kinds" names one option and means all of them.
    others = across.group(0).lower().startswith("the other")
    return any(
        (others or len(aid.find_options(text)) != 1) and aid.find_dimensions(text)
        for aid in _aids()
    )


# Words a follow-up wraps around an option's name ("and the pills?", "¿y el spray?").
FOLLOW_UP_FILLER = frozenset(
    """
and what about how the a an then so ok okay or also too now of for with is it
those these them ones one option version kind form vs versus
y el la los las que tal con entonces o tambien
""".split()
)


def names_only_options(text: str) -> bool:
    """ "And the pills?", "what about the spray?": an option's name and nothing else."""
    for aid in _aids():
        if not aid.find_options(text):
            continue
        rest = re.findall(r"[^\W\d_]+", aid.without_options(text).lower())
        if all(w in FOLLOW_UP_FILLER for w in rest):
            return True
    return False


def asks_which_option_has(text: str) -> bool:
    """A "which one..." question about a comparison topic (cost, insurance,
    driving, time at the clinic...): a fact the table holds, not a request to choose."""
    return bool(WHICH.search(text)) and any(aid.find_dimensions(text) for aid in _aids())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ComparisonRequest(IntentOverride):
    """Forces intent ``compare_options`` when a short message sets options side by
    side, and ``compare_dimension`` when a comparison topic is asked of each option."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            text = message.get(TEXT) or ""
            if intent == "faq" and selected_response(message, "faq") in OWN_COMPARISONS:
                continue
            if RESTART.match(text):
                force_intent(message, decision_aid.INTENT_COMPARE)
            elif intent in REPLACES and asks_across_options(text):
                force_intent(message, decision_aid.INTENT_DIMENSION)
            elif intent in REPLACES and (
                names_options_side_by_side(text) or names_options_and_asks_how_they_differ(text)
            ):
                force_intent(message, decision_aid.INTENT_COMPARE)
            elif intent in UNDERSTOOD_NOTHING and asks_how_options_differ(text):
                force_intent(message, decision_aid.INTENT_COMPARE)
            elif _unsure(message, intent) and asks_which_option_has(text):
                # "Which ones don't need a needle?": a table topic asked across the
                # options, where the classifier found no clear FAQ answer.
                force_intent(message, decision_aid.INTENT_DIMENSION)
        return messages


# Below this the classifier's FAQ guess is weak enough for a "which one..."
# question about a table topic to get the table's row instead.
WEAK_FAQ = 0.5


def _unsure(message: Message, intent: Optional[str]) -> bool:
    confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0
    return intent in UNDERSTOOD_NOTHING or (intent == "faq" and confidence < WEAK_FAQ)
