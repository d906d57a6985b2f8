"""Running it as a clinic would: `make run` with other ports, servers on loopback only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Set

import pytest

from bot.content import system_message
from scripts.servers import ROOT, free_port, texts
from tests.conftest import new_sender

pytestmark = pytest.mark.server


def listening(port: int) -> Set[str]:
    """The local addresses listening on a TCP port (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.add(
                        "::1"
                        if address.endswith("01000000") and set(address[:24]) == {"0"}
                        else "::"
                        if set(address) == {"0"}
                        else address
                    )
    return found


def post(port: int, body: dict):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_make_run_with_other_ports_works_end_to_end(model_path):
    actions, rasa, widget = free_port(), free_port(), free_port()
    log = (
        open(ROOT / ".rasa_state" / "make-run-test.log", "w")
        if (ROOT / ".rasa_state").is_dir()
        else subprocess.DEVNULL
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ACTIONS_PORT", "RASA_PORT", "MAKEFLAGS", "MFLAGS")
    }
    proc = subprocess.Popen(
        ["make", "run", f"ACTIONS_PORT={actions}", f"RASA_PORT={rasa}", f"WIDGET_PORT={widget}"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one below
    )
    sender = new_sender()
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, "make run stopped"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{rasa}/webhooks/rest/", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the bot did not come up"
                time.sleep(0.5)
        for _ in range(120):  # the action server may still be starting
            if listening(actions):
                break
            time.sleep(0.5)
        # The decision aid needs the action server: it answers on the new port.
        replies = post(rasa, {"sender": sender, "message": "compare my options"})
        assert system_message("technical_issue") not in texts(replies)
        assert any(r.get("custom") for r in replies), replies
        assert listening(actions) == {"127.0.0.1"}, (
            "the action server must not listen beyond this computer"
        )
        assert listening(rasa) == {"127.0.0.1"}
        page = (
            urllib.request.urlopen(f"http://127.0.0.1:{widget}/demo/index.html", timeout=10)
            .read()
            .decode()
        )
        assert f'data-server="http://127.0.0.1:{rasa}"' in page
    finally:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{rasa}/webhooks/rest/conversations/{sender}", method="DELETE"
            )
            urllib.request.urlopen(request, timeout=10)  # leave nothing in the developer's store
        except OSError:
            pass
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if log is not subprocess.DEVNULL:
            log.close()
    assert not listening(actions) and not listening(rasa), "make run left a server behind"


def test_make_shell_and_console_use_the_given_ports():
    out = subprocess.run(
        ["make", "-n", "shell", "RASA_PORT=5105", "ACTIONS_PORT=5155"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "rasa shell --model models/ketamine-aid.tar.gz --interface 127.0.0.1 --port 5105" in out
    assert "SANIC_HOST=127.0.0.1" in out and "run actions --port 5155" in out
    out = subprocess.run(
        ["make", "-n", "console", "CONSOLE_PORT=8181"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "console --port 8181" in out


def test_endpoints_take_the_action_port_from_the_environment(monkeypatch):
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("ACTIONS_PORT", "5155")
    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint.url == "http://127.0.0.1:5155/webhook"
