"""The staff phone console: search quality, export completeness, access control.

The trained model is the one the bot runs (tests/conftest.py's session `bot`
fixture loads it once); the console reads the same answers the bot sends.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest
import yaml

from bot import content
from bot.console import auth, export, pages
from bot.console.catalog import CHAT_ONLY, Catalog
from bot.console.crisis_script import load as load_crisis_script
from bot.console.nlu import NluRanker, responses_from_parse
from bot.console.plain import has_emoji, normalize, plain
from bot.console.search import Searcher
from bot.console.web import ConsoleApp, start_in_thread
from bot.safety.rules import violations

ROOT = Path(__file__).resolve().parent.parent
PARAPHRASES = yaml.safe_load((ROOT / "tests/data/faq_paraphrases.yml").read_text())["paraphrases"]
TOP3_FLOOR = 0.95
TOKEN = "test-staff-token-0123456789abcdef"
CRISIS_QUERIES = [
    "caller says she wants to kill herself",
    "he told me he took a whole bottle of his pills",
    "i dont want to be alive anymore",
]


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture(scope="session")
def searcher(catalog: Catalog, bot) -> Searcher:
    """The console's search with the trained model (shared with the other tests)."""
    return Searcher(catalog, NluRanker(bot.parse))


@pytest.fixture(scope="session")
def keyword_searcher(catalog: Catalog) -> Searcher:
    return Searcher(catalog, None)


@pytest.fixture(scope="module")
def console(catalog: Catalog, keyword_searcher: Searcher) -> Iterator[str]:
    """A console on a free loopback port (keyword ranking: access control needs no model)."""
    app = ConsoleApp(catalog, keyword_searcher, auth.Guard(TOKEN), log_requests=False)
    server, _ = start_in_thread(app)
    yield server.url
    server.shutdown()
    server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def request(
    url: str,
    *,
    headers: Optional[Dict[str, str]] = None,
    data: Optional[bytes] = None,
    method: Optional[str] = None,
) -> Tuple[int, Dict[str, str], str]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with OPENER.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode("utf-8", "replace")


def bearer(token: str = TOKEN) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ----------------------------------------------------------------- search
def test_search_puts_the_right_answer_in_the_top_3_for_heldout_paraphrases(
    searcher, keyword_searcher
):
    cases = [(f"utter_faq/{item['key']}", text) for item in PARAPHRASES for text in item["texts"]]
    misses, keyword_hits, top1 = [], 0, 0
    for want, text in cases:
        names = searcher.search(text).names
        top1 += names[:1] == [want]
        if want not in names:
            misses.append((text, want, names))
        keyword_hits += want in keyword_searcher.search(text).names
    share = 1 - len(misses) / len(cases)
    print(
        "\nstaff console search: right answer in the top 3 for "
        f"{len(cases) - len(misses)}/{len(cases)} "
        f"held-out paraphrases ({share:.1%}; top 1: {top1 / len(cases):.1%}; "
        f"floor {TOP3_FLOOR:.0%}); "
        f"keyword backstop alone: {keyword_hits / len(cases):.1%}"
    )
    for text, want, names in misses:
        print(f"  miss: {text!r}: expected {want}, got {names}")
    assert share >= TOP3_FLOOR


@pytest.mark.parametrize(
    "query, expected",
    [
        ("does insurance pay for spravato", "utter_faq/insurance"),
        ("caller wants to compare iv and spravato side by side", "decision:comparison"),
        ("what are your opening hours", "utter_clinic_contact"),
    ],
)
def test_search_returns_three_real_searchable_answers(searcher, catalog, query, expected):
    result = searcher.search(query)
    assert not result.crisis
    assert len(result.hits) == 3
    # The three answer slots are the bot's responses; a decision tool that
    # matches is offered beside them.
    assert expected in result.names + [t.entry.name for t in result.tools]
    assert (
        all(t.entry.name in catalog.decision_entries for t in result.tools)
        and len(result.tools) <= 1
    )
    raw = content.raw_responses()
    for hit in result.hits:
        name = hit.entry.name
        assert name in raw and name not in CHAT_ONLY
        assert name != "utter_crisis"  # a crisis search shows the whole script instead
        assert hit.entry.topic and hit.entry.texts


