"""CrisisPolicy: the core-side guarantee that crisis language reaches 988.

NLU can be bypassed (Rasa's ``/intent{...}`` syntax skips the classifiers) and a
form or walkthrough may be active, so the policy reads the user's raw text
itself with the crisis patterns on every turn, adds what the NLU safety
components found (``safety`` in the parse data: the learned model and the
risk-vocabulary rule), and wins over every other policy:

    crisis text   -> utter_crisis     -> (action_deactivate_loop) -> action_listen
    possible risk -> utter_risk_check -> (action_deactivate_loop) -> action_listen

and the turns after them (bot.safety.dialogue). It only uses domain responses
and Rasa's built-in actions for the crisis reply and the check-in, so both work
with the action server down.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_DEACTIVATE_LOOP_NAME, ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.language import conversation_language
from bot.safety.assess import CHECK, CRISIS, EMERGENCY, NONE, Assessment, assess
from bot.safety.dialogue import CHECK_IN_RESPONSE, CRISIS_RESPONSE, plan, session_safety

CRISIS_INTENT = "crisis"
LANGUAGE_SLOT = "language"
# Set with every crisis reply and check-in. It is read only in a session that
# is the rollover of a long one (bot/tracker_store.py): the events before the
# rollover are no longer in the tracker, but the session is the same.
RISK_FLAG_SLOT = "risk_flag"
ROLLOVER = "rollover"
_RANK = {NONE: 0, CHECK: 1, CRISIS: 2}


def assess_latest(tracker: DialogueStateTracker) -> Optional[Assessment]:
    """This turn's safety level: the patterns on the raw text, raised by what NLU found."""
    message = tracker.latest_message
    if message is None or message.text is None:
        return None
    parse = message.parse_data or {}
    intent = (message.intent or {}).get("name")
    own = assess(message.text, None, intent)
    nlu = parse.get("safety") or {}
    if intent == CRISIS_INTENT and own.level != CRISIS:
        own = Assessment(CRISIS, nlu.get("kind"), nlu.get("language") or own.language, "nlu")
    if _RANK.get(nlu.get("level"), 0) > _RANK[own.level]:
        language = nlu.get("language") or own.language
        # NLU's own source ("model", "warning", ...) is kept: the dialogue
        # treats a level raised by the learned model alone differently.
        source = nlu.get("source") or "nlu"
        return Assessment(nlu["level"], nlu.get("kind"), language, source, own.safe_now)
    if own.level == CRISIS and nlu.get("kind") == EMERGENCY and own.kind != EMERGENCY:
        # The patterns alone found a crisis, NLU's model also saw an emergency
        # ("took 40 of my pills, I changed my mind"): 911 first.
        return Assessment(CRISIS, EMERGENCY, own.language, "nlu")
    return own


def _flag_carried_over(tracker: DialogueStateTracker) -> bool:
    """The risk flag, when the current session continues a rolled-over one."""
    if not tracker.get_slot(RISK_FLAG_SLOT):
        return False
    for event in reversed(tracker.events):
        if isinstance(event, SessionStarted):
            return bool((event.metadata or {}).get(ROLLOVER))
    return False


def turn_actions(tracker: DialogueStateTracker) -> Tuple[List[Text], List[Text], List[Text]]:
    """(actions since the last user message, actions of the bot's previous turn,
    all in this session)."""
    since: List[Text] = []
    previous: List[Text] = []
    session: List[Text] = []
    users = 0
    for event in reversed(tracker.applied_events()):
        if isinstance(event, UserUttered):
            users += 1
        elif isinstance(event, ActionExecuted) and event.action_name:
            session.append(event.action_name)
            if users == 0:
                since.append(event.action_name)
            elif users == 1:
                previous.append(event.action_name)
    return since[::-1], previous[::-1], session


class RulesInCodePolicy(Policy):
    """A policy whose decisions are written rules and content: nothing to learn."""

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        # Persist an empty resource so Rasa can load the policy like any other.
        with self._model_storage.write_to(self._resource):
            pass
        return self._resource

    def certain(self, domain: Domain, action: Text, **kwargs: Any) -> PolicyPrediction:
        """A prediction of ``action`` with confidence 1.0 (kwargs: events, ...)."""
        probabilities = self._default_predictions(domain)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, **kwargs)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class CrisisPolicy(RulesInCodePolicy):
    """Predicts the safety replies with certainty: crisis reply, check-in and their follow-ups."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 10}

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = assess_latest(tracker)
        if result is None:
            return self._prediction(self._default_predictions(domain))
        done, previous, session = turn_actions(tracker)
        # The conversation's language (bot/language.py): a clear message sets it,
        # an unclear one ("ok", a button's "/affirm") keeps it. These events
        # apply whichever policy wins, before the reply is chosen.
        text = tracker.latest_message.text or ""
        previous_language = tracker.get_slot(LANGUAGE_SLOT)
        asked = (tracker.latest_message.metadata or {}).get(LANGUAGE_SLOT)
        reply_language = conversation_language(text, previous_language, asked)
        language = (
            [SlotSet(LANGUAGE_SLOT, reply_language)]
            if (not done and previous_language != reply_language)
            else []
        )
        # The session flag counts safety replies before this turn only.
        before = session[len(done) :]
        intent = (tracker.latest_message.intent or {}).get("name")
        actions = plan(
            result.level,
            intent,
            session_safety(previous, before, _flag_carried_over(tracker)),
            safe_now=result.safe_now,
            model_only=result.source == "model",
        )
        if not actions:
            return self._prediction(self._default_predictions(domain), events=language)

        events: List[Any] = list(language)
        todo = [a for a in actions if a not in done]
        if todo:
            action = todo[0]
            if action in (CRISIS_RESPONSE, CHECK_IN_RESPONSE):
                # The slot picks the emergency variant of the reply (the
                # language slot, set above, its language).
                kind = EMERGENCY if result.kind == EMERGENCY else None
                events += [
                    SlotSet("crisis_kind", kind),
                    SlotSet(RISK_FLAG_SLOT, True),
                ]
        elif tracker.active_loop_name and ACTION_DEACTIVATE_LOOP_NAME not in done:
            action = ACTION_DEACTIVATE_LOOP_NAME
        else:
            action = ACTION_LISTEN_NAME

        # is_no_user_prediction lets this prediction compete with (and, by
        # priority, beat) RulePolicy's "continue the active form" prediction.
        return self.certain(domain, action, events=events, is_no_user_prediction=True)
