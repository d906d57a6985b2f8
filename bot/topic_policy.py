"""TopicPolicy: keeps the topic of the conversation and answers follow-ups within it.

Every FAQ answer sets the ``faq_topic`` slot (an event of this policy, applied
whichever policy wins the turn). When the next message is a follow-up that the
table in bot/content/follow_ups.yml resolves against that topic ("what about
after?" after preparation), this policy predicts that answer's response
(``utter_faq/<key>``: a domain response, so it needs no action server) and
then listens. Two more kinds keep the topic. An option the current, general
answer has no separate answer for ("and the IV?"): that option's row of the
comparison when the topic is one of its rows (insurance, cost...), otherwise a
lead-in that says so and the same answer. And "what about X?" that names
nothing the comparison knows: the FAQ answer for X, or the honest "not sure"
instead of the whole table. It abstains on anything safety-related, inside
forms and inside the comparison tool (actions/decision_aid.py resolves
follow-ups there), so CrisisPolicy and the rules keep every other turn.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Text

from rasa.core.policies.policy import PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import decision_aid, follow_up
from bot.policies import RulesInCodePolicy, turn_actions
from bot.safety.advice import detect_advice

TOPIC_SLOT = "faq_topic"
FAQ = "faq"
FAQ_RESPONSE_PREFIX = "utter_faq/"
# Intents after which the topic still stands ("thanks", "ok", "hmm?").
KEEPS_TOPIC = {
    "faq",
    "thank",
    "affirm",
    "deny",
    "nlu_fallback",
    "out_of_scope",
    "compare_dimension",
}
# First-person words: a follow-up with one of these may be a personal question.
PERSONAL_WORDS = {
    "i",
    "me",
    "my",
    "mine",
    "myself",
    "im",
    "yo",
    "mi",
    "mis",
    "conmigo",
    "tengo",
    "puedo",
    "debo",
    "estoy",
}
# The comparison tool's own slot: inside it, actions/decision_aid.py answers follow-ups.
TOOL_SLOT = "da_context"
# Said before the current answer again when a follow-up asks about an option
# that no answer covers separately for this topic.
GENERAL_FOR_OPTION = "utter_general_for_option"
FALLBACK_RESPONSE = "utter_fallback"
COMPARE_ACTION = "action_da_compare"
# The intents data/rules/decision_aid.yml sends to COMPARE_ACTION.
COMPARE_ACTION_INTENTS = {
    decision_aid.INTENT_COMPARE,
    decision_aid.INTENT_DIMENSION,
    decision_aid.INTENT_TABLE,
    decision_aid.INTENT_NEXT,
    decision_aid.INTENT_ABOUT,
}
# "What about X?" reads as a comparison topic to the classifier. After an FAQ
# answer, with no option and no comparison topic in it, it is a question about
# X: the FAQ answer when the classifier is this sure of it (or it is the current
# topic), otherwise the honest "not sure" rather than the whole table.
ASPECT_INTENT = decision_aid.INTENT_DIMENSION
FAQ_FOR_ASPECT = 0.5


def _faq_selection(tracker: DialogueStateTracker) -> Dict[Text, Any]:
    """The classifier's FAQ answer for the latest message (key, confidence), whatever its intent."""
    selectors = tracker.latest_message.parse_data.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
    return (selectors.get(FAQ) or {}).get("response") or {}


def _faq_choice(tracker: DialogueStateTracker) -> Optional[Text]:
    """The FAQ key the classifier chose for the latest message, whatever its intent."""
    key = _faq_selection(tracker).get("intent_response_key") or ""
    return key.split("/", 1)[1] if "/" in key else None


def _faq_key(tracker: DialogueStateTracker) -> Optional[Text]:
    """The FAQ answer the latest message gets, if its intent is faq."""
    if (tracker.latest_message.intent or {}).get(INTENT_NAME_KEY) != FAQ:
        return None
    return _faq_choice(tracker)


def _faq_confidence(tracker: DialogueStateTracker) -> float:
    return float(_faq_selection(tracker).get("confidence") or 0.0)


def _aspect_outside_comparison(tracker: DialogueStateTracker, text: Text) -> bool:
    """ "What about OCD?" after an FAQ answer: nothing the comparison knows is named."""
    aid = decision_aid.load(language=tracker.get_slot("language") or "en")
    return not aid.find_options(text) and not aid.find_dimensions(text)


