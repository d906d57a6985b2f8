"""The cached SQLite tracker store stores and returns what Rasa's SQL store does.

Reference: a plain ``SQLTrackerStore`` reading the same database file, i.e.
what Rasa itself would see after a restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_store as tracker_store_module
from bot.tracker_store import CachedSQLTrackerStore
from scripts.servers import RasaServer, texts
from tests.conftest import new_sender

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def run(coroutine):
    return asyncio.run(coroutine)


def dicts(tracker):
    return [e.as_dict() for e in tracker.events] if tracker is not None else None


def turn(text: str, intent: str):
    return [
        UserUttered(text, {"name": intent, "confidence": 1.0}),
        ActionExecuted(f"utter_{intent}"),
        ActionExecuted("action_listen"),
    ]


async def talk(store, sender: str, *texts_and_intents):
    """What Rasa's processor does each turn: get or create, add events, save."""
    for text, intent in texts_and_intents:
        tracker = await store.get_or_create_tracker(sender)
        for event in turn(text, intent):
            tracker.update(event)
        await store.save(tracker)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "tracker.db")


def test_turns_are_stored_exactly_as_rasas_sql_store_reads_them(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet"), ("how much is it", "faq"), ("thanks", "thank")))
    cached = run(store.retrieve(sender))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    assert dicts(cached) == dicts(reference)
    assert [e.text for e in reference.events if isinstance(e, UserUttered)] == [
        "hi",
        "how much is it",
        "thanks",
    ]


def test_a_restarted_store_continues_the_conversation(db):
    sender = new_sender()
    run(
        talk(CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db), sender, ("hi", "greet"))
    )
    restarted = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    run(talk(restarted, sender, ("what is spravato", "faq")))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    assert [e.text for e in reference.events if isinstance(e, UserUttered)] == [
        "hi",
        "what is spravato",
    ]
    assert dicts(run(restarted.retrieve(sender))) == dicts(reference)


