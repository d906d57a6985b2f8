"""Client metadata is stored once per message, not twice.

Rasa 3.6 gives a message's ``metadata`` to the NLU pipeline, which copies it
into the message's parse data, so every stored user event carried it twice:
in ``metadata`` and again in ``parse_data.metadata``. Nothing in Rasa or in this
bot reads the second copy back, so it is left out when an event is written
(tracker store, event broker, the tracker sent to the action server). The
event's own ``metadata`` is unchanged.

Applied when the REST channel is loaded (bot/channels.py), like rasa_speedups.
"""
from __future__ import annotations

from typing import Any, Dict, Text

from rasa.shared.core.events import UserUttered

_original_as_dict = UserUttered.as_dict


def _as_dict_metadata_once(self: UserUttered) -> Dict[Text, Any]:
    data = _original_as_dict(self)
    parse_data = data.get("parse_data")
    if isinstance(parse_data, dict) and "metadata" in parse_data:
        data["parse_data"] = {k: v for k, v in parse_data.items() if k != "metadata"}
    return data


def apply() -> None:
    UserUttered.as_dict = _as_dict_metadata_once
