"""The trained Rasa model as a ranker of responses, loaded once, in-process.

`Agent.load(model)` then `agent.parse_message(text)` gives the intent ranking
and, for the retrieval intents (faq, advice), the classifier's ranking of
`intent_response_key`s ("faq/session_length" -> response utter_faq/session_length).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from bot import content

DEFAULT_MODEL = content.ROOT / "models" / "ketamine-aid.tar.gz"
RETRIEVAL_INTENTS = ("faq", "advice")
# Intents the console never offers as an answer (the crisis script covers crisis).
NOT_ANSWERS = frozenset({"nlu_fallback", "out_of_scope", "empty_input", "crisis"})

Parse = Callable[[str], Dict[str, Any]]


def responses_from_parse(parsed: Dict[str, Any]) -> List[Tuple[str, float]]:
    """Response names with a score in [0, 1], best first, from one parse result.

    Scores are relative, so the blend with keywords does not depend on how
    peaked a given model's confidences are:
    - the intent confidences are renormalized over the intents that have an
      answer (crisis and fallback are left out: a crisis search shows the
      crisis script first anyway, and staff still want the best answers below);
    - a retrieval answer (faq/advice) scores P(its intent) x its selector
      confidence relative to the selector's best answer;
    - a plain intent (clinic_contact) scores P(intent), as utter_<intent>.
    """
    intents: Dict[str, float] = {}
    for item in parsed.get("intent_ranking") or []:
        name = item.get("name")
        if name and name not in intents and name not in NOT_ANSWERS:
            intents[name] = max(float(item.get("confidence") or 0.0), 0.0)
    total = sum(intents.values())
    if total > 0:
        intents = {name: p / total for name, p in intents.items()}
    scores: Dict[str, float] = {}
    selector = parsed.get("response_selector") or {}
    for retrieval in RETRIEVAL_INTENTS:
        ranking = [
            item
            for item in (selector.get(retrieval) or {}).get("ranking") or []
            if item.get("intent_response_key")
        ]
        best = max((float(item.get("confidence") or 0.0) for item in ranking), default=0.0)
        if best <= 0:
            continue
        weight = intents.get(retrieval, 0.0)
        for item in ranking:
            name = f"utter_{item['intent_response_key']}"
            score = weight * float(item.get("confidence") or 0.0) / best
            scores[name] = max(scores.get(name, 0.0), score)
    for intent, p in intents.items():
        if intent not in RETRIEVAL_INTENTS:
            name = f"utter_{intent}"
            scores[name] = max(scores.get(name, 0.0), p)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _quiet_rasa_logs() -> None:
    """Rasa's debug logs print every parsed text: callers' words must not end up in logs."""
    import logging

    try:
        from rasa.utils.common import configure_logging_and_warnings
        from rasa.utils.log_utils import configure_structlog

        configure_logging_and_warnings(logging.WARNING)
        configure_structlog(logging.WARNING)
    except ImportError:  # another Rasa version: plain logging levels still apply
        logging.getLogger("rasa").setLevel(logging.WARNING)


class NluRanker:
    """Ranks responses for a text with the trained model; thread-safe.

    Every parse runs on one worker thread of its own: the model's event loop
    never meets a loop already running in the caller's thread (a web server,
    or Playwright's sync API in a test), and calls never overlap.
    """

    def __init__(self, parse: Parse, model_path: Optional[Path] = None) -> None:
        self._parse = parse
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staff-console-nlu")
        self.model_path = model_path

    def parse(self, text: str, timeout: float = 60.0) -> Dict[str, Any]:
        return self._worker.submit(self._parse, text).result(timeout)

    @classmethod
    def load(cls, model_path: Path = DEFAULT_MODEL) -> NluRanker:
        """Loads the model (10-20 s) into this process, with its own event loop."""
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
        os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
        from rasa.core.agent import Agent

        _quiet_rasa_logs()
        loop = asyncio.new_event_loop()
        agent = Agent.load(str(model_path))

        def parse(text: str) -> Dict[str, Any]:
            return loop.run_until_complete(agent.parse_message(text))

        return cls(parse, Path(model_path))
