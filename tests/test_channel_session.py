"""The REST channel's introduction: first message of a new visitor, and of a new session.

Drives SafeRestInput._handle with the real domain and the real tracker store
(a temp SQLite file); Rasa's message handling is replaced by a function that
does what Rasa's processor does with the store (start a session for a new
tracker or after the session expiry, record the user's message, save) and
answers "ok". Whether a turn opened a session is read from the store, so two
channel instances (two replicas) on one store agree.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered

from bot.channels import SafeRestInput
from bot.tracker_store import CachedSQLTrackerStore
from tests.conftest import new_sender

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
INTRO = "automated assistant"
EXPIRY = DOMAIN.session_config.session_expiration_time * 60


def make_agent(db, **store_kwargs):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db), **store_kwargs)
    return SimpleNamespace(domain=DOMAIN, tracker_store=store)


@pytest.fixture
def agent(tmp_path):
    return make_agent(tmp_path / "t.db")


def talk(channel, agent, sender, text="how much does it cost", at=None, metadata=None):
    at = at or time.time()

    async def handle(message):
        store = agent.tracker_store
        tracker = await store.get_or_create_tracker(message.sender_id, append_action_listen=False)
        last = tracker.get_last_event_for(UserUttered)
        if not tracker.applied_events() or (last and at - last.timestamp > EXPIRY):
            for event in (
                ActionExecuted("action_session_start", timestamp=at),
                SessionStarted(timestamp=at),
                ActionExecuted("action_listen", timestamp=at),
            ):
                tracker.update(event)
        tracker.update(
            UserUttered(
                message.text,
                {"name": "faq", "confidence": 1.0},
                timestamp=at,
                message_id=message.message_id,
            )
        )
        tracker.update(ActionExecuted("action_listen", timestamp=at))
        await store.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "ok")

    replies = asyncio.run(channel._handle(agent, handle, sender, text, metadata))
    return [r.get("text", "") for r in replies]


def test_new_visitor_gets_the_intro_once(agent):
    channel, sender = SafeRestInput(), new_sender()
    first = talk(channel, agent, sender)
    second = talk(channel, agent, sender)
    assert INTRO in first[0] and first[-1] == "ok"
    assert second == ["ok"]


def test_a_client_that_shows_the_disclaimer_itself_gets_no_intro(agent):
    """The widget shows the disclaimer above the conversation (metadata
    disclaimer_shown: true); only a literal true counts."""
    channel = SafeRestInput()
    assert talk(channel, agent, new_sender(), metadata={"disclaimer_shown": True}) == ["ok"]
    assert INTRO in talk(channel, agent, new_sender(), metadata={"disclaimer_shown": "yes"})[0]


def test_returning_after_the_session_expired_gets_the_intro_again(agent):
    channel, sender = SafeRestInput(), new_sender()
    talk(channel, agent, sender)
    later = time.time() + EXPIRY + 60
    assert INTRO in talk(channel, agent, sender, at=later)[0]
    assert talk(channel, agent, sender, at=later + 1) == ["ok"]


def test_after_a_restart_the_store_decides(agent, tmp_path):
    sender = new_sender()
    talk(SafeRestInput(), agent, sender)
    restarted = make_agent(tmp_path / "t.db")  # new process, same database
    assert talk(SafeRestInput(), restarted, sender) == ["ok"]
    later = time.time() + EXPIRY + 60
    assert INTRO in talk(SafeRestInput(), restarted, sender, at=later)[0]


def test_two_replicas_on_one_store_agree(tmp_path):
    """The visitor alternates between two processes: one intro per session, whichever answers."""
    replicas = [(SafeRestInput(), make_agent(tmp_path / "t.db")) for _ in range(2)]
    sender = new_sender()
    intros = []
    for turn in range(6):
        channel, agent = replicas[turn % 2]
        intros.append(INTRO in talk(channel, agent, sender)[0])
    assert intros == [True] + [False] * 5
    later = time.time() + EXPIRY + 60
    channel, agent = replicas[1]
    assert INTRO in talk(channel, agent, sender, at=later)[0]
    channel, agent = replicas[0]
    assert talk(channel, agent, sender, at=later + 1) == ["ok"]


def test_a_rollover_session_is_not_a_new_visit(tmp_path):
    agent = make_agent(tmp_path / "t.db", max_session_events=8)
    channel, sender = SafeRestInput(), new_sender()
    replies = [talk(channel, agent, sender) for _ in range(8)]
    stored = asyncio.run(agent.tracker_store.retrieve(sender))
    assert any(
        (e.metadata or {}).get("rollover") for e in stored.events if isinstance(e, SessionStarted)
    )  # the session did roll over
    assert INTRO in replies[0][0]
    assert all(r == ["ok"] for r in replies[1:])