def test_every_chat_only_name_is_a_response_the_bot_has():
    assert CHAT_ONLY <= set(content.raw_responses())


@pytest.mark.parametrize("query", CRISIS_QUERIES)
def test_a_crisis_phrase_shows_the_crisis_script_first(searcher, keyword_searcher, query):
    assert searcher.search(query).crisis
    assert keyword_searcher.search(query).crisis  # even without the model


def test_empty_query_returns_nothing(searcher):
    result = searcher.search("   ")
    assert result.hits == [] and not result.crisis


def test_model_parse_maps_to_responses():
    parsed = {
        "intent": {"name": "crisis", "confidence": 0.5},
        "intent_ranking": [
            {"name": "crisis", "confidence": 0.5},
            {"name": "faq", "confidence": 0.45},
            {"name": "clinic_contact", "confidence": 0.03},
            {"name": "advice", "confidence": 0.02},
        ],
        "response_selector": {
            "faq": {
                "ranking": [
                    {"intent_response_key": "faq/session_length", "confidence": 0.4},
                    {"intent_response_key": "faq/how_fast", "confidence": 0.1},
                ]
            },
            "advice": {"ranking": [{"intent_response_key": "advice/dose", "confidence": 0.9}]},
        },
    }
    ranked = dict(responses_from_parse(parsed))
    # Intents renormalized without crisis (faq 0.9, clinic_contact 0.06, advice 0.04);
    # answers scored relative to their selector's best.
    assert max(ranked, key=ranked.get) == "utter_faq/session_length"
    assert ranked["utter_faq/session_length"] == pytest.approx(0.9)
    assert ranked["utter_faq/how_fast"] == pytest.approx(0.225)
    assert ranked["utter_clinic_contact"] == pytest.approx(0.06)
    assert ranked["utter_advice/dose"] == pytest.approx(0.04)
    assert "utter_crisis" not in ranked


