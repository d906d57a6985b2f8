"""action_risk_answer: after "No" to a check-in (or "I'm fine" after the crisis
reply), answers the question the person had asked, so they are not left with
nothing (bot/safety/dialogue.py decides when this runs).

It only picks WHICH reviewed response to send, from what NLU found in that
earlier message; it never writes text of its own.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.safety.dialogue import HELP_INTENTS

RETRIEVAL_INTENTS = ("faq", "advice")
# Intents that say nothing to answer (or that the safety layer already answered).
NOTHING_TO_ANSWER = {
    "crisis",
    "nlu_fallback",
    "out_of_scope",
    "affirm",
    "deny",
    "not_sure",
    "greet",
    "thank",
    "goodbye",
    "empty_input",
}
PROMPT_RESPONSE = "utter_affirm"  # "What would you like to know next?"


def _question(events: List[Dict[Text, Any]]) -> Tuple[Optional[Dict[Text, Any]], Set[Text]]:
    """Parse data of the question to answer, and the intents that are not it:
    the latest message when it asks something of its own ("I'm safe now. Does
    insurance cover it?"; there a mention of 988 is not the question), else
    the message before it (the one the safety reply answered)."""
    users = [e for e in events if e.get("event") == "user"]
    latest = users[-1].get("parse_data") if users else None
    if latest and (latest.get("intent") or {}).get("name") not in NOTHING_TO_ANSWER:
        return latest, NOTHING_TO_ANSWER | HELP_INTENTS
    return (users[-2].get("parse_data") if len(users) >= 2 else None), NOTHING_TO_ANSWER


def response_for(
    parse: Optional[Dict[Text, Any]],
    responses: Dict[Text, Any],
    skip: Set[Text] = NOTHING_TO_ANSWER,
) -> Text:
    """The reviewed response that answers the question in ``parse``, or the prompt."""
    if not parse:
        return PROMPT_RESPONSE
    ranking = [r.get("name") for r in parse.get("intent_ranking") or []]
    intent = (parse.get("intent") or {}).get("name")
    candidates = [intent] + ranking
    name = next((n for n in candidates if n and n not in skip), None)
    if name in RETRIEVAL_INTENTS:
        selected = ((parse.get("response_selector") or {}).get(name) or {}).get("response") or {}
        action = selected.get("utter_action")
        return action if action in responses else PROMPT_RESPONSE
    if name and f"utter_{name}" in responses:
        return f"utter_{name}"
    return PROMPT_RESPONSE


class ActionRiskAnswer(Action):
    def name(self) -> Text:
        return "action_risk_answer"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        responses = domain.get("responses") or {}
        parse, skip = _question(tracker.events)
        dispatcher.utter_message(response=response_for(parse, responses, skip))
        return []