def test_evicted_senders_are_read_back_from_sqlite(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    first, second = new_sender(), new_sender()
    run(talk(store, first, ("hi", "greet")))
    store.cache_bytes = store.cached_bytes + 200  # room for about one conversation
    run(talk(store, second, ("hello", "greet")))  # evicts `first`
    assert store._get(first) is None
    run(talk(store, first, ("what is ketamine", "faq")))
    reference = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    for sender in (first, second):
        assert dicts(run(store.retrieve(sender))) == dicts(run(reference.retrieve(sender)))
    assert (
        len([e for e in run(reference.retrieve(first)).events if isinstance(e, UserUttered)]) == 2
    )


def test_the_cache_is_bounded_in_bytes(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, cache_bytes=20_000)
    for _ in range(40):
        run(talk(store, new_sender(), ("hi", "greet"), ("what is spravato", "faq")))
        assert store.cached_bytes <= 20_000
    assert 0 < len(store._cache) < 40
    assert store.cached_bytes == sum(entry.nbytes for entry in store._cache.values())


def test_two_processes_on_one_database_never_serve_a_stale_copy(db):
    """Replicas A and B alternate on one conversation: each sees the other's turns."""
    a = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    b = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    reference = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    said = []
    for i in range(8):
        store = (a, b)[i % 2]
        text = f"message {i}"
        said.append(text)
        run(talk(store, sender, (text, "faq")))
        for replica in (a, b):
            tracker = run(replica.retrieve(sender))
            assert dicts(tracker) == dicts(run(reference.retrieve(sender)))
            assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == said


def test_rows_deleted_by_another_process_are_not_served_from_the_cache(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet")))
    assert run(store.retrieve(sender)) is not None
    other = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    with other.session_scope() as session:
        session.query(other.SQLEvent).filter(other.SQLEvent.sender_id == sender).delete()
        session.commit()
    assert run(store.retrieve(sender)) is None
    run(talk(store, sender, ("hello again", "greet")))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    assert [e.text for e in reference.events if isinstance(e, UserUttered)] == ["hello again"]


def test_a_long_session_rolls_over_carrying_slots_and_the_form(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, max_session_events=12)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet")))
    tracker = run(store.retrieve(sender))
    tracker.update(SlotSet("da_context", "compare"))
    tracker.update(ActiveLoop("checklist_form"))
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    lengths = []
    for i in range(30):
        run(talk(store, sender, (f"question {i}", "faq")))
        lengths.append(len(run(store.retrieve(sender)).events))
    reference = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    latest = run(reference.retrieve(sender))
    assert max(lengths) <= 12 + 2 * 3  # bounded: threshold + a turn or two
    assert dicts(run(store.retrieve(sender))) == dicts(latest)
    assert latest.get_slot("da_context") == "compare"
    assert latest.active_loop_name == "checklist_form"
    starts = [
        e
        for e in run(reference.retrieve_full_tracker(sender)).events
        if isinstance(e, SessionStarted)
    ]
    assert len(starts) >= 5 and all(e.metadata.get("rollover") for e in starts)
    every = run(reference.retrieve_full_tracker(sender)).events
    assert [e.text for e in every if isinstance(e, UserUttered)] == ["hi"] + [
        f"question {i}" for i in range(30)
    ]  # nothing is dropped from the database


def test_an_expired_long_session_is_left_to_rasa(db, monkeypatch):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, max_session_events=9)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet"), ("one", "faq"), ("two", "faq")))
    later = time.time() + DOMAIN.session_config.session_expiration_time * 60 + 60
    monkeypatch.setattr(tracker_store_module.time, "time", lambda: later)
    tracker = run(store.retrieve(sender))
    assert not any(isinstance(e, SessionStarted) for e in tracker.events)
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["hi", "one", "two"]


def test_a_tracker_the_store_did_not_hand_out_is_saved_by_rasas_own_logic(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet")))
    other = DialogueStateTracker(sender, DOMAIN.slots)  # built elsewhere, own history
    for event in turn("hello", "greet") + [SlotSet("da_context", "compare")]:
        other.update(event)
    run(store.save(other))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    assert dicts(run(store.retrieve(sender))) == dicts(reference)
    assert len(reference.events) == 4  # Rasa's rule: events past the stored count


def test_only_the_latest_session_is_returned_like_rasas_store(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet")))
    tracker = run(store.retrieve(sender))
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    run(talk(store, sender, ("back again", "greet")))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    cached = run(store.retrieve(sender))
    assert dicts(cached) == dicts(reference)
    assert [e.text for e in cached.events if isinstance(e, UserUttered)] == ["back again"]


def test_unknown_sender_is_none(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    assert run(store.retrieve(new_sender())) is None


@pytest.mark.server
def test_the_server_continues_a_conversation_after_a_restart(action_server):
    """endpoints.yml's store, through `rasa run`: a returning visitor is not new."""
    server = RasaServer(action_port=action_server.port)
    sender = new_sender()
    try:
        server.start()
        first = texts(server.say(sender, "hi"))
        server.stop()
        server.start()
        second = texts(server.say(sender, "how much does an infusion cost"))
        log = server.log.read_text()
        stored = run(
            SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(server.tracker_db)).retrieve(
                sender
            )
        )
    finally:
        server.cleanup()
    assert "automated assistant" in first  # the first-turn introduction
    assert "automated assistant" not in second  # known visitor after the restart
    assert "not found" not in log  # Rasa silently uses memory for an unknown store type
    said = [e.text for e in stored.events if isinstance(e, UserUttered)]
    assert said == ["hi", "how much does an infusion cost"]


# The decision-aid conversation used to check that a rollover changes nothing
# the visitor sees: comparisons that depend on the options and topic in view,
# a multi-question form, and FAQ questions in between.
CONVERSATION = [
    "hi",
    "spravato vs IV",
    "what about insurance?",
    "and compounded?",
    "which is FDA approved?",
    "how much does an infusion cost",
    "candidate checklist",
    "yes",
    "no",
    "not sure",
    "yes",
    "no",
    "compare my options",
    "one topic at a time",
    "next",
    "next",
    "what about insurance?",
    "thanks",
]


def _replies(agent, sender, text):
    out = asyncio.run(agent.handle_text(text, sender_id=sender)) or []
    return [
        (
            r.get("text"),
            (r.get("custom") or {}).get("row_ids"),
            (r.get("custom") or {}).get("column_ids"),
        )
        for r in out
    ]


@pytest.mark.server
def test_a_rollover_changes_no_reply(tmp_path, model_path, action_server):
    """The same conversation with sessions rolled over every couple of turns and never."""
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    endpoint = EndpointConfig(f"{action_server.url}/webhook")
    results = {}
    for limit in (10_000, 8):
        store = CachedSQLTrackerStore(
            domain=DOMAIN,
            dialect="sqlite",
            db=str(tmp_path / f"{limit}.db"),
            max_session_events=limit,
        )
        agent = Agent.load(str(model_path), tracker_store=store, action_endpoint=endpoint)
        sender = new_sender()
        results[limit] = [_replies(agent, sender, text) for text in CONVERSATION]
        full = run(store.retrieve_full_tracker(sender))
        rollovers = [
            e for e in full.events if isinstance(e, SessionStarted) and e.metadata.get("rollover")
        ]
        results[f"{limit} rollovers"] = len(rollovers)
    assert results["10000 rollovers"] == 0 and results["8 rollovers"] >= 5
    for turn, (plain, rolled) in enumerate(zip(results[10_000], results[8], strict=True)):
        assert rolled == plain, (turn, CONVERSATION[turn])


# ---- privacy: file modes, deletion, retention ------------------------------------
def mode(path) -> int:
    import stat

    return stat.S_IMODE(Path(path).stat().st_mode)


def stored_texts(db: str, sender: str):
    import sqlite3

    return [
        row[0]
        for row in sqlite3.connect(db).execute(
            "select data from events where sender_id = ?", (sender,)
        )
    ]


def test_the_database_and_the_folder_made_for_it_are_private(tmp_path):
    db = tmp_path / "state" / "conversations" / "tracker.db"
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db))
    run(talk(store, new_sender(), ("hi", "greet")))
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        assert mode(str(db) + suffix) == 0o600


def test_an_old_world_readable_database_is_made_private(tmp_path, caplog):
    db = tmp_path / "tracker.db"
    run(
        talk(
            SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db)),
            new_sender(),
            ("hi", "greet"),
        )
    )
    db.chmod(0o644)
    tmp_path.chmod(0o755)
    CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db))
    assert mode(db) == 0o600
    assert mode(tmp_path) == 0o755, "a folder the store did not make is left as it is"
    assert "chmod 700" in caplog.text  # ...but the log says how to close it