# ----------------------------------------------------------------- content
def test_crisis_script_is_one_reviewed_file_matching_the_bot(catalog):
    script = load_crisis_script()
    assert script.sources and set(script.sources) <= {"003_55c8d5fb2a2f38db.txt"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", script.reviewed)
    assert script.say and script.immediate_danger.steps and script.not_immediate.steps
    numbers = {n.number for n in script.numbers}
    assert {"988", "911"} <= numbers
    bot_text = content.answer("utter_crisis", "en").text
    for number in numbers:
        assert number in bot_text, f"{number} is in the staff script but not in utter_crisis"
    text = script.as_text()
    assert violations(text) == []
    assert not has_emoji(text)


def test_plain_text_for_reading_aloud():
    assert (
        plain("**Call** us at [the clinic](https://example.org) \U0001f600 now")
        == "Call us at the clinic (https://example.org) now"
    )
    assert plain("• one\n\n\n• two ") == "• one\n\n• two"


def test_browse_shows_every_answer_by_topic_in_plain_text(catalog):
    page = pages.browse_page(catalog)
    for topic, entries in catalog.by_topic():
        assert htmllib.escape(topic) in page
        for entry in entries:
            assert f'data-response="{htmllib.escape(entry.name)}"' in page
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", page))
    assert not has_emoji(text)
    assert not re.search(r"\*\*|\[[^\]]+\]\(", text), "markup left in the read-aloud text"


def test_decision_aid_sections_are_shown(catalog):
    keys = {s.key for s in catalog.decision_sections}
    assert {"comparison", "checklist", "troubleshooting", "questions"} <= keys
    page = pages.browse_page(catalog)
    for section in catalog.decision_sections:
        assert htmllib.escape(section.title) in page
        assert section.text.strip() and not has_emoji(section.text)


# ----------------------------------------------------------------- export
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_export_contains_every_response_variant(catalog, fmt):
    document = export.export(catalog, fmt)
    haystack = normalize(htmllib.unescape(document) if fmt == "html" else document)
    missing = []
    for name, variants in content.raw_responses().items():
        for variant in variants:
            text = plain(content.fill(variant.get("text") or "", catalog.clinic))
            if normalize(text) not in haystack:
                missing.append((name, text[:60]))
    assert missing == []
    for section in catalog.decision_sections:
        assert normalize(section.text) in haystack


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_export_has_contents_date_and_crisis_script_first(catalog, fmt):
    document = export.export(catalog, fmt)
    dates = [a.reviewed for a in catalog.answers] + [catalog.crisis.reviewed]
    assert catalog.last_changed == max(
        dates + [s.reviewed for s in catalog.decision_sections if s.reviewed]
    )
    assert f"Content last changed: {catalog.last_changed}" in document
    assert "Contents" in document
    for chapter in export.chapters(catalog):
        assert f"#{chapter.anchor}" in document
    text = htmllib.unescape(document)
    first_step = catalog.crisis.immediate_danger.steps[0]
    first_answer = catalog.by_topic()[1][1][0].texts[0]
    assert text.index(first_step) < text.index(first_answer.split("\n")[0])


def test_html_export_is_printable_and_self_contained(catalog):
    document = export.html(catalog)
    assert "@media print" in document and "@page" in document
    assert 'http-equiv="Content-Security-Policy"' in document
    assert "default-src 'none'" in htmllib.unescape(document)
    assert "<script" not in document
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", document), "no external resources"


def test_cli_export_writes_the_document(tmp_path):
    out = tmp_path / "phone-scripts.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "scripts", "export", "--format", "md", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Content last changed:" in out.read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "scripts", "export", "--format", "html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("<!doctype html>")


def test_cli_search_with_the_model(model_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "scripts",
            "search",
            "--model",
            str(model_path),
            "does insurance pay for spravato",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "utter_faq/insurance" in proc.stdout
    assert "(ranking: model + keywords)" in proc.stdout
    assert "CRISIS" not in proc.stdout


def test_cli_search_puts_the_crisis_script_first():
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "scripts", "search", "--no-model", CRISIS_QUERIES[0]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip("!\n").startswith("CRISIS: USE THE CRISIS SCRIPT NOW")
    assert "988" in proc.stdout and "911" in proc.stdout


# ----------------------------------------------------------------- access control
def test_token_configuration(tmp_path):
    with pytest.raises(auth.TokenError):
        auth.load_token(tmp_path / "missing", env={})
    with pytest.raises(auth.TokenError):
        auth.load_token(tmp_path / "missing", env={auth.TOKEN_ENV: "short"})
    assert auth.load_token(tmp_path / "missing", env={auth.TOKEN_ENV: TOKEN}) == TOKEN
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o644)
    with pytest.raises(auth.TokenError):  # readable by others
        auth.load_token(path, env={})
    path.chmod(0o600)
    assert auth.load_token(path, env={}) == TOKEN


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=insurance",
        "/browse",
        "/print",
        "/export.md",
        "/export.html",
        "/api/search?q=insurance",
        "/nope",
    ],
)
def test_every_page_refuses_a_request_without_or_with_a_wrong_token(console, path):
    for headers in (
        {},
        bearer("wrong-token-0123456789abcdef"),
        bearer(""),
        {"Authorization": TOKEN},
        {"Cookie": f"{auth.COOKIE_NAME}=123.abc"},
        {"Accept": "text/html"},
    ):
        status, _, body = request(console + path, headers=headers)
        assert status == 401, (path, headers, status)
        assert "Sample" not in body and "utter_" not in body  # no content leaks


@pytest.mark.parametrize(
    "path", ["/", "/browse", "/print", "/export.md", "/export.html", "/api/search?q=cost"]
)
def test_pages_answer_with_the_token_and_strict_headers(console, path):
    status, headers, body = request(console + path, headers=bearer())
    assert status == 200, (path, status)
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy and "http" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    if path in ("/", "/browse", "/print"):
        assert 'id="crisis-script"' in body  # the crisis script is pinned on every screen
        assert htmllib.escape(load_crisis_script().headline) in body


@pytest.mark.parametrize("path", ["/print?lang=es", "/export.md?lang=es", "/export.html?lang=es"])
def test_the_phone_script_downloads_in_spanish(console, path):
    status, _, body = request(console + path, headers=bearer())
    assert status == 200, (path, status)
    text = htmllib.unescape(body)
    assert load_crisis_script(language="es").headline in text
    assert Catalog(language="es").words["contents"] in text
    assert Catalog().words["word_for_word"] not in text


