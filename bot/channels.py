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
  introduction.
"""
from __future__ import annotations

import json
import re
import time
import unicodedata
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import structlog
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_speedups
from bot.content import fill, system_message
from bot.safety.crisis import detect

# Every `rasa run` loads this channel (credentials.yml), so the fix applies there.
rasa_speedups.apply()

structlogger = structlog.get_logger()

MAX_BODY_BYTES = 1_000_000
MAX_SENDER_CHARS = 128
# Senders who already had a turn in this process (bounded, oldest dropped).
MAX_REMEMBERED_SENDERS = 50_000
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

    def __init__(self) -> None:
        super().__init__()
        # sender -> time of their last message in this process, so the tracker
        # read in _last_message_time is only needed for senders not seen yet
        # (and for everyone once after a restart).
        self._seen: "OrderedDict[Text, float]" = OrderedDict()

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
            return response.json(
                await self._handle(agent, on_new_message, sender, text, metadata)
            )

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
        first_turn = await self._starts_session(agent, sender)

        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
            )
        except Exception:  # the visitor must still get an answer
            structlogger.exception("safe_rest.message.failure", sender=sender)
            collector.messages = [{"recipient_id": sender, "text": system_message("technical_issue")}]

        messages = collector.messages
        if not messages and not text.startswith(SILENT_COMMANDS):
            # Rasa chose to say nothing, e.g. because a custom action could not
            # reach the action server: never leave the visitor without a reply.
            messages = [{"recipient_id": sender, "text": system_message("technical_issue")}]
        if first_turn and messages and not _starts_with_own_intro(domain, messages):
            messages = [{"recipient_id": sender, "text": _render(domain, "utter_intro")}] + messages
        self._remember(sender)
        return messages

    def _remember(self, sender: Text) -> None:
        self._seen[sender] = time.time()
        self._seen.move_to_end(sender)
        if len(self._seen) > MAX_REMEMBERED_SENDERS:
            self._seen.popitem(last=False)

    async def _starts_session(self, agent: Any, sender: Text) -> bool:
        """True for a new visitor, or one whose last message is older than the session expiry."""
        last = self._seen.get(sender)
        if last is None:
            last = await self._last_message_time(agent, sender)
        if last is None:
            return True
        minutes = agent.domain.session_config.session_expiration_time
        return bool(minutes) and time.time() - last > minutes * 60

    @staticmethod
    async def _last_message_time(agent: Any, sender: Text) -> Optional[float]:
        """When the sender last wrote (None: never). Read from the tracker store."""
        try:
            tracker = await agent.tracker_store.retrieve(sender)
        except Exception:  # store unreachable: no intro rather than no answer
            return time.time()
        said = [e.timestamp for e in (tracker.events if tracker else []) if isinstance(e, UserUttered)]
        return max(said) if said else None


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
