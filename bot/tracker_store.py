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

Privacy (the methods after the TrackerStore API): an SQLite database and the
folders made for it are private to the service user (0600 / 0700);
conversations whose last event is older than ``retention_days`` (endpoints.yml,
default 30) are deleted when the store starts and every ``purge_every_minutes``
after; ``delete`` removes one conversation. Deleted rows are overwritten in the
file (SQLite's secure_delete) and the write-ahead log is emptied afterwards, so
the words are gone from the disk too, not only from the tables.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

MAX_CACHED_SENDERS = 20_000
RETENTION_DAYS = 30
PURGE_EVERY_MINUTES = 60

logger = logging.getLogger(__name__)


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
                 retention_days: Optional[float] = RETENTION_DAYS,
                 purge_every_minutes: float = PURGE_EVERY_MINUTES, **kwargs: Any) -> None:
        _create_private_sqlite_file(kwargs)   # before SQLAlchemy creates it world-readable
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._reuse_sqlite_connections()
        # sender -> the latest session's events as stored (JSON text, one per
        # event): a retrieve builds fresh objects, so nothing is shared with a
        # tracker Rasa is changing.
        self._cache: "OrderedDict[Text, List[Text]]" = OrderedDict()
        self._max = max_cached_senders
        self._guard = threading.Lock()
        self._start_retention(retention_days, purge_every_minutes)

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

    # -- privacy: deletion and retention ------------------------------------
    async def delete(self, sender_id: Text) -> None:
        """Deletes every stored event of one conversation and the cached copy."""
        self._forget(sender_id)
        with self.session_scope() as session:
            session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id).delete(
                synchronize_session=False)
            session.commit()
        self._forget(sender_id)   # in case a read cached it meanwhile
        self._empty_write_ahead_log()

    def purge_older_than(self, cutoff: float) -> int:
        """Deletes conversations whose latest event is older than ``cutoff`` (a Unix time)."""
        import sqlalchemy as sa

        event = self.SQLEvent
        with self.session_scope() as session:
            stale = [row[0] for row in session.query(event.sender_id).group_by(event.sender_id)
                     .having(sa.func.max(event.timestamp) < cutoff)]
            for start in range(0, len(stale), 500):   # SQLite's limit on bound values
                session.query(event).filter(event.sender_id.in_(stale[start:start + 500])).delete(
                    synchronize_session=False)
            session.commit()
        for sender_id in stale:
            self._forget(sender_id)
        if stale:
            self._empty_write_ahead_log()
        return len(stale)

    def purge_expired(self) -> int:
        """Deletes the conversations past the retention period (none if it is off)."""
        if not self.retention_days:
            return 0
        count = self.purge_older_than(time.time() - self.retention_days * 86_400)
        if count:
            logger.info("Deleted %d conversation(s) older than %g days.", count, self.retention_days)
        return count

    def _start_retention(self, retention_days: Optional[float], every_minutes: float) -> None:
        self.retention_days = float(retention_days) if retention_days else None
        self._purge_every = float(every_minutes) * 60
        self._purge_task: Optional["asyncio.Task[None]"] = None
        if self.engine.dialect.name == "sqlite":
            import sqlalchemy as sa

            sa.event.listen(self.engine, "connect", _secure_delete)
            _tighten_sqlite_files(self.engine.url.database)
        self.purge_expired()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return   # built outside a server (scripts, tests): purge on start only
        if self.retention_days and self._purge_every > 0:
            self._purge_task = loop.create_task(self._purge_periodically())

    async def _purge_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._purge_every)
            try:
                self.purge_expired()
            except Exception:   # the next round tries again; the bot keeps answering
                logger.exception("Deleting old conversations failed.")

    def _empty_write_ahead_log(self) -> None:
        """Copies the WAL into the database and truncates it, so deleted pages leave the disk."""
        if self.engine.dialect.name != "sqlite":
            return
        import sqlalchemy as sa

        with self.engine.connect() as connection:
            connection.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))


def _secure_delete(dbapi_connection: Any, _: Any) -> None:
    # Deleted rows are overwritten with zeros instead of left in free pages.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_path(kwargs: Dict[Text, Any]) -> Optional[Path]:
    """The database file SQLTrackerStore will open, for an SQLite store on disk."""
    if (kwargs.get("dialect") or "sqlite") != "sqlite":
        return None
    db = kwargs.get("db") or "rasa.db"
    return None if db == ":memory:" else Path(db)


def _create_private_sqlite_file(kwargs: Dict[Text, Any]) -> None:
    """Creates the folders (0700) and the empty database file (0600) if missing."""
    path = _sqlite_path(kwargs)
    if path is None:
        return
    missing = [folder for folder in [path.parent, *path.parent.parents] if not folder.exists()]
    if missing:
        for folder in reversed(missing):   # mkdir(parents=True) would not give the parents 0700
            folder.mkdir(mode=0o700)
    elif path.parent.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # A folder the store did not make is not changed (it may be shared,
        # like /tmp); the files in it are still private.
        logger.warning("The folder %s can be read by other users; the conversation files in it "
                       "cannot. To close the folder too: chmod 700 %s", path.parent, path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _tighten_sqlite_files(database: Optional[Text]) -> None:
    """0600 for the database and its journal files (older files may be 0644)."""
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(database + suffix)
        try:
            if path.exists() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                path.chmod(0o600)
        except OSError as error:   # not ours to change: say so, keep serving
            logger.warning("Could not make %s private (%s).", path, error)
