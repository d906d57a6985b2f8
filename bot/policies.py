"""CrisisPolicy: the core-side guarantee that crisis language reaches 988.

NLU can be bypassed (Rasa's ``/intent{...}`` syntax skips the classifiers) and a
form or walkthrough may be active, so the policy looks at the user's raw text
itself, on every turn, and wins over every other policy:

    user says crisis text -> utter_crisis -> (action_deactivate_loop) -> action_listen

It only uses domain responses and Rasa's built-in actions, so it works with the
action server down, and the booking flow can never follow in the same turn.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_DEACTIVATE_LOOP_NAME, ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.safety.crisis import detect

CRISIS_RESPONSE = "utter_crisis"
CRISIS_INTENT = "crisis"


def latest_user_turn_is_crisis(tracker: DialogueStateTracker) -> Optional[Text]:
    """Returns the crisis language ("en"/"es") if the latest user message is a crisis."""
    message = tracker.latest_message
    if message is None:
        return None
    result = detect(message.text or "")
    if result.is_crisis:
        return result.language
    if (message.intent or {}).get("name") == CRISIS_INTENT:
        return "en"
    return None


def _actions_since_last_user(tracker: DialogueStateTracker) -> List[Text]:
    names: List[Text] = []
    for event in reversed(tracker.applied_events()):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted) and event.action_name:
            names.append(event.action_name)
    return list(reversed(names))


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class CrisisPolicy(Policy):
    """Predicts the crisis response with certainty whenever the user is in crisis."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 10}

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        # Nothing to learn: the detector is rule-based. Persist an empty resource
        # so Rasa can load the policy like any other.
        with self._model_storage.write_to(self._resource):
            pass
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        language = latest_user_turn_is_crisis(tracker)
        if language is None:
            return self._prediction(self._default_predictions(domain))

        done = _actions_since_last_user(tracker)
        if CRISIS_RESPONSE not in done:
            action = CRISIS_RESPONSE
            # The slot decides which language variant of utter_crisis is sent.
            events = [SlotSet("crisis_language", language)]
        elif tracker.active_loop_name and ACTION_DEACTIVATE_LOOP_NAME not in done:
            action, events = ACTION_DEACTIVATE_LOOP_NAME, []
        else:
            action, events = ACTION_LISTEN_NAME, []

        probabilities = self._default_predictions(domain)
        probabilities[domain.index_for_action(action)] = 1.0
        # is_no_user_prediction lets this prediction compete with (and, by
        # priority, beat) RulePolicy's "continue the active form" prediction.
        return self._prediction(probabilities, events=events, is_no_user_prediction=True)
