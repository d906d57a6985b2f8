"""Hostile requests against the real servers: every one gets a 4xx JSON error, and the
bot keeps serving.

Also: only JSON is accepted (a cross-site text/plain POST is refused), client
metadata is cut to its allow-list and stored once, and rate limits answer a
flood with 429 while other visitors and other addresses are answered.
"""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import threading
import time
from typing import List, Optional

import pytest

from bot import channels
from bot.channels import BadRequest, ChannelConfig, check_json_shape, client_address
from bot.ratelimit import Rate, RateLimiter
from scripts.servers import RasaServer, texts
from tests.conftest import new_sender

DEEP = 10_000


def nested(opening: bytes, closing: bytes, inner: bytes = b"1", depth: int = DEEP) -> bytes:
    return opening * depth + inner + closing * depth


HOSTILE = {
    "deep arrays at top level": nested(b"[", b"]"),
    "deep objects at top level": nested(b'{"a":', b"}"),
    "deep arrays in metadata": b'{"sender":"a","message":"hi","metadata":{"x":'
    + nested(b"[", b"]")
    + b"}}",
    "deep objects as metadata": b'{"sender":"a","message":"hi","metadata":'
    + nested(b'{"a":', b"}")
    + b"}",
    "deep arrays as message": b'{"sender":"a","message":' + nested(b"[", b"]") + b"}",
    "deep objects in message": b'{"sender":"a","message":' + nested(b'{"a":', b"}") + b"}",
    "deep arrays as sender": b'{"sender":' + nested(b"[", b"]") + b',"message":"hi"}',
    "unclosed deep arrays": b"[" * DEEP,
    "wide flat array": b"[" + b",".join([b"[]"] * 100_000) + b"]",
    "many keys": json.dumps({f"k{i}": i for i in range(50_000)}).encode(),
    "unterminated string of escaped quotes": b'{"sender":"a","message":"' + b'\\"' * 200_000,
    "huge number": b'{"sender":"a","message":"hi","n":' + b"9" * 100_000 + b"}",
    "lone surrogate in sender": b'{"sender":"\\ud800","message":"hi"}',
    "metadata over the size limit": json.dumps(
        {"sender": "a", "message": "hi", "metadata": {"language": "x" * 5_000}}
    ).encode(),
    "metadata list": b'{"sender":"a","message":"hi","metadata":[1,2]}',
    "NUL bytes": b'{"sender":"a\x00","message":"hi"}',
}


def assert_still_serving(server: RasaServer) -> None:
    assert texts(server.say(new_sender(), "how long does an infusion take?"))


# ---- hostile bodies -----------------------------------------------------------
@pytest.mark.server
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_gets_a_4xx_json_error_and_the_server_keeps_serving(rasa_server, name):
    started = time.monotonic()
    status, body = rasa_server.post(None, raw=HOSTILE[name])
    assert 400 <= status < 500, (name, status, body)
    assert isinstance(body, dict) and body.get("error"), body
    assert time.monotonic() - started < 5, "refused without parsing it at length"
    assert_still_serving(rasa_server)


@pytest.mark.server
def test_a_lone_surrogate_in_the_message_is_dropped_not_a_500(rasa_server):
    status, replies = rasa_server.post(
        None, raw=b'{"sender":"%s","message":"\\ud800 hello"}' % new_sender().encode()
    )
    assert status == 200 and texts(replies)