def test_login_form_sets_a_strict_http_only_cookie(console):
    form = urllib.parse.urlencode({"token": "wrong-token-0123456789"}).encode()
    status, headers, _ = request(console + "/login", data=form, method="POST")
    assert status == 401 and "Set-Cookie" not in headers
    form = urllib.parse.urlencode({"token": TOKEN}).encode()
    status, headers, _ = request(console + "/login", data=form, method="POST")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = cookie.split(";", 1)[0]
    status, _, body = request(console + "/browse", headers={"Cookie": session})
    assert status == 200 and "utter_faq/" in body
    status, headers, _ = request(
        console + "/logout", data=b"", method="POST", headers={"Cookie": session}
    )
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]


def test_cross_site_login_post_is_refused(console):
    form = urllib.parse.urlencode({"token": TOKEN}).encode()
    status, headers, _ = request(
        console + "/login", data=form, method="POST", headers={"Origin": "https://evil.example"}
    )
    assert status == 403 and "Set-Cookie" not in headers


def test_repeated_wrong_tokens_are_throttled(catalog, keyword_searcher):
    app = ConsoleApp(
        catalog,
        keyword_searcher,
        auth.Guard(TOKEN),
        auth.LoginThrottle(limit=3),
        log_requests=False,
    )
    server, _ = start_in_thread(app)
    try:
        form = urllib.parse.urlencode({"token": "wrong-token-0123456789"}).encode()
        codes = [request(server.url + "/login", data=form, method="POST")[0] for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        good = urllib.parse.urlencode({"token": TOKEN}).encode()
        assert request(server.url + "/login", data=good, method="POST")[0] == 429
    finally:
        server.shutdown()
        server.server_close()


def test_search_page_escapes_the_query_and_shows_crisis_first(console):
    query = '<script>alert("x")</script> does insurance pay'
    status, _, body = request(
        console + "/?" + urllib.parse.urlencode({"q": query}), headers=bearer()
    )
    assert status == 200
    assert "<script>alert" not in body and "&lt;script&gt;alert(&quot;x&quot;)" in body
    status, _, body = request(
        console + "/?" + urllib.parse.urlencode({"q": CRISIS_QUERIES[0]}), headers=bearer()
    )
    assert 'id="crisis-result"' in body
    assert body.index('id="crisis-result"') < body.index('class="card answer"')


def test_api_search_returns_json(console):
    status, _, body = request(
        console + "/api/search?q=" + urllib.parse.quote("how long is a session"), headers=bearer()
    )
    payload = json.loads(body)
    assert status == 200 and payload["crisis"] is False
    assert "utter_faq/session_length" in [r["response"] for r in payload["results"]]
    for result in payload["results"]:
        assert result["topic"] and result["texts"] and "sources" in result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _console_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != auth.TOKEN_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_console_refuses_to_start_without_a_token(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "console",
            "--no-model",
            "--port",
            str(_free_port()),
            "--token-file",
            str(tmp_path / "none"),
        ],
        cwd=ROOT,
        env=_console_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Refusing to start" in proc.stderr


def test_console_dev_token_binds_loopback_and_works(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "console",
            "--no-model",
            "--dev-token",
            "--quiet",
            "--port",
            str(port),
            "--token-file",
            str(tmp_path / "none"),
        ],
        cwd=ROOT,
        env=_console_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        token, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            if line.startswith("Development token for this run only:"):
                token = line.rsplit(":", 1)[1].strip()
            if "Staff console on http://127.0.0.1:" in line:
                break
        assert token and len(token) >= auth.MIN_TOKEN_LENGTH
        url = f"http://127.0.0.1:{port}"
        assert request(url + "/")[0] == 401
        assert request(url + "/", headers=bearer(token))[0] == 200
    finally:
        proc.terminate()
        proc.wait(20)


def test_console_binds_to_loopback_by_default():
    import argparse

    from bot.console.cli import add_console_arguments

    parser = argparse.ArgumentParser()
    add_console_arguments(parser)
    args = parser.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 8081


def test_request_log_never_holds_the_callers_words(catalog, keyword_searcher, capsys):
    app = ConsoleApp(catalog, keyword_searcher, auth.Guard(TOKEN), log_requests=True)
    server, _ = start_in_thread(app)
    try:
        request(
            server.url + "/?" + urllib.parse.urlencode({"q": "my husband wants to die"}),
            headers=bearer(),
        )
        request(server.url + "/api/search?q=secret+words")
    finally:
        server.shutdown()
        server.server_close()
    log = capsys.readouterr().err
    assert "GET / 200" in log and "GET /api/search 401" in log
    assert "husband" not in log and "secret" not in log


# ----------------------------------------------------------------- nothing secret in the log
def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Sends bytes as they are (pipelined requests, broken ones) and reads until the
    server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.settimeout(2)
        answer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer


def test_the_console_log_never_holds_a_submitted_token(tmp_path):
    """Every refused login path, against the real `python -m bot console` with its
    default logging."""
    real = "real-staff-token-" + "R" * 24
    wrong = ["wrong-guess-" + "W" * 20 + str(i) for i in range(8)]
    port = _free_port()
    log_path = tmp_path / "console.log"
    env = {**_console_env(), auth.TOKEN_ENV: real}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "console", "--no-model", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while "Staff console on" not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.2)

        def form(token: str) -> bytes:
            return urllib.parse.urlencode({"token": token}).encode()

        codes = []
        # Wrong tokens until the throttle answers 429, then the RIGHT token while throttled.
        for token in wrong[:6]:
            codes.append(request(url + "/login", data=form(token), method="POST")[0])
        codes.append(request(url + "/login", data=form(real), method="POST")[0])
        # Cross-site posts, with the right token in the body.
        codes.append(
            request(
                url + "/login",
                data=form(real),
                method="POST",
                headers={"Origin": "https://evil.example"},
            )[0]
        )
        codes.append(
            request(
                url + "/login",
                data=form(real),
                method="POST",
                headers={"Sec-Fetch-Site": "cross-site"},
            )[0]
        )
        codes.append(
            request(
                url + "/logout",
                data=form(real),
                method="POST",
                headers={"Origin": "https://evil.example"},
            )[0]
        )
        # Other methods and pages with the token in the body, the query or a header.
        codes.append(request(url + "/login", data=form(real), method="PUT")[0])
        codes.append(request(url + "/browse", data=form(real), method="POST")[0])
        codes.append(request(url + "/?" + urllib.parse.urlencode({"token": real, "q": real}))[0])
        codes.append(request(url + "/login?" + urllib.parse.urlencode({"token": real}))[0])
        codes.append(
            request(url + "/api/search?q=x", headers={"Authorization": f"Bearer {wrong[6]}"})[0]
        )
        codes.append(request(url + "/", headers={"Cookie": f"{auth.COOKIE_NAME}={real}"})[0])
        # Bodies too big for the form, and too big for the server.
        codes.append(request(url + "/login", data=form(real + "x" * 5000), method="POST")[0])
        codes.append(request(url + "/login", data=form(real + "x" * 20000), method="POST")[0])
        # Raw requests: pipelined after a refused login (the old leak), a lying
        # Content-Length, a broken request line, a broken chunked body.
        body = form(real)
        login = (
            b"POST /login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        pipelined = _raw(
            port, login + login + b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert pipelined.count(b"HTTP/1.1 ") == 3, pipelined[:300]
        _raw(port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + body)
        _raw(
            port, b"POST /login?" + real.encode() + b" HTTP/1.1 junk " + real.encode() + b"\r\n\r\n"
        )
        _raw(port, b"GARBAGE " + real.encode() + b"\r\n\r\n")
        _raw(
            port,
            b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            + body
            + b"\r\n0\r\n\r\n",
        )
        time.sleep(0.5)
        assert request(url + "/", headers=bearer(real))[0] == 200  # still serving
    finally:
        proc.terminate()
        proc.wait(20)
    output = log_path.read_text(errors="replace")
    assert codes[:5] == [401] * 5 and codes[5] == 429 and codes[6] == 429, codes
    assert codes[7:10] == [403, 403, 403], codes
    assert "POST /login 401" in output and "POST /login 429" in output, "requests are logged"
    for secret in [real] + wrong:
        assert secret not in output, f"the console log holds a submitted token: {secret[:12]}..."
    assert "R" * 24 not in output and "W" * 20 not in output


def test_the_throttle_slows_guessing_but_lets_the_right_token_in_soon(catalog, keyword_searcher):
    app = ConsoleApp(
        catalog,
        keyword_searcher,
        auth.Guard(TOKEN),
        auth.LoginThrottle(limit=3, delay=1.0),
        log_requests=False,
    )
    server, _ = start_in_thread(app)
    try:
        wrong = urllib.parse.urlencode({"token": "wrong-token-0123456789"}).encode()
        good = urllib.parse.urlencode({"token": TOKEN}).encode()
        codes = [request(server.url + "/login", data=wrong, method="POST")[0] for _ in range(3)]
        status, headers, _ = request(server.url + "/login", data=good, method="POST")
        assert codes == [401, 401, 401] and status == 429 and headers["Retry-After"] == "1"
        time.sleep(1.1)
        # One more wrong guess is allowed, and then a wait again: one guess a second.
        assert request(server.url + "/login", data=wrong, method="POST")[0] == 401
        assert request(server.url + "/login", data=wrong, method="POST")[0] == 429
        time.sleep(1.1)
        assert request(server.url + "/login", data=good, method="POST")[0] == 303
        assert request(server.url + "/login", data=wrong, method="POST")[0] == 401  # record cleared
    finally:
        server.shutdown()
        server.server_close()


def test_default_throttle_never_locks_the_right_token_out_for_minutes():
    throttle = auth.LoginThrottle()
    for _ in range(100):
        throttle.failed("10.0.0.1")
    assert 0 < throttle.wait_seconds("10.0.0.1") <= 10
    assert throttle.wait_seconds("10.0.0.2") == 0


# ----------------------------------------------------------------- Spanish
def test_spanish_phone_script_holds_every_spanish_response_and_no_english_one():
    spanish = Catalog(language="es")
    document = normalize(export.export(spanish, "md"))
    for name, variants in content.raw_responses().items():
        for variant in variants:
            text = normalize(plain(content.fill(variant.get("text") or "", spanish.clinic)))
            is_spanish = (variant.get("metadata") or {}).get("language") == "es"
            assert (text in document) == is_spanish, (name, text[:60])


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_spanish_phone_script_reads_as_spanish_around_the_answers(fmt):
    spanish = Catalog(language="es")
    document = htmllib.unescape(export.export(spanish, fmt))
    words = spanish.words
    for key in ("contents", "word_for_word", "general_only", "crisis_pointer"):
        assert words[key] in document, key
    assert words.topic("Cost and insurance") in document
    for line in spanish.crisis.say:
        assert line in document
    for key in ("say", "numbers", "do_not"):
        assert spanish.crisis.labels[key] in document
    # None of the English frame, crisis script or decision-aid titles.
    english = Catalog()
    for key in ("contents", "word_for_word", "general_only", "crisis_pointer"):
        assert english.words[key] not in document, key
    for key in ("say", "numbers", "do_not"):
        heading = english.crisis.labels[key]
        assert f"### {heading}\n" not in document and f">{heading}<" not in document, heading
    for section in english.decision_sections:
        assert section.title not in document
    if fmt == "html":
        assert '<html lang="es">' in export.export(spanish, fmt)


def test_spanish_crisis_script_matches_the_spanish_crisis_reply():
    script = load_crisis_script(language="es")
    assert script.language == "es" and script.sources == load_crisis_script().sources
    bot_text = content.answer("utter_crisis", "es").text
    numbers = {n.number for n in script.numbers}
    assert {"988", "911"} <= numbers
    for number in numbers:
        assert number in bot_text, (
            f"{number} is in the Spanish staff script but not in utter_crisis"
        )
    assert script.bot_reply() == bot_text
    assert violations(script.as_text()) == []
    assert set(script.labels) == set(load_crisis_script().labels)


def test_console_words_have_the_same_keys_in_both_languages():
    from bot.console.words import WORDS_FILE

    data = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    assert set(data["en"]) == set(data["es"])
    assert set(data["en"]["decision_titles"]) == set(data["es"]["decision_titles"])
    topics = {a.topic for a in content.answers()}
    assert set(data["es"]["topics"]) == topics


@pytest.mark.parametrize(
    "query, want",
    [
        ("¿cuánto cuesta una infusión?", "utter_faq/cost"),
        ("cuanto dura la sesion de ketamina", "utter_faq/session_length"),
        ("¿qué efectos secundarios tiene?", "utter_faq/side_effects"),
    ],
)
def test_search_understands_spanish_questions(searcher, query, want):
    assert want in searcher.search(query).names
