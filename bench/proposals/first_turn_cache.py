"""Answer "is this the visitor's first message?" without reading the tracker every turn.

bot.channels.SafeRestInput._is_first_turn reads the whole tracker from the
SQL store on every message (Rasa then reads it again): ~2.5 ms of each turn.
A sender that already had a turn in this process cannot be on its first turn,
so remembering recent senders skips that read for every later message; a
sender not in memory (new visitor, or after a restart) is still checked
against the store, so behaviour is unchanged.

Where it belongs: bot/channels.py, in SafeRestInput._is_first_turn
(a bounded OrderedDict of senders seen, filled after a successful check).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Text

from bot import channels

_SEEN: "OrderedDict[Text, None]" = OrderedDict()
_MAX = 50_000
_original = channels.SafeRestInput._is_first_turn


async def _is_first_turn(agent: Any, sender: Text) -> bool:
    if sender in _SEEN:
        _SEEN.move_to_end(sender)
        return False
    first = await _original(agent, sender)
    _SEEN[sender] = None          # after this turn the sender is no longer new
    if len(_SEEN) > _MAX:
        _SEEN.popitem(last=False)
    return first


channels.SafeRestInput._is_first_turn = staticmethod(_is_first_turn)