def test_delete_removes_a_conversation_from_the_file_and_the_cache(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    gone, kept = new_sender(), new_sender()
    secret = "my-secret-words-" + gone
    run(talk(store, gone, (secret, "greet"), ("more", "faq")))
    run(talk(store, kept, ("hello", "greet")))
    assert run(store.retrieve(gone)) is not None  # cached
    run(store.delete(gone))
    assert run(store.retrieve(gone)) is None  # not in memory
    assert stored_texts(db, gone) == []  # not in the table
    reference = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    assert run(reference.retrieve(gone)) is None
    assert run(reference.retrieve(kept)) is not None  # others untouched
    for suffix in ("", "-wal"):  # not left in free pages or the log
        raw = Path(db + suffix).read_bytes() if Path(db + suffix).exists() else b""
        assert secret.encode() not in raw, suffix
    # A new message afterwards starts a new conversation with nothing old in it.
    run(talk(store, gone, ("again", "greet")))
    assert [e.text for e in run(reference.retrieve(gone)).events if isinstance(e, UserUttered)] == [
        "again"
    ]


def age(db: str, sender: str, days: float) -> None:
    import sqlite3

    with sqlite3.connect(db) as connection:
        connection.execute(
            "update events set timestamp = timestamp - ? where sender_id = ?",
            (days * 86_400, sender),
        )


def test_conversations_past_the_retention_are_purged_on_start(db):
    old, recent = new_sender(), new_sender()
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    run(talk(store, old, ("hi", "greet")))
    run(talk(store, recent, ("hi", "greet")))
    age(db, old, 31)
    age(db, recent, 29)
    CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)  # a restart
    assert stored_texts(db, old) == []
    assert stored_texts(db, recent) != []


def test_retention_is_configurable_and_can_be_off(db):
    sender = new_sender()
    run(
        talk(CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db), sender, ("hi", "greet"))
    )
    age(db, sender, 400)
    CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, retention_days=None)
    assert stored_texts(db, sender) != []
    CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, retention_days=500)
    assert stored_texts(db, sender) != []
    CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, retention_days=365)
    assert stored_texts(db, sender) == []


def test_the_running_store_purges_periodically_and_forgets_its_copy(db):
    async def scenario():
        store = CachedSQLTrackerStore(
            domain=DOMAIN, dialect="sqlite", db=db, purge_every_minutes=0.005
        )
        sender = new_sender()
        await talk(store, sender, ("old words", "greet"))
        assert await store.retrieve(sender) is not None  # cached copy
        age(db, sender, 31)
        await asyncio.sleep(1.0)  # a few purge rounds (0.3 s apart)
        purged = stored_texts(db, sender) == []
        await talk(store, sender, ("new words", "greet"))
        said = [e.text for e in (await store.retrieve(sender)).events if isinstance(e, UserUttered)]
        store._purge_task.cancel()
        return purged, said

    purged, said = run(scenario())
    assert purged
    assert said == ["new words"]  # the cached old conversation was not written back
