"""SQLite tracker store with an in-process read cache.

Rasa's SQLTrackerStore reads every event of the conversation back from SQLite
on every message (twice: once to rebuild the tracker, once more to count what is
already stored before saving) and opens a new SQLite connection each time. In
the profile that was ~9 ms of a ~38 ms turn (bench/results/profile.md).

This store keeps what Rasa's ``retrieve`` would return (the events of the
latest conversation session) in memory for recently active senders, and still
writes every new event to SQLite before the reply is sent, so a conversation
continues after a restart exactly as before. Senders not in memory (a restart,
or evicted from the bounded cache) are read from SQLite as Rasa does.

It assumes one Rasa process owns the database, which is what the in-memory lock
store already requires (one Sanic worker).
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

MAX_CACHED_SENDERS = 20_000


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL + synchronous=NORMAL: a commit no longer waits for a full fsync of the
    # database file; committed turns survive a crash of the process.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class CachedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; reads of active conversations come from memory."""

    def __init__(self, *args: Any, max_cached_senders: int = MAX_CACHED_SENDERS,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._reuse_sqlite_connections()
        # sender -> the latest session's events as stored (JSON text, one per
        # event): a retrieve builds fresh objects, so nothing is shared with a
        # tracker Rasa is changing.
        self._cache: "OrderedDict[Text, List[Text]]" = OrderedDict()
        self._max = max_cached_senders
        self._guard = threading.Lock()

    def _reuse_sqlite_connections(self) -> None:
        """SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool).

        Rasa's store is used from the server's one event-loop thread; a small
        pool keeps the connection open (what SQLAlchemy 2.0 does by default).
        """
        import sqlalchemy as sa

        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
            connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    # -- cache helpers ----------------------------------------------------
    def _cached(self, sender_id: Text) -> Optional[List[Text]]:
        with self._guard:
            events = self._cache.get(sender_id)
            if events is not None:
                self._cache.move_to_end(sender_id)
            return events

    def _remember(self, sender_id: Text, events: List[Text], types: List[Text]) -> None:
        # Like SQLTrackerStore.retrieve: only the latest session is returned.
        starts = [i for i, name in enumerate(types) if name == SessionStarted.type_name]
        if starts:
            events = events[starts[-1]:]
        with self._guard:
            self._cache[sender_id] = events
            self._cache.move_to_end(sender_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)

    def _forget(self, sender_id: Text) -> None:
        with self._guard:
            self._cache.pop(sender_id, None)

    # -- TrackerStore API -------------------------------------------------
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        stored = self._cached(sender_id)
        if stored is None:
            tracker = await super().retrieve(sender_id)
            events = list(tracker.events) if tracker is not None else []
            self._remember(sender_id, [json.dumps(e.as_dict()) for e in events],
                           [e.type_name for e in events])
            return tracker
        if not stored or self.domain is None:
            return None
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(e) for e in stored], self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        stored = self._cached(sender_id)
        events = list(tracker.events)
        if stored is None or not self._extends(events, stored):
            # Not a tracker we handed out: let Rasa work out what is new.
            self._forget(sender_id)
            await super().save(tracker)
            return
        new = events[len(stored):]
        dicts = [e.as_dict() for e in new]
        serialised = [json.dumps(d) for d in dicts]
        if new:
            await self.stream_events(tracker)
            self._insert(sender_id, new, dicts, serialised)
        self._remember(sender_id, stored + serialised,
                       [""] * len(stored) + [e.type_name for e in new])

    @staticmethod
    def _extends(events: List[Any], stored: List[Text]) -> bool:
        """True when the tracker holds the stored events followed by new ones."""
        if len(events) < len(stored):
            return False
        return not stored or events[len(stored) - 1].timestamp == json.loads(stored[-1]).get("timestamp")

    def _insert(self, sender_id: Text, events: List[Any], dicts: List[Dict[Text, Any]],
                serialised: List[Text]) -> None:
        # The same rows SQLTrackerStore.save writes, in one INSERT.
        rows = [
            {
                "sender_id": sender_id,
                "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                "action_name": data.get("name"),
                "data": text,
            }
            for event, data, text in zip(events, dicts, serialised)
        ]
        with self.session_scope() as session:
            session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
