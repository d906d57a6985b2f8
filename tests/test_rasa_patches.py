"""The project's Rasa patches (bot/rasa_patches.py): applied only where asked, only to
the Rasa code they were written for, and doing exactly what Rasa did, faster or
with less stored.
"""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import UserUttered

from bot import rasa_patches
from bot.channels import SafeRestInput

GOOD = [
    {"events": [], "responses": []},
    {
        "events": [{"event": "slot", "name": "da_context", "value": "compare"}],
        "responses": [{"text": "hello", "buttons": []}],
    },
    {"events": [{"event": "active_loop", "name": None}], "responses": [{"custom": {"a": 1}}]},
]
BAD = [
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [], "responses": ["text, not an object"]},
    {"events": [{"event": "slot"}]},  # a slot event without its name
]
PATCHES = {patch.name: patch for patch in rasa_patches.PATCHES}


def rasa_original(reply) -> bool:
    try:
        jsonschema.validate(reply, RemoteAction.action_response_format_spec())
        return True
    except jsonschema.ValidationError:
        return False


@pytest.mark.parametrize("patch", rasa_patches.PATCHES, ids=lambda p: p.name)
def test_each_patched_method_is_the_code_the_patch_was_written_for(patch):
    # Fails after a Rasa upgrade that changes the method: re-read it, adapt the
    # replacement in bot/rasa_patches.py, then put the new hash there.
    digest = rasa_patches.source_sha256(patch.rasas_method())
    assert digest == patch.sha256, (
        f"Rasa's {patch.owner.__name__}.{patch.attribute} changed (sha256 {digest})"
    )
    assert rasa_patches.why_not(patch) is None


def test_installed_rasa_is_the_version_the_patches_were_written_for():
    assert rasa_patches.RASA_VERSION.startswith(rasa_patches.RASA_MINOR + ".")


def test_another_rasa_version_gets_no_patch():
    for patch in rasa_patches.PATCHES:
        assert "written for Rasa 3.6" in rasa_patches.why_not(patch, rasa_version="3.7.0")


def test_a_changed_method_is_left_alone(monkeypatch, caplog):
    patch = PATCHES["metadata_once"]
    monkeypatch.setattr(patch, "sha256", "0" * 64)
    monkeypatch.setattr(patch, "original", None)
    monkeypatch.setattr(patch, "replacement", None)
    monkeypatch.setattr(UserUttered, "as_dict", UserUttered.as_dict)
    before = UserUttered.as_dict
    assert "metadata_once" not in rasa_patches.apply()
    assert UserUttered.as_dict is before
    assert "not the code it was written for" in caplog.text


def test_the_channel_applies_the_patches_and_again_changes_nothing():
    SafeRestInput.from_credentials(None)
    assert all(patch.applied() for patch in rasa_patches.PATCHES)
    replaced = [patch.current() for patch in rasa_patches.PATCHES]
    assert sorted(rasa_patches.apply()) == sorted(PATCHES)
    assert [patch.current() for patch in rasa_patches.PATCHES] == replaced


@pytest.mark.parametrize("reply", GOOD + BAD)
def test_same_verdict_as_rasas_check(reply):
    rasa_patches.apply()
    action = RemoteAction("action_da_compare", None)
    expected = rasa_original(reply)
    if expected:
        assert action._validate_action_result(reply) is True
    else:
        with pytest.raises(
            jsonschema.ValidationError, match="Failed to validate Action server response"
        ):
            action._validate_action_result(reply)


def test_bad_examples_really_are_bad():
    assert all(rasa_original(r) for r in GOOD)
    assert not any(rasa_original(r) for r in BAD)


def test_user_event_keeps_its_metadata_once():
    rasa_patches.apply()
    event = UserUttered(
        "hi",
        {"name": "greet", "confidence": 1.0},
        parse_data={"intent": {"name": "greet"}, "metadata": {"language": "en"}},
        metadata={"language": "en"},
    )
    data = event.as_dict()
    assert data["metadata"] == {"language": "en"}
    assert "metadata" not in data["parse_data"] and data["parse_data"]["intent"]["name"] == "greet"
    assert event.parse_data["metadata"] == {"language": "en"}  # the event itself is unchanged
