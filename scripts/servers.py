"""Start the real bot (action server + Rasa server) on free loopback ports.

Used by the pytest fixtures, the benchmark (bench/) and the blind-set runners
(scripts/blind_eval.py, scripts/faq_eval.py): the servers run exactly as
`make run` runs them (same model, same endpoints, same hardened REST channel),
with a throw-away tracker store.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# BOT_MODEL lets a benchmark run the tests against another trained model
# (e.g. one trained with a faster config in a temp dir).
MODEL = Path(os.environ.get("BOT_MODEL") or ROOT / "models" / "ketamine-aid.tar.gz")
CHANNEL = "bot.channels.SafeRestInput"


# Channel settings for the blind-set runners: many messages from one address in
# a short time, so the rate limits are off.
NO_LIMITS = {"rate_limits": {"per_sender": "off", "per_address": "off"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        RASA_TELEMETRY_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    return env


def _wait_for(
    url: str, proc: subprocess.Popen, timeout: float, log: Path, poll: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early; log:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(poll)
    raise RuntimeError(f"{url} not ready after {timeout}s; log:\n{log.read_text()[-4000:]}")


def _terminate(proc: Optional[subprocess.Popen], grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()


class ActionServer:
    def __init__(self, port: Optional[int] = None, workdir: Optional[Path] = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="actions-"))
        self.log = self.workdir / "actions.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> ActionServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> ActionServer:
        """Starts the process without waiting (see wait_ready)."""
        self.launched_at = time.monotonic()
        # Loopback only, as `make run` starts it (rasa_sdk reads SANIC_HOST).
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "actions", "--port", str(self.port)],
            cwd=ROOT,
            env={**server_env(), "SANIC_HOST": "127.0.0.1"},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 120, poll: float = 0.5) -> ActionServer:
        """Blocks until /health answers; sets ready_seconds (time since launch)."""
        _wait_for(f"{self.url}/health", self.proc, timeout, self.log, poll)
        self.ready_seconds = time.monotonic() - self.launched_at
        return self

    def stop(self) -> None:
        _terminate(self.proc, 20)
        self.proc = None


class RasaServer:
    """`rasa run` with the trained model, our credentials and a temp SQLite tracker store.

    The keyword arguments after ``extra_args`` let benchmarks run another
    project the same way (e.g. Rasa's starter bot): its own working directory
    and credentials, no action server (``action_port=None``), Rasa's default
    in-memory tracker store (``tracker_store="memory"``). ``channel`` replaces
    settings of our channel's section of credentials.yml (rate limits, trusted
    proxies...), ``store_options`` adds tracker store settings (retention...).
    """

    def __init__(
        self,
        action_port: Optional[int],
        port: Optional[int] = None,
        cors: Sequence[str] = (),
        model: Path = MODEL,
        extra_args: Sequence[str] = (),
        *,
        cwd: Path = ROOT,
        credentials: Path = ROOT / "credentials.yml",
        tracker_store: str = "sql",
        channel: Optional[Dict[str, Any]] = None,
        store_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="rasa-"))
        self.log = self.workdir / "rasa.log"
        self.endpoints = self.workdir / "endpoints.yml"
        self.tracker_db = self.workdir / "tracker.db"
        endpoints = self._endpoints(action_port, tracker_store, self.tracker_db)
        if store_options:
            endpoints["tracker_store"].update(store_options)
        self.endpoints.write_text(yaml.safe_dump(endpoints))
        if channel is not None:
            ours = yaml.safe_load(Path(credentials).read_text())
            section = ours.setdefault(CHANNEL, {}) or {}
            ours[CHANNEL] = {**section, **channel}
            credentials = self.workdir / "credentials.yml"
            credentials.write_text(yaml.safe_dump(ours))
        self.cors = list(cors)
        self.model = model
        self.extra_args = list(extra_args)
        self.cwd = Path(cwd)
        self.credentials = Path(credentials)
        self.proc: Optional[subprocess.Popen] = None

    @staticmethod
    def _endpoints(action_port: Optional[int], tracker_store: str, db: Path) -> Dict[str, Any]:
        """The repo's endpoints.yml, with this run's action port and its own tracker db."""
        endpoints: Dict[str, Any] = {"lock_store": {"type": "in_memory"}}
        if action_port is not None:
            endpoints["action_endpoint"] = {"url": f"http://127.0.0.1:{action_port}/webhook"}
        if tracker_store == "sql":
            # Only the store's settings are taken; the action URL (with Rasa's
            # ${ACTIONS_PORT}, which needs the variable set) is this run's own.
            text = (ROOT / "endpoints.yml").read_text().replace("${ACTIONS_PORT}", "0")
            ours = yaml.safe_load(text)["tracker_store"]
            endpoints["tracker_store"] = {**ours, "db": str(db)}
        return endpoints

    def conversation_url(self, sender: str) -> str:
        return f"{self.url}/webhooks/rest/conversations/{urllib.parse.quote(sender, safe='')}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def start(self, timeout: float = 240) -> RasaServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> RasaServer:
        """Starts `rasa run` without waiting (see wait_ready)."""
        args = [
            str(VENV_BIN / "rasa"),
            "run",
            "--model",
            str(self.model),
            "--port",
            str(self.port),
            "--endpoints",
            str(self.endpoints),
            "--credentials",
            str(self.credentials),
        ]
        if self.cors:
            # Rasa keeps only the last --cors flag: all origins go after one.
            args += ["--cors", *self.cors]
        self.launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            args + self.extra_args,
            cwd=self.cwd,
            env=server_env(),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 240, poll: float = 0.5) -> RasaServer:
        """Blocks until the REST channel answers; sets ready_seconds (time since launch)."""
        _wait_for(f"{self.url}/webhooks/rest/", self.proc, timeout, self.log, poll)
        self.ready_seconds = time.monotonic() - self.launched_at
        return self

    def stop(self) -> None:
        _terminate(self.proc, 30)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- talking to it -------------------------------------------------
    def post(
        self,
        body: Any,
        raw: Optional[bytes] = None,
        timeout: float = 60,
        headers: Optional[Dict[str, str]] = None,
    ):
        """POSTs to the webhook; returns (status, parsed JSON or text)."""
        status, _, payload = self.request(
            self.webhook,
            json.dumps(body).encode() if raw is None else raw,
            "POST",
            {"Content-Type": "application/json", **(headers or {})},
            timeout,
        )
        return status, payload

    def request(
        self,
        url: str,
        data: Optional[bytes] = None,
        method: str = "GET",
        headers: Optional[Dict[str, str]] = None,
        timeout: float = 60,
    ):
        """Any request; returns (status, headers, parsed JSON or text).

        A header set to None is not sent."""
        req = urllib.request.Request(url, data=data, method=method)
        for name, value in (headers or {}).items():
            if value is not None:
                req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, got, payload = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, got, payload = err.code, dict(err.headers), err.read()
        try:
            return status, got, json.loads(payload)
        except ValueError:
            return status, got, payload.decode(errors="replace")

    def delete(self, sender: str):
        """DELETE /webhooks/rest/conversations/<sender>; returns (status, body)."""
        status, _, payload = self.request(self.conversation_url(sender), method="DELETE")
        return status, payload

    def say(self, sender: str, message: str) -> List[Dict[str, Any]]:
        status, replies = self.post({"sender": sender, "message": message})
        assert status == 200, (status, replies)
        return replies


def texts(replies: List[Dict[str, Any]]) -> str:
    """All reply texts of one turn, joined (custom payloads ignored)."""
    return "\n".join(r.get("text", "") for r in replies if r.get("text"))