def _ours(tracker: DialogueStateTracker) -> bool:
    """The comparison action ran this turn because this policy sent an option
    follow-up there (the rules send it only for these intents)."""
    intent = (tracker.latest_message.intent or {}).get(INTENT_NAME_KEY)
    return not tracker.active_loop_name and intent not in COMPARE_ACTION_INTENTS


def _comparison_row(tracker: DialogueStateTracker, topic: Optional[Text]) -> Optional[Text]:
    """The comparison row (dimension) that covers an FAQ topic for every option, if any."""
    aid = decision_aid.load(language=tracker.get_slot("language") or "en")
    return aid.dimension_for_faq(topic)


def _impersonal_follow_up(text: Text) -> bool:
    """A short follow-up with no personal words ("since when?") that the advice
    model took for a personal question; a real one ("what about my dose?") stays advice."""
    words = set(re.findall(r"[^\W\d_]+", text.lower()))
    return (
        follow_up.load().is_elliptical(text)
        and not words & PERSONAL_WORDS
        and detect_advice(text) is None
    )


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class TopicPolicy(RulesInCodePolicy):
    """Answers follow-ups within the current FAQ topic; remembers the topic."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # Above RulePolicy (6), below CrisisPolicy (10).
        return {"priority": 8}

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        nothing = self._default_predictions(domain)
        done = turn_actions(tracker)[0]
        if done != [ACTION_LISTEN_NAME] and done:
            # Later in the turn: after our own answer (the rules' FAQ answers are
            # logged as "utter_faq", ours as "utter_faq/<key>"), listen; after
            # our lead-in, the current answer.
            if done[-1].startswith(FAQ_RESPONSE_PREFIX) or done[-1] == FALLBACK_RESPONSE:
                return self.certain(domain, ACTION_LISTEN_NAME)
            topic = tracker.get_slot(TOPIC_SLOT)
            if done[-1] == GENERAL_FOR_OPTION and topic:
                return self.certain(domain, FAQ_RESPONSE_PREFIX + topic)
            if done[-1] == COMPARE_ACTION and _ours(tracker):
                return self.certain(domain, ACTION_LISTEN_NAME)
            return self._prediction(nothing)
        if not tracker.latest_message or not (tracker.latest_message.text or ""):
            return self._prediction(nothing)

        intent = (tracker.latest_message.intent or {}).get(INTENT_NAME_KEY)
        topic = tracker.get_slot(TOPIC_SLOT)
        safety = (tracker.latest_message.parse_data.get("safety") or {}).get("level", "none")
        busy = tracker.active_loop_name or tracker.get_slot(TOOL_SLOT)
        text = tracker.latest_message.text or ""

        target, first = None, None
        if (
            safety == "none"
            and intent != "crisis"
            and not busy
            and not text.startswith("/")
            and (intent != "advice" or _impersonal_follow_up(text))
        ):
            table = follow_up.load()
            target = table.resolve(
                text,
                topic,
                _faq_key(tracker) or (_faq_choice(tracker) if intent == "nlu_fallback" else None),
            )
            if not target and table.option_without_answer(text, topic):
                if _comparison_row(tracker, topic):
                    # "What about Spravato?" after the insurance answer: the
                    # comparison's insurance row for Spravato (actions/decision_aid.py).
                    return self.certain(domain, COMPARE_ACTION, events=[])
                target, first = topic, GENERAL_FOR_OPTION
            if (
                not target
                and topic
                and intent == ASPECT_INTENT
                and table.is_elliptical(text)
                and _aspect_outside_comparison(tracker, text)
            ):
                choice = _faq_choice(tracker)
                if choice and (choice == topic or _faq_confidence(tracker) >= FAQ_FOR_ASPECT):
                    target = choice
                else:
                    return self.certain(domain, FALLBACK_RESPONSE)
            if target and FAQ_RESPONSE_PREFIX + target not in domain.action_names_or_texts:
                target, first = None, None

        new_topic = target or _faq_key(tracker) or (topic if intent in KEEPS_TOPIC else None)
        events = [SlotSet(TOPIC_SLOT, new_topic)] if new_topic != topic else []
        if not target:
            return self._prediction(nothing, events=events)
        return self.certain(domain, first or FAQ_RESPONSE_PREFIX + target, events=events)
