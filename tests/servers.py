"""Start the real bot (action server + Rasa server) for tests and benchmarks.

Used by pytest fixtures and by bench scripts: the servers run exactly as
`make run` runs them (same model, same endpoints, same hardened REST channel),
on free loopback ports, with a throw-away tracker store.
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
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# BOT_MODEL lets a benchmark run the tests against another trained model
# (e.g. one trained with a faster config in a temp dir).
MODEL = Path(os.environ.get("BOT_MODEL") or ROOT / "models" / "ketamine-aid.tar.gz")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> Dict[str, str]:
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

    def start(self, timeout: float = 120) -> "ActionServer":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "ActionServer":
        """Starts the process without waiting (see wait_ready)."""
        self.launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "actions", "--port", str(self.port)],
            cwd=ROOT, env=_env(), stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 120, poll: float = 0.5) -> "ActionServer":
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
    in-memory tracker store (``tracker_store="memory"``).
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
        command: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="rasa-"))
        self.log = self.workdir / "rasa.log"
        self.endpoints = self.workdir / "endpoints.yml"
        self.tracker_db = self.workdir / "tracker.db"
        self.endpoints.write_text(yaml.safe_dump(
            self._endpoints(action_port, tracker_store, self.tracker_db)))
        self.cors = list(cors)
        self.model = model
        self.extra_args = list(extra_args)
        self.cwd = Path(cwd)
        self.credentials = Path(credentials)
        # How to start Rasa; default the venv's `rasa` (benchmarks may wrap it).
        self.command = list(command) or [str(VENV_BIN / "rasa")]
        self.proc: Optional[subprocess.Popen] = None

    @staticmethod
    def _endpoints(action_port: Optional[int], tracker_store: str, db: Path) -> Dict[str, Any]:
        """The repo's endpoints.yml, with this run's action port and its own tracker db."""
        endpoints: Dict[str, Any] = {"lock_store": {"type": "in_memory"}}
        if action_port is not None:
            endpoints["action_endpoint"] = {"url": f"http://127.0.0.1:{action_port}/webhook"}
        if tracker_store == "sql":
            ours = yaml.safe_load((ROOT / "endpoints.yml").read_text())["tracker_store"]
            endpoints["tracker_store"] = {**ours, "db": str(db)}
        return endpoints

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def start(self, timeout: float = 240) -> "RasaServer":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "RasaServer":
        """Starts `rasa run` without waiting (see wait_ready)."""
        args = [
            *self.command, "run", "--model", str(self.model),
            "--port", str(self.port), "--endpoints", str(self.endpoints),
            "--credentials", str(self.credentials),
        ]
        if self.cors:
            # Rasa keeps only the last --cors flag: all origins go after one.
            args += ["--cors", *self.cors]
        self.launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            args + self.extra_args, cwd=self.cwd, env=_env(),
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 240, poll: float = 0.5) -> "RasaServer":
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
    def post(self, body: Any, raw: Optional[bytes] = None, timeout: float = 60):
        """POSTs to the webhook; returns (status, parsed JSON or text)."""
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.webhook, data=data, method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")

    def say(self, sender: str, message: str) -> List[Dict[str, Any]]:
        status, replies = self.post({"sender": sender, "message": message})
        assert status == 200, (status, replies)
        return replies


def texts(replies: List[Dict[str, Any]]) -> str:
    """All reply texts of one turn, joined (custom payloads ignored)."""
    return "\n".join(r.get("text", "") for r in replies if r.get("text"))
