"""The REST channel's introduction: first message of a new visitor, and of a new session.

Drives SafeRestInput._handle with the real domain and the real tracker store
(a temp SQLite file); Rasa's message handling is replaced by a function that
records the user's message in the store and answers "ok".
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot import channels
from bot.channels import SafeRestInput
from bot.tracker_store import CachedSQLTrackerStore
from tests.conftest import new_sender

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
INTRO = "automated assistant"


@pytest.fixture
def agent(tmp_path):
    store = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))
    return SimpleNamespace(domain=DOMAIN, tracker_store=store)


def talk(channel, agent, sender, text="how much does it cost", at=None):
    async def handle(message):
        tracker = await agent.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, {"name": "faq", "confidence": 1.0},
                                   timestamp=at or time.time()))
        await agent.tracker_store.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "ok")

    replies = asyncio.run(channel._handle(agent, handle, sender, text, None))
    return [r.get("text", "") for r in replies]


def test_new_visitor_gets_the_intro_once(agent):
    channel, sender = SafeRestInput(), new_sender()
    first = talk(channel, agent, sender)
    second = talk(channel, agent, sender)
    assert INTRO in first[0] and first[-1] == "ok"
    assert second == ["ok"]


def test_returning_after_the_session_expired_gets_the_intro_again(agent, monkeypatch):
    channel, sender = SafeRestInput(), new_sender()
    talk(channel, agent, sender)
    expiry = DOMAIN.session_config.session_expiration_time * 60
    later = time.time() + expiry + 60
    monkeypatch.setattr(channels.time, "time", lambda: later)
    assert INTRO in talk(channel, agent, sender, at=later)[0]
    assert talk(channel, agent, sender, at=later) == ["ok"]


def test_after_a_restart_the_store_decides(agent, monkeypatch):
    sender = new_sender()
    talk(SafeRestInput(), agent, sender)
    assert talk(SafeRestInput(), agent, sender) == ["ok"]  # new process, known visitor
    later = time.time() + DOMAIN.session_config.session_expiration_time * 60 + 60
    monkeypatch.setattr(channels.time, "time", lambda: later)
    assert INTRO in talk(SafeRestInput(), agent, sender, at=later)[0]
