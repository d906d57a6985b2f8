"""The project's two changes to Rasa's own code, applied in one explicit place.

Rasa 3.6 has no setting or hook for either, so each replaces one Rasa method.
Importing this module changes nothing: ``apply()`` does, and the REST channel
calls it when Rasa builds the channel from credentials.yml
(``SafeRestInput.from_credentials``), i.e. in every ``rasa run`` of this bot,
alone or as a cluster replica.

Each patch was written for one Rasa minor version and one exact source of the
method it replaces (its SHA-256 below). ``apply()`` leaves Rasa as it is, with a
warning, when the installed version or the method's source differs, and
tests/test_rasa_patches.py fails, so an upgrade cannot silently keep a patch
written for other code. After reading the new method: adapt the replacement,
then the hash (``source_sha256(...)`` prints it).

- ``action_reply_check`` (speed): Rasa checks every action-server reply with
  ``jsonschema.validate(reply, schema)``, which first re-checks Rasa's large
  event schema itself, on every call: 25-90 ms per custom-action call on the
  2-core benchmark machine (bench/results/profile.md). The validator is built
  once from the same schema, so replies are checked exactly as before (same
  schema, same ValidationError and message).
- ``metadata_once`` (privacy): Rasa gives a message's ``metadata`` to the NLU
  pipeline, which copies it into the parse data, so every stored user event
  carried it twice. Nothing in Rasa or in this bot reads the second copy, so it
  is left out when an event is written (tracker store, event broker, the
  tracker sent to the action server); the event's own ``metadata`` is kept.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Text

from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import UserUttered
from rasa.version import __version__ as RASA_VERSION

logger = logging.getLogger(__name__)

# The Rasa minor version the patches were written for (3.6.21 when written).
RASA_MINOR = "3.6"


@dataclass
class Patch:
    name: str
    owner: type
    attribute: str
    # SHA-256 of inspect.getsource of the method as Rasa ships it.
    sha256: str
    # Builds the replacement from Rasa's original method.
    build: Callable[[Callable[..., Any]], Callable[..., Any]]
    original: Optional[Callable[..., Any]] = None
    replacement: Optional[Callable[..., Any]] = None

    def current(self) -> Callable[..., Any]:
        return getattr(self.owner, self.attribute)

    def rasas_method(self) -> Callable[..., Any]:
        """Rasa's own method, whether or not the patch is applied."""
        return self.original if self.applied() else self.current()

    def applied(self) -> bool:
        return self.replacement is not None and self.current() is self.replacement


def source_sha256(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()


# ---- action_reply_check --------------------------------------------------------


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


# ---- metadata_once -------------------------------------------------------------


def _metadata_once(original: Callable[[UserUttered], Dict[Text, Any]]) -> Callable[..., Any]:
    def as_dict(self: UserUttered) -> Dict[Text, Any]:
        data = original(self)
        parse_data = data.get("parse_data")
        if isinstance(parse_data, dict) and "metadata" in parse_data:
            data["parse_data"] = {k: v for k, v in parse_data.items() if k != "metadata"}
        return data

    return as_dict


PATCHES: List[Patch] = [
    Patch(
        name="action_reply_check",
        owner=RemoteAction,
        attribute="_validate_action_result",
        sha256="f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42",
        build=lambda original: _validate_action_result,
    ),
    Patch(
        name="metadata_once",
        owner=UserUttered,
        attribute="as_dict",
        sha256="41fba9114a9f5cd73eb198893aed013db56160dedb7fc80e2d69b0dc32c17f2d",
        build=_metadata_once,
    ),
]


def why_not(patch: Patch, rasa_version: Text = RASA_VERSION) -> Optional[str]:
    """Why the patch must not be applied to this Rasa (None: it may)."""
    if ".".join(rasa_version.split(".")[:2]) != RASA_MINOR:
        return f"written for Rasa {RASA_MINOR}, this is Rasa {rasa_version}"
    method = patch.rasas_method()
    try:
        digest = source_sha256(method)
    except (OSError, TypeError):
        return f"the source of {patch.owner.__name__}.{patch.attribute} cannot be read"
    if digest != patch.sha256:
        return f"{patch.owner.__name__}.{patch.attribute} is not the code it was written for"
    return None


def apply() -> List[str]:
    """Applies each patch that fits the installed Rasa (twice: no change); returns their names."""
    applied = []
    for patch in PATCHES:
        if patch.applied():
            applied.append(patch.name)
            continue
        reason = why_not(patch)
        if reason:
            logger.warning(
                "Rasa patch %s not applied: %s (bot/rasa_patches.py)", patch.name, reason
            )
            continue
        patch.original = patch.current()
        patch.replacement = patch.build(patch.original)
        setattr(patch.owner, patch.attribute, patch.replacement)
        applied.append(patch.name)
    return applied
