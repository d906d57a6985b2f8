"""The compiled action-reply check accepts and rejects exactly what Rasa's does."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_speedups

GOOD = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "da_context", "value": "compare"}],
     "responses": [{"text": "hello", "buttons": []}]},
    {"events": [{"event": "active_loop", "name": None}], "responses": [{"custom": {"a": 1}}]},
]
BAD = [
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [], "responses": ["text, not an object"]},
    {"events": [{"event": "slot"}]},   # a slot event without its name
]


def rasa_original(reply) -> bool:
    try:
        jsonschema.validate(reply, RemoteAction.action_response_format_spec())
        return True
    except jsonschema.ValidationError:
        return False


@pytest.mark.parametrize("reply", GOOD + BAD)
def test_same_verdict_as_rasas_check(reply):
    rasa_speedups.apply()
    action = RemoteAction("action_da_compare", None)
    expected = rasa_original(reply)
    if expected:
        assert action._validate_action_result(reply) is True
    else:
        with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(reply)


def test_bad_examples_really_are_bad():
    assert all(rasa_original(r) for r in GOOD)
    assert not any(rasa_original(r) for r in BAD)
