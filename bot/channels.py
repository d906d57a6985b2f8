"""SafeRestInput: Rasa's REST channel, hardened for a public website.

Same URL and reply format as Rasa's ``rest`` channel
(POST /webhooks/rest/webhook, body ``{"sender": ..., "message": ...}``), plus:

- every malformed request gets a 4xx with a short JSON error (Rasa's stock
  channel answers an empty body or a JSON list with a 500);
- odd messages get a polite reply: empty text, very long text (cut down, but a
  crisis phrase anywhere in it is kept), Rasa's ``/intent`` syntax for intents
  that are not ours to trigger;
- if anything fails while handling a message, the visitor still gets the fixed
  "something went wrong" reply, with 988 and the clinic's number;
- the first message of a conversation session (a new visitor, or one back
  after the domain's session expiry) also gets the short "who I am"
  introduction. Whether a message opened a session is read from the tracker
  store after its turn (decided under the conversation's lock), never from
  this process's memory, so it holds with several replicas on one store;
- when a service every turn needs is down (the Redis lock store, a shared
  tracker store's database) the answer is a 503 with a short JSON error, not a
  reply built from a conversation that could not be loaded or stored.
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import structlog
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import SessionStarted, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_speedups
from bot.content import fill, system_message
from bot.safety.crisis import detect
from bot.unavailable import ServiceUnavailable

# Every `rasa run` loads this channel (credentials.yml), so the fix applies there.
rasa_speedups.apply()

structlogger = structlog.get_logger()

MAX_BODY_BYTES = 1_000_000
MAX_SENDER_CHARS = 128
# Longer texts are cut before NLU; the crisis detector still reads all of it.
MAX_NLU_CHARS = 2_000
CRISIS_WINDOW_CHARS = 300

EMPTY_INPUT = "/empty_input"
# Commands that rightly get no reply (the widget's "start over").
SILENT_COMMANDS = ("/restart", "/session_start")
# Intents a visitor's button or the widget may trigger with Rasa's "/intent"
# syntax. Retrieval intents (faq, advice) need the classifier, so "/faq" and
# unknown intents are read as plain text instead.
NOT_TRIGGERABLE = {"faq", "advice", "empty_input", "nlu_fallback"}
COMMAND = re.compile(r"^/(?P<intent>[A-Za-z_][\w-]*)")
# Zero-width and other invisible format characters (Unicode category Cf) and
# control characters other than newline and tab.
_INVISIBLE = {"Cf", "Cc"}


class BadRequest(Exception):
    """A request we answer with a 4xx."""

    def __init__(self, status: int, message: Text) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def clean_text(text: Text) -> Text:
    """Normalises Unicode and drops invisible characters; keeps newlines and tabs."""
    text = unicodedata.normalize("NFC", text)
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in _INVISIBLE
    )


def shorten(text: Text) -> Text:
    """Cuts a very long message for NLU, keeping any crisis phrase in it."""
    if len(text) <= MAX_NLU_CHARS:
        return text
    result = detect(text)
    if result.is_crisis and result.span is not None:
        start = max(0, result.span[0] - CRISIS_WINDOW_CHARS)
        return text[start : result.span[1] + CRISIS_WINDOW_CHARS]
    return text[:MAX_NLU_CHARS]


def route_command(text: Text, triggerable: set) -> Text:
    """Lets "/intent" through only for our own button intents."""
    match = COMMAND.match(text)
    if match and match.group("intent") not in triggerable:
        return text.lstrip("/").strip() or EMPTY_INPUT
    return text


def parse_request(body: bytes) -> Tuple[Text, Text, Optional[Dict[Text, Any]]]:
    """Validates a webhook body; returns (sender, text, metadata) or raises BadRequest."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, "Request body is too large.")
    if not body or not body.strip():
        raise BadRequest(400, "Request body must be a JSON object.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "Request body is not valid JSON.")
    if not isinstance(payload, dict):
        raise BadRequest(400, "Request body must be a JSON object.")

    sender = payload.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest(400, "'sender' must be a non-empty string.")
    if len(sender) > MAX_SENDER_CHARS or not sender.isprintable():
        raise BadRequest(400, "'sender' must be printable and at most 128 characters.")

    text = payload.get("message")
    if not isinstance(text, str):
        raise BadRequest(400, "'message' must be a string.")

    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest(400, "'metadata' must be a JSON object.")
    return sender, text, metadata


class SafeRestInput(RestInput):
    """Rasa's REST channel with validation, polite fallbacks and a first-turn intro."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("safe_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, metadata = parse_request(request.body)
            except BadRequest as error:
                return response.json({"error": error.message}, status=error.status)
            agent = request.app.ctx.agent
            try:
                messages = await self._handle(agent, on_new_message, sender, text, metadata)
            except ServiceUnavailable as error:
                structlogger.warning("safe_rest.message.unavailable", sender=sender, error=str(error))
                return response.json(
                    {"error": "The assistant is briefly unavailable. Please try again in a moment.",
                     "text": system_message("technical_issue")},
                    status=503, headers={"Retry-After": "2"})
            return response.json(messages)

        return webhook

    async def _handle(
        self,
        agent: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: Text,
        text: Text,
        metadata: Optional[Dict[Text, Any]],
    ) -> List[Dict[Text, Any]]:
        domain = agent.domain
        text = clean_text(text).strip()
        text = route_command(shorten(text), set(domain.intents) - NOT_TRIGGERABLE) if text else EMPTY_INPUT
        _fail_loudly(agent.tracker_store)

        collector = CollectingOutputChannel()
        message = UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
        handled = False
        try:
            await on_new_message(message)
            handled = True
        except ServiceUnavailable:
            raise
        except Exception:  # the visitor must still get an answer
            structlogger.exception("safe_rest.message.failure", sender=sender)
            collector.messages = [{"recipient_id": sender, "text": system_message("technical_issue")}]
        first_turn = handled and await _opened_session(agent, sender, message.message_id)

        messages = collector.messages
        if not messages and not text.startswith(SILENT_COMMANDS):
            # Rasa chose to say nothing, e.g. because a custom action could not
            # reach the action server: never leave the visitor without a reply.
            messages = [{"recipient_id": sender, "text": system_message("technical_issue")}]
        if first_turn and messages and not _starts_with_own_intro(domain, messages):
            messages = [{"recipient_id": sender, "text": _render(domain, "utter_intro")}] + messages
        return messages


def _primary_store(store: Any) -> Any:
    return store._tracker_store if isinstance(store, FailSafeTrackerStore) else store


def _raise_unavailable(error: Exception) -> None:
    raise ServiceUnavailable(f"tracker store: {error}") from error


def _fail_loudly(store: Any) -> None:
    """A shared store's failure stops the turn (503) instead of Rasa's fallback.

    Rasa wraps the tracker store in a FailSafeTrackerStore that, when the
    database fails, reads an empty conversation and keeps the turn in this
    process's memory: a reply without the conversation's context, and a turn
    no other replica will ever see.
    """
    if isinstance(store, FailSafeTrackerStore) and getattr(store._tracker_store, "shared", False):
        store._on_tracker_store_error = _raise_unavailable


async def _opened_session(agent: Any, sender: Text, message_id: Optional[Text]) -> bool:
    """True when this message's turn started a conversation session.

    Rasa starts a session for a new visitor and for one back after the domain's
    session expiry. Our tracker store notes it when it stores the turn; other
    stores are read back.
    """
    noted = getattr(_primary_store(agent.tracker_store), "session_opened", None)
    if noted is not None:
        opened = noted(message_id)
        if opened is not None:
            return opened
    try:
        tracker = await agent.tracker_store.retrieve(sender)
    except Exception:  # store unreachable: no intro rather than no answer
        return False
    return opened_in(list(tracker.events) if tracker else [], message_id)


def opened_in(events: List[Any], message_id: Optional[Text]) -> bool:
    """Looking back from the message: a session start (not a rollover) before any earlier user message."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], UserUttered) and events[i].message_id == message_id:
            for earlier in reversed(events[:i]):
                if isinstance(earlier, UserUttered):
                    return False
                if isinstance(earlier, SessionStarted):
                    return not (earlier.metadata or {}).get("rollover")
            return True
    return False


def _clinic_values(domain: Any) -> Dict[Text, Any]:
    return {slot.name: slot.initial_value for slot in domain.slots}


def _render(domain: Any, name: Text) -> Text:
    variants = [v for v in domain.responses.get(name, []) if not v.get("condition")]
    return fill(variants[0]["text"], _clinic_values(domain)) if variants else ""


def _starts_with_own_intro(domain: Any, messages: List[Dict[Text, Any]]) -> bool:
    """True when the reply already says who the bot is (crisis card, check-in, greeting)."""
    first = messages[0].get("text") or ""
    values = _clinic_values(domain)
    own = [
        fill(v.get("text") or "", values)
        for name in ("utter_crisis", "utter_risk_check", "utter_greet", "utter_intro")
        for v in domain.responses.get(name, [])
    ]
    return first in own
