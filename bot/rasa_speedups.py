"""One measured speed fix for Rasa 3.6, applied when the REST channel is loaded.

Rasa checks every action-server reply with ``jsonschema.validate(reply, schema)``,
which first re-checks Rasa's large event schema itself, on every call: 25-90 ms
per custom-action call on the 2-core benchmark machine, the biggest cost of a
decision-aid turn (bench/results/profile.md). Here the validator is built once
from the same schema, so replies are checked exactly as before (same schema,
same ValidationError and message) in ~1 ms.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Text

from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@functools.lru_cache(maxsize=1)
def action_reply_validator() -> Any:
    import jsonschema

    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)  # what jsonschema.validate did every call
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    from jsonschema import ValidationError

    try:
        action_reply_validator().validate(result)
        return True
    except ValidationError as e:
        e.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise e


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result
