"""Shared fixtures: the trained model, loaded once in-process, and the real servers.

`make test` trains the model before pytest runs; the fixtures only load it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from scripts.servers import MODEL, ActionServer, RasaServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


class InProcessBot:
    """The trained Rasa agent in this process (no action server): NLU + dialogue."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        # The agent's coroutines run on a loop in its own thread: Playwright's
        # sync API (browser tests) leaves a running loop in the main thread.
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.agent = Agent.load(str(model))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(120)

    def parse(self, text: str) -> Dict[str, Any]:
        return self._run(self.agent.parse_message(text))

    def say(self, text: str, sender: str = "") -> List[Dict[str, Any]]:
        sender = sender or uuid.uuid4().hex
        return self._run(self.agent.handle_text(text, sender_id=sender)) or []

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture(scope="session")
def model_path() -> Path:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it).")
    return MODEL


@pytest.fixture(scope="session")
def bot(model_path: Path) -> Iterator[InProcessBot]:
    instance = InProcessBot(model_path)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def action_server() -> Iterator[ActionServer]:
    server = ActionServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rasa_server(model_path: Path, action_server: ActionServer) -> Iterator[RasaServer]:
    server = RasaServer(action_port=action_server.port).start()
    yield server
    server.cleanup()


def new_sender() -> str:
    return "test-" + uuid.uuid4().hex


# ---- figures ---------------------------------------------------------------
# Tests print their measured figures (recall, precision, accuracy...). pytest
# hides a passing test's output, so the summary lines are collected here and
# shown at the end of every run.
_FIGURES: List[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.when != "call":
        return
    for _, text in report.sections:
        for line in text.splitlines():
            if ("%" in line or "grade" in line) and line.strip() and not line.startswith(" "):
                _FIGURES.append(line.strip())


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in dict.fromkeys(_FIGURES):
            terminalreporter.write_line(line)
