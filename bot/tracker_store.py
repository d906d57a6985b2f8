"""Rasa's SQL tracker store with a validated read cache and bounded sessions.

Used with SQLite by `make run` (one process) and with PostgreSQL by
`make cluster` (several Rasa replicas on one database, endpoints.cluster.yml).

Rasa's SQLTrackerStore reads every event of the conversation session back on
every message (twice: once to rebuild the tracker, once more to count what is
already stored before saving). This store:

- **keeps the latest session's events in memory, but never trusts them
  blindly.** Each retrieve runs one indexed query for the rows written after
  the last event it holds (plus the first and last rows it holds, to notice a
  deleted conversation). When this process wrote the previous turn the query
  returns nothing new; when another replica did, it returns just that turn.
  So a replica never answers from a copy another replica has changed.
- **bounds the cache in bytes** (``cache_bytes``, least recently used senders
  go first), not in senders.
- **bounds the session a turn works on.** Rasa rebuilds the tracker and the
  policies walk the whole session every turn, so a turn's cost grows with the
  session's length. When the session holds ``max_session_events`` events or
  more (and has not expired), the next turn starts from a *rollover* session
  instead: ``action_session_start``, ``SessionStarted`` marked
  ``{"rollover": true}``, the current slot values, the active form, and
  ``action_listen``, stored together with that turn. Nothing the dialogue
  uses is lost (rules condition on slots and the active loop, not on older
  turns), every event stays in the database, and the REST channel does not
  greet a visitor again for a rollover.
- writes each turn with one INSERT, as before, and records for each stored
  user message whether it opened a conversation session (see
  ``session_opened``), which is what the REST channel's first-turn
  introduction is decided from.
- with PostgreSQL, checks pooled connections before use (``pool_pre_ping``),
  so replicas carry on after the database restarts.

Deleting rows in another process (a retention purge, a deleted conversation)
is noticed by the validation query; code in this process that deletes rows
should also call ``forget(sender_id)``.

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
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
# A session of this many events is rolled over before the next turn
# (roughly 10-25 turns, depending on how many slots a turn sets).
DEFAULT_MAX_SESSION_EVENTS = 120
ROLLOVER = "rollover"
# Per-event bookkeeping in the cache, on top of the event's JSON text.
_EVENT_OVERHEAD_BYTES = 120
_MAX_OPENER_NOTES = 4096
_INSERT_CHUNK = 200
RETENTION_DAYS = 30
PURGE_EVERY_MINUTES = 60


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL + synchronous=NORMAL: a commit no longer waits for a full fsync of the
    # database file; committed turns survive a crash of the process.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _Session:
    """The latest session of one sender as stored, plus what retrieve handed out."""

    __slots__ = ("events", "types", "first_id", "last_id", "nbytes", "handed", "unsaved")

    def __init__(
        self, events: List[Text], types: List[Text], first_id: Optional[int], last_id: Optional[int]
    ) -> None:
        self.events = events  # JSON text of each event, as stored
        self.types = types  # their type names
        self.first_id = first_id  # row id of events[0] (None: nothing stored)
        self.last_id = last_id  # row id of events[-1]
        self.nbytes = sum(map(len, events)) + _EVENT_OVERHEAD_BYTES * (len(events) + 1)
        # What the last retrieve returned (a rollover session is not stored
        # yet: its `unsaved` leading events go to the database with the turn).
        self.handed: Optional[List[Text]] = None
        self.unsaved = 0


def _trim_to_latest_session(
    events: List[Text], types: List[Text], ids: List[Optional[int]]
) -> Tuple[List[Text], List[Text], List[Optional[int]]]:
    """Like SQLTrackerStore.retrieve: only the latest session is kept."""
    for i in range(len(types) - 1, -1, -1):
        if types[i] == SessionStarted.type_name:
            return events[i:], types[i:], ids[i:]
    return events, types, ids


class CachedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; validated cache, bounded sessions (see module doc)."""

    def __init__(
        self,
        *args: Any,
        cache_bytes: Any = DEFAULT_CACHE_BYTES,
        max_session_events: Any = DEFAULT_MAX_SESSION_EVENTS,
        shared: Any = None,
        retention_days: Optional[float] = RETENTION_DAYS,
        purge_every_minutes: float = PURGE_EVERY_MINUTES,
        **kwargs: Any,
    ) -> None:
        _create_private_sqlite_file(kwargs)  # before SQLAlchemy creates it world-readable
        super().__init__(*args, **kwargs)
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            self._reuse_sqlite_connections()
        elif dialect == "postgresql":
            self._check_connections_before_use()
        # A store other processes also write to. Decides whether a failure to
        # read or write it stops the turn (bot.channels answers 503) instead
        # of Rasa's silent fallback to a per-process in-memory store.
        self.shared = (
            dialect != "sqlite" if shared is None else str(shared).lower() in ("1", "true", "yes")
        )
        self.cache_bytes = int(cache_bytes)
        self.max_session_events = int(max_session_events)
        self._ensure_indexes()
        self._cache: OrderedDict[Text, _Session] = OrderedDict()
        self._cached_bytes = 0
        self._openers: OrderedDict[Text, bool] = OrderedDict()
        self._guard = threading.Lock()
        self._start_retention(retention_days, purge_every_minutes)

    # -- engine set-up ----------------------------------------------------
    def _reuse_sqlite_connections(self) -> None:
        """SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool).

        Rasa's store is used from the server's one event-loop thread; a small
        pool keeps the connection open (what SQLAlchemy 2.0 does by default).
        """
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,
            pool_size=1,
            max_overflow=4,
            connect_args={"check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _check_connections_before_use(self) -> None:
        """PostgreSQL: test a pooled connection before use, reconnect if it died.

        After a database restart every pooled connection is dead; without the
        check each one fails one turn before SQLAlchemy drops it.
        """
        url = self.engine.url
        self.engine.dispose()
        kwargs = create_engine_kwargs(url)
        kwargs.setdefault("connect_args", {})["connect_timeout"] = int(
            os.environ.get("POSTGRESQL_CONNECT_TIMEOUT", "3")
        )
        self.engine = sa.create_engine(url, pool_pre_ping=True, **kwargs)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _ensure_indexes(self) -> None:
        """(sender_id, id) and (sender_id, type_name, id): every query here is an index range."""
        table = self.SQLEvent.__tablename__
        for name, columns in (
            ("ix_events_sender_id_id", "sender_id, id"),
            ("ix_events_sender_type_id", "sender_id, type_name, id"),
        ):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
                    )
            except sa.exc.DBAPIError as error:  # another replica created it at the same moment
                logger.debug(f"Index {name} not created: {error}")

    # -- cache bookkeeping --------------------------------------------------
    def _get(self, sender_id: Text) -> Optional[_Session]:
        with self._guard:
            entry = self._cache.get(sender_id)
            if entry is not None:
                self._cache.move_to_end(sender_id)
            return entry

    def _put(self, sender_id: Text, entry: _Session) -> None:
        with self._guard:
            old = self._cache.pop(sender_id, None)
            if old is not None:
                self._cached_bytes -= old.nbytes
            if entry.nbytes > self.cache_bytes:
                return  # larger than the whole cache: read from the database each time
            self._cache[sender_id] = entry
            self._cached_bytes += entry.nbytes
            while self._cached_bytes > self.cache_bytes and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= evicted.nbytes

    def forget(self, sender_id: Text) -> None:
        """Drops the cached copy (call after deleting a sender's rows in this process)."""
        with self._guard:
            old = self._cache.pop(sender_id, None)
            if old is not None:
                self._cached_bytes -= old.nbytes

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    # -- reading -------------------------------------------------------------
    def _load(self, sender_id: Text) -> _Session:
        """The latest session as stored now: the cached copy brought up to date, or a fresh read."""
        entry = self._get(sender_id)
        table = self.SQLEvent.__tablename__
        with self.session_scope() as session:
            if entry is not None and entry.last_id is not None:
                rows = session.execute(
                    sa.text(
                        f"SELECT id, type_name, CASE WHEN id > :last THEN data END AS data "
                        f"FROM {table} WHERE sender_id = :sender "
                        f"AND (id > :last OR id = :first OR id = :last) ORDER BY id"
                    ),
                    {"sender": sender_id, "last": entry.last_id, "first": entry.first_id},
                ).fetchall()
                ids = {row.id for row in rows if row.id <= entry.last_id}
                if entry.first_id in ids and entry.last_id in ids:
                    delta = [row for row in rows if row.id > entry.last_id]
                    if not delta:
                        return entry
                    updated = self._extend(
                        entry,
                        [r.data for r in delta],
                        [r.type_name for r in delta],
                        [r.id for r in delta],
                    )
                    self._put(sender_id, updated)
                    return updated
                # Rows this copy starts or ends with are gone: deleted elsewhere.
            start = session.execute(
                sa.text(
                    f"SELECT max(id) FROM {table} WHERE sender_id = :sender AND type_name = :type"
                ),
                {"sender": sender_id, "type": SessionStarted.type_name},
            ).scalar()
            rows = session.execute(
                sa.text(
                    f"SELECT id, type_name, data FROM {table} "
                    f"WHERE sender_id = :sender AND id >= :start ORDER BY id"
                ),
                {"sender": sender_id, "start": start or 0},
            ).fetchall()
        ids = [r.id for r in rows]
        fresh = _Session(
            [r.data for r in rows],
            [r.type_name for r in rows],
            ids[0] if ids else None,
            ids[-1] if ids else None,
        )
        self._put(sender_id, fresh)
        return fresh

    @staticmethod
    def _extend(
        entry: _Session, texts: List[Text], types: List[Text], ids: Sequence[int]
    ) -> _Session:
        """The stored session followed by newer rows (a session start among them starts it anew)."""
        old_ids: List[Optional[int]] = (
            [entry.first_id] + [None] * (len(entry.events) - 1) if entry.events else []
        )
        events, kinds, all_ids = _trim_to_latest_session(
            entry.events + list(texts), entry.types + list(types), old_ids + list(ids)
        )
        return _Session(
            events, kinds, all_ids[0] if all_ids else None, ids[-1] if ids else entry.last_id
        )

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        entry = self._load(sender_id)
        handed, unsaved = entry.events, 0
        if self.domain is not None and self._should_roll_over(entry):
            rolled = self.rollover_events(self._tracker(sender_id, entry.events))
            handed, unsaved = [json.dumps(e.as_dict()) for e in rolled], len(rolled)
        entry.handed, entry.unsaved = handed, unsaved
        if not handed or self.domain is None:
            return None
        return self._tracker(sender_id, handed)

    def _tracker(self, sender_id: Text, events: List[Text]) -> DialogueStateTracker:
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(e) for e in events], self.domain.slots
        )

    def _should_roll_over(self, entry: _Session) -> bool:
        if len(entry.events) < self.max_session_events or not entry.events:
            return False
        last = json.loads(entry.events[-1])
        if last.get("event") != "action" or last.get("name") != ACTION_LISTEN_NAME:
            return False  # only between turns
        config = self.domain.session_config
        if config.are_sessions_enabled():
            for text, kind in zip(reversed(entry.events), reversed(entry.types), strict=True):
                if kind == "user":
                    idle = time.time() - (json.loads(text).get("timestamp") or 0)
                    if idle > config.session_expiration_time * 60:
                        return False  # Rasa starts a real new session instead
                    break
        return True

    @staticmethod
    def rollover_events(tracker: DialogueStateTracker) -> List[Any]:
        """A new session that carries the conversation's state: slots and active form."""
        now = time.time()
        step = iter(range(10_000))

        def ts() -> float:
            return now + next(step) * 1e-4

        events: List[Any] = [
            ActionExecuted(ACTION_SESSION_START_NAME, timestamp=ts()),
            SessionStarted(metadata={ROLLOVER: True}, timestamp=ts()),
        ]
        for slot in tracker.slots.values():
            if slot.value != slot.initial_value:
                events.append(SlotSet(slot.name, slot.value, timestamp=ts()))
        if tracker.active_loop_name:
            events.append(ActiveLoop(tracker.active_loop_name, timestamp=ts()))
        events.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=ts()))
        return events

    # -- writing -------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        entry = self._get(sender_id)
        events = list(tracker.events)
        if entry is None or entry.handed is None or not self._extends(events, entry.handed):
            # Not a tracker we handed out: let Rasa work out what is new.
            self.forget(sender_id)
            await super().save(tracker)
            return
        handed = entry.handed
        new = events[len(handed) :]
        texts = handed[len(handed) - entry.unsaved :] + [json.dumps(e.as_dict()) for e in new]
        if not texts:
            return
        dicts = [json.loads(t) for t in texts]
        await self.stream_events(tracker)
        ids = self._insert(sender_id, dicts, texts)
        self._note_openers(dicts)
        types = [d.get("event") for d in dicts]
        updated = self._extend(entry, texts, types, ids)
        # The tracker Rasa holds is now what was handed out plus what was
        # added; a second save of it in the same turn adds only what follows.
        added = texts[entry.unsaved :]
        if not entry.unsaved and not _has_start(types) and handed is entry.events:
            updated.handed = updated.events
        else:
            updated.handed = handed + added
        self._put(sender_id, updated)

    @staticmethod
    def _extends(events: List[Any], handed: List[Text]) -> bool:
        """True when the tracker holds what retrieve handed out, followed by new events."""
        if len(events) < len(handed):
            return False
        return not handed or events[len(handed) - 1].timestamp == json.loads(handed[-1]).get(
            "timestamp"
        )

    def _insert(
        self, sender_id: Text, dicts: List[Dict[Text, Any]], texts: List[Text]
    ) -> List[int]:
        """The same rows SQLTrackerStore.save writes, in one INSERT; returns their ids."""
        table = self.SQLEvent.__table__
        rows = [
            {
                "sender_id": sender_id,
                "type_name": data.get("event"),
                "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                "action_name": data.get("name"),
                "data": text,
            }
            for data, text in zip(dicts, texts, strict=True)
        ]
        ids: List[int] = []
        with self.session_scope() as session:
            for i in range(0, len(rows), _INSERT_CHUNK):
                chunk = rows[i : i + _INSERT_CHUNK]
                if self.engine.dialect.name == "postgresql":
                    result = session.execute(table.insert().values(chunk).returning(table.c.id))
                    ids += [row[0] for row in result]
                else:
                    # SQLite: one writer at a time, so one statement's rowids are consecutive.
                    result = session.execute(table.insert().values(chunk))
                    last = result.lastrowid
                    ids += list(range(last - len(chunk) + 1, last + 1))
            session.commit()
        return ids

    # -- first turn of a session --------------------------------------------
    def _note_openers(self, dicts: List[Dict[Text, Any]]) -> None:
        """For each stored user message: did a (non-rollover) session start in this same
        write, before it?"""
        started = False
        with self._guard:
            for data in dicts:
                kind = data.get("event")
                if kind == "session_started":
                    started = not (data.get("metadata") or {}).get(ROLLOVER)
                elif kind == "user":
                    message_id = data.get("message_id")
                    if message_id:
                        self._openers[message_id] = started
                        self._openers.move_to_end(message_id)
                    started = False
            while len(self._openers) > _MAX_OPENER_NOTES:
                self._openers.popitem(last=False)

    def session_opened(self, message_id: Optional[Text]) -> Optional[bool]:
        """Whether the turn of this user message started a conversation session.

        Decided when the turn was written to the store (under the conversation's
        lock): True when Rasa started a session in that turn before the message
        (a new visitor, or one back after the session expiry), False for any
        other turn, including a rollover. None when this process did not write it.
        """
        if not message_id:
            return None
        with self._guard:
            return self._openers.pop(message_id, None)

    # -- privacy: deletion and retention ------------------------------------
    async def delete(self, sender_id: Text) -> None:
        """Deletes every stored event of one conversation and the cached copy."""
        self.forget(sender_id)
        with self.session_scope() as session:
            session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id).delete(
                synchronize_session=False
            )
            session.commit()
        self.forget(sender_id)  # in case a read cached it meanwhile
        self._empty_write_ahead_log()

    def purge_older_than(self, cutoff: float) -> int:
        """Deletes conversations whose latest event is older than ``cutoff`` (a Unix time)."""
        event = self.SQLEvent
        with self.session_scope() as session:
            stale = [
                row[0]
                for row in session.query(event.sender_id)
                .group_by(event.sender_id)
                .having(sa.func.max(event.timestamp) < cutoff)
            ]
            for start in range(0, len(stale), 500):  # SQLite's limit on bound values
                session.query(event).filter(event.sender_id.in_(stale[start : start + 500])).delete(
                    synchronize_session=False
                )
            session.commit()
        for sender_id in stale:
            self.forget(sender_id)
        if stale:
            self._empty_write_ahead_log()
        return len(stale)

    def purge_expired(self) -> int:
        """Deletes the conversations past the retention period (none if it is off)."""
        if not self.retention_days:
            return 0
        count = self.purge_older_than(time.time() - self.retention_days * 86_400)
        if count:
            logger.info(
                "Deleted %d conversation(s) older than %g days.", count, self.retention_days
            )
        return count

    def _start_retention(self, retention_days: Optional[float], every_minutes: float) -> None:
        self.retention_days = float(retention_days) if retention_days else None
        self._purge_every = float(every_minutes) * 60
        self._purge_task: Optional[asyncio.Task[None]] = None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _secure_delete)
            _tighten_sqlite_files(self.engine.url.database)
        self.purge_expired()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside a server (scripts, tests): purge on start only
        if self.retention_days and self._purge_every > 0:
            self._purge_task = loop.create_task(self._purge_periodically())

    async def _purge_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._purge_every)
            try:
                self.purge_expired()
            except Exception:  # the next round tries again; the bot keeps answering
                logger.exception("Deleting old conversations failed.")

    def _empty_write_ahead_log(self) -> None:
        """Copies the WAL into the database and truncates it, so deleted pages leave the disk."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))


def _has_start(types: List[Text]) -> bool:
    return SessionStarted.type_name in types


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
        for folder in reversed(missing):  # mkdir(parents=True) would not give the parents 0700
            folder.mkdir(mode=0o700)
    elif path.parent.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # A folder the store did not make is not changed (it may be shared,
        # like /tmp); the files in it are still private.
        logger.warning(
            "The folder %s can be read by other users; the conversation files in it "
            "cannot. To close the folder too: chmod 700 %s",
            path.parent,
            path.parent,
        )
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
        except OSError as error:  # not ours to change: say so, keep serving
            logger.warning("Could not make %s private (%s).", path, error)
