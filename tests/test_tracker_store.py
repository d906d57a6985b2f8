"""The cached SQLite tracker store stores and returns what Rasa's SQL store does.

Reference: a plain ``SQLTrackerStore`` reading the same database file, i.e.
what Rasa itself would see after a restart.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import CachedSQLTrackerStore
from tests.conftest import new_sender
from tests.servers import RasaServer, texts

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def run(coroutine):
    return asyncio.run(coroutine)


def dicts(tracker):
    return [e.as_dict() for e in tracker.events] if tracker is not None else None


def turn(text: str, intent: str):
    return [UserUttered(text, {"name": intent, "confidence": 1.0}),
            ActionExecuted(f"utter_{intent}"), ActionExecuted("action_listen")]


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
        "hi", "how much is it", "thanks"]


def test_a_restarted_store_continues_the_conversation(db):
    sender = new_sender()
    run(talk(CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db), sender, ("hi", "greet")))
    restarted = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    run(talk(restarted, sender, ("what is spravato", "faq")))
    reference = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db).retrieve(sender))
    assert [e.text for e in reference.events if isinstance(e, UserUttered)] == [
        "hi", "what is spravato"]
    assert dicts(run(restarted.retrieve(sender))) == dicts(reference)


def test_evicted_senders_are_read_back_from_sqlite(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, max_cached_senders=1)
    first, second = new_sender(), new_sender()
    run(talk(store, first, ("hi", "greet")))
    run(talk(store, second, ("hello", "greet")))       # evicts `first`
    run(talk(store, first, ("what is ketamine", "faq")))
    reference = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    for sender in (first, second):
        assert dicts(run(store.retrieve(sender))) == dicts(run(reference.retrieve(sender)))
    assert len([e for e in run(reference.retrieve(first)).events if isinstance(e, UserUttered)]) == 2


def test_a_tracker_the_store_did_not_hand_out_is_saved_by_rasas_own_logic(db):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    sender = new_sender()
    run(talk(store, sender, ("hi", "greet")))
    other = DialogueStateTracker(sender, DOMAIN.slots)   # built elsewhere, own history
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
        stored = run(SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(server.tracker_db))
                     .retrieve(sender))
    finally:
        server.cleanup()
    assert "automated assistant" in first        # the first-turn introduction
    assert "automated assistant" not in second   # known visitor after the restart
    assert "not found" not in log  # Rasa silently uses memory for an unknown store type
    said = [e.text for e in stored.events if isinstance(e, UserUttered)]
    assert said == ["hi", "how much does an infusion cost"]