@pytest.mark.server
def test_a_huge_declared_body_is_refused_before_it_is_sent(rasa_server):
    with socket.create_connection(("127.0.0.1", rasa_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error"' in answer
    assert_still_serving(rasa_server)


@pytest.mark.server
def test_a_body_sent_in_chunks_is_limited_too(rasa_server):
    connection = http.client.HTTPConnection("127.0.0.1", rasa_server.port, timeout=30)
    chunks = (b'{"sender":"a","message":"' + b"x" * 100_000 for _ in range(15))
    connection.request(
        "POST",
        "/webhooks/rest/webhook",
        body=chunks,
        encode_chunked=True,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    answer = connection.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["error"]
    connection.close()
    assert_still_serving(rasa_server)


# ---- only JSON ------------------------------------------------------------------
def raw_post(server: RasaServer, body: bytes, content_type: Optional[str]):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Content-Length": str(len(body))}
    if content_type is not None:
        headers["Content-Type"] = content_type
    connection.request("POST", "/webhooks/rest/webhook", body=body, headers=headers)
    answer = connection.getresponse()
    status, payload = answer.status, answer.read()
    connection.close()
    return status, payload


@pytest.mark.server
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
def test_only_json_is_accepted(rasa_server, content_type):
    sender = new_sender()
    body = json.dumps({"sender": sender, "message": "hi from another site"}).encode()
    status, payload = raw_post(rasa_server, body, content_type)
    assert status == 415 and json.loads(payload)["error"], (status, payload)
    stored = (
        sqlite3.connect(rasa_server.tracker_db)
        .execute("select count(*) from events where sender_id = ?", (sender,))
        .fetchone()[0]
    )
    assert stored == 0, "a refused request wrote into a conversation"


@pytest.mark.server
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_with_or_without_a_utf8_charset_is_answered(rasa_server, content_type):
    body = json.dumps({"sender": new_sender(), "message": "hi"}).encode()
    assert raw_post(rasa_server, body, content_type)[0] == 200


# ---- metadata ------------------------------------------------------------------
@pytest.mark.server
def test_metadata_keeps_only_allow_listed_keys_and_is_stored_once(rasa_server):
    sender = new_sender()
    kept, dropped = "kept-language-marker", "dropped-marker"
    status, _ = rasa_server.post(
        {
            "sender": sender,
            "message": "what does spravato cost",
            "metadata": {"language": kept, "tracking": dropped, "nested": {"language": dropped}},
        }
    )
    assert status == 200
    rows = (
        sqlite3.connect(rasa_server.tracker_db)
        .execute("select type_name, data from events where sender_id = ?", (sender,))
        .fetchall()
    )
    assert not any(dropped in data for _, data in rows)
    user = [json.loads(data) for kind, data in rows if kind == "user"]
    assert len(user) == 1
    own = {"model_id", "assistant_id"}  # Rasa adds these to every event
    assert {k: v for k, v in user[0]["metadata"].items() if k not in own} == {"language": kept}
    assert rows_text(rows, "user").count(kept) == 1, "metadata stored more than once in the message"


def rows_text(rows, kind: str) -> str:
    return "".join(data for k, data in rows if k == kind)


# ---- rate limits (a server of their own, behind a "proxy" on 127.0.0.1) ----------
@pytest.fixture(scope="module")
def limited(model_path, action_server):
    """Default limits; 127.0.0.1 is a trusted proxy, so X-Forwarded-For names the client."""
    server = RasaServer(
        action_port=action_server.port, channel={"trusted_proxies": ["127.0.0.1"]}
    ).start()
    yield server
    server.cleanup()


def send(server: RasaServer, sender: str, address: Optional[str] = None, message: str = "hi"):
    headers = {"X-Forwarded-For": address} if address else {}
    status, got, payload = server.request(
        server.webhook,
        json.dumps({"sender": sender, "message": message}).encode(),
        "POST",
        {"Content-Type": "application/json", **headers},
    )
    return status, got, payload


@pytest.mark.server
def test_a_flood_from_one_sender_gets_429_while_another_sender_is_answered(limited):
    flooder, other = new_sender(), new_sender()
    results: List = []

    def flood() -> None:
        for _ in range(80):
            results.append(send(limited, flooder, "203.0.113.10"))

    thread = threading.Thread(target=flood)
    thread.start()
    others = []
    while thread.is_alive() and len(others) < 20:
        others.append(send(limited, other, "203.0.113.10", "how long does an infusion take?"))
    thread.join(120)
    codes = [status for status, _, _ in results]
    assert codes.count(200) >= channels.PER_SENDER.burst  # a person is never slowed
    assert 429 in codes, codes
    refused = next((got, body) for status, got, body in results if status == 429)
    assert int(refused[0]["Retry-After"]) >= 1
    assert refused[1]["error"]
    assert others and all(status == 200 and texts(body) for status, _, body in others), others


@pytest.mark.server
def test_a_flood_from_one_address_gets_429_while_another_address_is_answered(limited):
    # Cheap malformed requests use up the address's allowance as real ones do.
    codes = [
        limited.post(None, raw=b"[]", headers={"X-Forwarded-For": "198.51.100.7"})[0]
        for _ in range(int(channels.PER_ADDRESS.burst) + 60)
    ]
    assert 429 in codes and set(codes) <= {400, 429}
    status, got, body = send(limited, new_sender(), "198.51.100.7")
    assert status == 429 and int(got["Retry-After"]) >= 1 and body["error"]
    # A client cannot escape by writing another address in front of its own.
    status, _, _ = send(limited, new_sender(), "192.0.2.1, 198.51.100.7")
    assert status == 429
    status, _, body = send(limited, new_sender(), "198.51.100.8", "what is spravato?")
    assert status == 200 and texts(body)


@pytest.mark.server
def test_direct_requests_from_this_machine_are_not_limited(limited):
    """No X-Forwarded-For from loopback: the operator or a local test, not a visitor."""
    sender = new_sender()
    codes = [send(limited, sender)[0] for _ in range(channels.PER_SENDER.burst + 20)]
    assert set(codes) == {200}, codes


# ---- units: the scanners and the limiter ---------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"sender": "a", "message": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        b'{"sender": "a", "message": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        b'{"sender": "a", "message": "hi", "metadata": {"language": "en"}}',
    ],
)
def test_brackets_inside_strings_do_not_count_as_nesting(body):
    check_json_shape(body)


@pytest.mark.parametrize("body", [nested(b"[", b"]", depth=9), b'{"a":' * 9 + b"1" + b"}" * 9])
def test_nesting_past_the_limit_is_refused(body):
    with pytest.raises(BadRequest) as error:
        check_json_shape(body)
    assert error.value.status == 400


def test_the_shape_scan_is_fast_on_the_worst_inputs():
    worst = [
        b'"' + b'\\"[' * 300_000,  # one unterminated string full of brackets and escapes
        b'["' + b'\\"' * 300_000 + b"[" * 20,  # brackets after it
        b"[]" * 500_000,  # flat, but a million parts
        nested(b"[", b"]", depth=500_000),
    ]
    started = time.monotonic()
    for body in worst:
        try:
            check_json_shape(body)
        except BadRequest:
            pass
    assert time.monotonic() - started < 2


def test_forwarded_address_is_believed_only_from_a_trusted_proxy():
    trusted = ChannelConfig.from_mapping(
        {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}
    ).trusted_proxies
    assert client_address("203.0.113.5", "198.51.100.1", trusted) == "203.0.113.5"  # not our proxy
    assert client_address("127.0.0.1", "198.51.100.1", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.1", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", "198.51.100.1, 10.1.2.3", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", "junk", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"  # none configured


def test_token_bucket_allows_the_burst_then_the_rate():
    now = [0.0]
    limiter = RateLimiter(Rate(burst=3, per_minute=60), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(1.0)
    assert limiter.take("b") == 0.0  # another key has its own bucket
    now[0] += 1.0
    assert limiter.take("a") == 0.0
    now[0] += 600  # idle keys are forgotten (a full bucket)
    limiter.take("c")
    assert limiter.keys() == 1


def test_a_typing_person_never_reaches_the_default_limits():
    now = [0.0]
    limiter = RateLimiter(channels.PER_SENDER, clock=lambda: now[0])
    # Quick replies tapped every second for ten minutes: never refused.
    for _ in range(600):
        assert limiter.take("visitor") == 0.0
        now[0] += 1.0


def test_channel_settings_come_from_credentials():
    config = ChannelConfig.from_mapping(
        {
            "rate_limits": {"per_sender": {"burst": 5, "per_minute": 10}, "per_address": "off"},
            "metadata_keys": ["language", "page"],
            "max_body_bytes": 5000,
        }
    )
    assert config.per_sender == Rate(5, 10) and config.per_address is None
    assert config.metadata_keys == ("language", "page") and config.max_body_bytes == 5000
    with pytest.raises(ValueError):
        ChannelConfig.from_mapping({"rate_limit": {}})  # a typo is an error, not ignored
    with pytest.raises(ValueError):
        ChannelConfig.from_mapping({"rate_limits": {"per_sender": {"burst": 0, "per_minute": 1}}})


def test_the_shipped_credentials_are_the_defaults():
    import yaml

    from scripts.servers import CHANNEL, ROOT

    shipped = ChannelConfig.from_mapping(
        yaml.safe_load((ROOT / "credentials.yml").read_text())[CHANNEL]
    )
    assert shipped == ChannelConfig()
