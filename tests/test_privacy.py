"""Privacy of conversations, against the real servers.

A visitor can delete their conversation (gone from the store, from the file on
disk and from the server's memory); conversations past the retention period are
deleted by the bot itself; the database is private to the service user; and
nothing a visitor types reaches a log at the default level.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import time
import uuid
from pathlib import Path

import pytest

from scripts.servers import RasaServer, texts
from tests.conftest import new_sender

pytestmark = pytest.mark.server

INTRO = "automated assistant of"


def rows(db: Path, sender: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "select count(*) from events where sender_id = ?", (sender,)
        ).fetchone()[0]


def on_disk(db: Path, words: str) -> bool:
    """True if the words are anywhere in the database files (tables, free pages, WAL)."""
    return any(
        words.encode() in Path(str(db) + suffix).read_bytes()
        for suffix in ("", "-wal")
        if Path(str(db) + suffix).exists()
    )


def age(db: Path, sender: str, days: float) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(
            "update events set timestamp = timestamp - ? where sender_id = ?",
            (days * 86_400, sender),
        )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- deleting a conversation ---------------------------------------------------
def test_delete_removes_the_conversation_from_the_store_the_disk_and_memory(rasa_server):
    sender, words = new_sender(), "my-own-words-" + uuid.uuid4().hex
    assert INTRO in texts(rasa_server.say(sender, f"{words} what does spravato cost"))
    rasa_server.say(sender, "compare my options")  # the action server saw it too
    assert rows(rasa_server.tracker_db, sender) > 0 and on_disk(rasa_server.tracker_db, words)

    status, body = rasa_server.delete(sender)
    assert status == 204 and body == ""
    assert rows(rasa_server.tracker_db, sender) == 0
    assert not on_disk(rasa_server.tracker_db, words)
    # Nothing was kept in memory either: the same id is a new visitor again.
    assert INTRO in texts(rasa_server.say(sender, "hello"))
    assert not on_disk(rasa_server.tracker_db, words)


def test_ids_with_any_printable_characters_are_deleted(rasa_server):
    sender = new_sender() + " a/b%41?é"
    rasa_server.say(sender, "hi")
    assert rows(rasa_server.tracker_db, sender) > 0
    assert rasa_server.delete(sender)[0] == 204  # sent percent-encoded
    assert rows(rasa_server.tracker_db, sender) == 0


def test_deleting_an_unknown_conversation_is_not_an_error_and_tells_nothing(rasa_server):
    status, _ = rasa_server.delete(new_sender())
    assert status == 204


@pytest.mark.parametrize("sender", ["x" * 200, "a\u0000b"])
def test_a_bad_id_to_delete_is_a_400(rasa_server, sender):
    status, body = rasa_server.delete(sender)
    assert status == 400 and body["error"]


def test_other_conversations_are_kept(rasa_server):
    kept, gone = new_sender(), new_sender()
    rasa_server.say(kept, "hi")
    rasa_server.say(gone, "hi")
    assert rasa_server.delete(gone)[0] == 204
    assert rows(rasa_server.tracker_db, kept) > 0
    assert INTRO not in texts(rasa_server.say(kept, "what is spravato?"))


# ---- retention -------------------------------------------------------------------
def test_an_aged_conversation_is_purged_when_the_bot_starts(model_path, action_server):
    server = RasaServer(action_port=action_server.port)
    old, recent = new_sender(), new_sender()
    try:
        server.start()
        server.say(old, "an old conversation")
        server.say(recent, "a recent conversation")
        server.stop()
        age(server.tracker_db, old, 31)  # endpoints.yml: retention_days 30
        age(server.tracker_db, recent, 29)
        server.start()
        assert rows(server.tracker_db, old) == 0
        assert not on_disk(server.tracker_db, "an old conversation")
        assert rows(server.tracker_db, recent) > 0
        assert INTRO not in texts(server.say(recent, "what is spravato?"))
    finally:
        server.cleanup()


def test_a_running_bot_purges_aged_conversations_periodically(model_path, action_server):
    server = RasaServer(action_port=action_server.port, store_options={"purge_every_minutes": 0.01})
    sender = new_sender()
    try:
        server.start()
        server.say(sender, "words from long ago")
        age(server.tracker_db, sender, 31)
        deadline = time.monotonic() + 20
        while rows(server.tracker_db, sender) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert rows(server.tracker_db, sender) == 0
        # The server's cached copy went with it: a new message does not bring it back.
        server.say(sender, "a new question")
        assert not on_disk(server.tracker_db, "words from long ago")
        assert "Deleted 1 conversation" in server.log.read_text()
    finally:
        server.cleanup()


# ---- files ------------------------------------------------------------------------
def test_the_database_and_its_folder_are_private(model_path, action_server, tmp_path):
    db = tmp_path / "state" / "tracker.db"
    server = RasaServer(action_port=action_server.port, store_options={"db": str(db)})
    try:
        server.start()
        server.say(new_sender(), "hi")
        assert mode(db) == 0o600
        assert mode(Path(str(db) + "-wal")) == 0o600
        assert mode(db.parent) == 0o700
    finally:
        server.cleanup()


# ---- logs --------------------------------------------------------------------------
def test_nothing_a_visitor_types_reaches_the_logs(rasa_server, action_server):
    marker = "visitor-typed-" + uuid.uuid4().hex[:12]
    sender = new_sender()
    rasa_server.say(sender, f"{marker} does insurance cover spravato")
    rasa_server.say(sender, f"{marker} I want to kill myself")
    rasa_server.say(sender, f"{marker} how many mg should I take")
    rasa_server.say(sender, "compare my options")
    rasa_server.say(sender, f"{marker} insurance")
    rasa_server.post({"sender": sender, "message": marker, "metadata": {"language": marker}})
    rasa_server.post(
        None, raw=f'{{"sender": "{sender}", "message": "{marker}'.encode()
    )  # broken JSON
    rasa_server.post(
        None,
        raw=json.dumps({"sender": sender, "message": marker}).encode(),
        headers={"Content-Type": "text/plain"},
    )
    rasa_server.post(
        None, raw=b'{"sender":"a","message":"' + marker.encode() + b'","x":' + b"[" * 9000 + b"}"
    )
    time.sleep(1)
    for log in (rasa_server.log, action_server.log):
        text = log.read_text(errors="replace")
        assert text.strip(), f"{log} is empty: the test would prove nothing"
        assert marker not in text, f"{log} holds what the visitor typed"
