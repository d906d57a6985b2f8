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
  reply built from a conversation that could not be loaded or stored;
- hostile input is refused before it costs anything: only ``application/json``
  (415 otherwise, so a page on another site cannot post a CORS-free
  ``text/plain`` form), the body size and JSON nesting are checked before the
  body is parsed, client ``metadata`` is cut to a small allow-list;
- requests are rate limited per visitor (sender id) and per client address
  (429 with ``Retry-After``), so one flood does not hold up anyone else;
- ``DELETE /webhooks/rest/conversations/<sender_id>`` deletes a conversation
  from the tracker store and from every in-memory copy (204).

Every limit is set in one place, this channel's section of credentials.yml
(defaults in ``ChannelConfig``).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Text, Tuple

import structlog
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import SessionStarted, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_patches
from bot.content import fill, system_message
from bot.language import conversation_language, message_language
from bot.ratelimit import Rate, RateLimiter, retry_after
from bot.safety.crisis import detect
from bot.unavailable import ServiceUnavailable

structlogger = structlog.get_logger()

MAX_BODY_BYTES = 1_000_000
# A valid body is {"sender": str, "message": str, "metadata": {key: scalar}}:
# two levels. Anything much deeper is refused before json.loads, whose C
# parser would otherwise recurse until Python's RecursionError (a 500).
MAX_JSON_DEPTH = 8
# Strings and brackets in a body, counted in the same scan: a valid body has a
# handful, so the scan (and the parse after it) stays cheap whatever is sent.
MAX_JSON_PARTS = 1_000
MAX_METADATA_BYTES = 2_048
MAX_METADATA_VALUE_CHARS = 200
# Client metadata keys that are kept (every other key is dropped): the page's
# language, and whether the client already shows the intro's disclaimer itself
# (the widget does, above the conversation).
DISCLAIMER_SHOWN = "disclaimer_shown"
METADATA_KEYS = ("language", DISCLAIMER_SHOWN)
# Defaults that a person typing, or tapping the quick replies, never reaches;
# a script sending as fast as it can is slowed to the sustained rate.
PER_SENDER = Rate(burst=30, per_minute=60)
# Many visitors can share one address (a clinic's Wi-Fi, a mobile carrier).
PER_ADDRESS = Rate(burst=300, per_minute=300)
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
# Zero-width and other invisible format characters (Unicode category Cf),
# control characters other than newline and tab, and lone surrogates (Cs:
# JSON's "\ud800" escapes, which no encoder can write out).
_INVISIBLE = {"Cf", "Cc", "Cs"}
# One JSON string (an unterminated one runs to the end: the scan never goes
# back, so it stays linear) or one bracket.
_JSON_PART = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


class BadRequest(Exception):
    """A request we answer with a 4xx."""

    def __init__(
        self, status: int, message: Text, headers: Optional[Dict[Text, Text]] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class ChannelConfig:
    """The channel's limits; credentials.yml's section for this channel overrides them."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    max_json_parts: int = MAX_JSON_PARTS
    max_metadata_bytes: int = MAX_METADATA_BYTES
    metadata_keys: Tuple[Text, ...] = METADATA_KEYS
    per_sender: Optional[Rate] = PER_SENDER
    per_address: Optional[Rate] = PER_ADDRESS
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks,
    # e.g. ["127.0.0.1"] for Caddy or nginx on the same machine). Anyone else
    # could write any address into that header, so it is ignored by default.
    trusted_proxies: Tuple[Any, ...] = field(default_factory=tuple)
    # Requests made on this machine itself, straight to the bot (loopback, no
    # X-Forwarded-For): the operator, a health check, a local test run. Visitors
    # come through the reverse proxy, which adds the header, so they stay limited.
    exempt_local: bool = True

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[Text, Any]]) -> ChannelConfig:
        values = dict(values or {})
        config = cls()
        limits = values.pop("rate_limits", None) or {}
        if not isinstance(limits, Mapping):
            raise ValueError("rate_limits must be a mapping with per_sender and per_address")
        config = replace(
            config,
            per_sender=Rate.parse(limits.get("per_sender", {}), PER_SENDER),
            per_address=Rate.parse(limits.get("per_address", {}), PER_ADDRESS),
            trusted_proxies=tuple(
                ipaddress.ip_network(str(p), strict=False)
                for p in values.pop("trusted_proxies", None) or ()
            ),
        )
        if "exempt_local" in values:
            config = replace(config, exempt_local=bool(values.pop("exempt_local")))
        if "metadata_keys" in values:
            config = replace(
                config, metadata_keys=tuple(str(k) for k in values.pop("metadata_keys") or ())
            )
        for name in ("max_body_bytes", "max_json_depth", "max_json_parts", "max_metadata_bytes"):
            if name in values:
                config = replace(config, **{name: int(values.pop(name))})
        if values:
            raise ValueError(f"unknown settings for bot.channels.SafeRestInput: {sorted(values)}")
        return config


def clean_text(text: Text) -> Text:
    """Normalises Unicode and drops invisible characters; keeps newlines and tabs."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in _INVISIBLE)


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


def check_json_shape(
    body: bytes, max_depth: int = MAX_JSON_DEPTH, max_parts: int = MAX_JSON_PARTS
) -> None:
    """Refuses deeply nested or sprawling JSON without parsing it (BadRequest).

    Brackets inside strings do not count. The scan stops at the first limit
    passed, so a hostile body costs at most ``max_parts`` steps.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return  # not enough brackets anywhere to nest that deep
    depth = 0
    for parts, match in enumerate(_JSON_PART.finditer(body), 1):
        if parts > max_parts:
            raise BadRequest(400, "Request body has too many parts.")
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > max_depth:
                raise BadRequest(400, "Request body is nested too deeply.")
        elif first in _CLOSERS:
            depth = max(0, depth - 1)  # a stray closer must not hide the openers after it


def clean_metadata(metadata: Dict[Text, Any], keys: Sequence[Text]) -> Optional[Dict[Text, Any]]:
    """The allow-listed keys with a short scalar value; None when nothing is left."""
    kept = {}
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str):
            value = clean_text(value)[:MAX_METADATA_VALUE_CHARS]
        elif not isinstance(value, (int, float, bool)) or value != value:  # NaN too
            continue
        kept[key] = value
    return kept or None


def parse_request(
    body: bytes, config: ChannelConfig = ChannelConfig()
) -> Tuple[Text, Text, Optional[Dict[Text, Any]]]:
    """Validates a webhook body; returns (sender, text, metadata) or raises BadRequest."""
    if len(body) > config.max_body_bytes:
        raise BadRequest(413, "Request body is too large.")
    if not body or not body.strip():
        raise BadRequest(400, "Request body must be a JSON object.")
    check_json_shape(body, config.max_json_depth, config.max_json_parts)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, "Request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, "Request body must be a JSON object.")

    sender = parse_sender(payload.get("sender"))

    text = payload.get("message")
    if not isinstance(text, str):
        raise BadRequest(400, "'message' must be a string.")

    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest(400, "'metadata' must be a JSON object.")
    if metadata:
        if len(json.dumps(metadata)) > config.max_metadata_bytes:
            raise BadRequest(413, "'metadata' is too large.")
        metadata = clean_metadata(metadata, config.metadata_keys)
    return sender, text, metadata or None


def parse_sender(sender: Any) -> Text:
    """A sender id as the webhook and the delete URL take it, or BadRequest."""
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest(400, "'sender' must be a non-empty string.")
    if len(sender) > MAX_SENDER_CHARS or not sender.isprintable():
        raise BadRequest(400, "'sender' must be printable and at most 128 characters.")
    return sender


def check_content_type(content_type: Optional[Text]) -> None:
    """Only JSON: a browser sends a cross-site ``text/plain`` POST without asking CORS first."""
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != "application/json":
        raise BadRequest(415, "Send the request as application/json.")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise BadRequest(415, "Send the request as UTF-8 JSON.")


def client_address(peer: Text, forwarded_for: Optional[Text], trusted: Sequence[Any]) -> Text:
    """The visitor's address: the socket's peer, or, behind a trusted proxy, its X-Forwarded-For.

    X-Forwarded-For is read from the right (the hop our proxy added) and the
    first address that is not one of our proxies wins: whatever a client wrote
    further left is never believed.
    """
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer  # our proxy would not write this: do not trust the header
        if not any(address in network for network in trusted):
            return str(address)
    return peer


def _is_trusted(peer: Text, trusted: Sequence[Any]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read only as far as ``limit`` bytes (413 past it)."""
    declared = request.headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, "Request body is too large.")
    if request.stream is None:
        return request.body or b""
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "Request body is too large.")
        chunks.append(chunk)


def error_response(error: BadRequest) -> HTTPResponse:
    return response.json({"error": error.message}, status=error.status, headers=error.headers)


class SafeRestInput(RestInput):
    """Rasa's REST channel with validation, limits, deletion and a first-turn intro."""

    def __init__(self, config: Optional[ChannelConfig] = None) -> None:
        super().__init__()
        self.config = config or ChannelConfig()
        self._by_sender = RateLimiter(self.config.per_sender) if self.config.per_sender else None
        self._by_address = RateLimiter(self.config.per_address) if self.config.per_address else None

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> SafeRestInput:
        # Rasa builds the channel from credentials.yml once, when `rasa run`
        # starts: the one place where the project's Rasa patches are applied.
        rasa_patches.apply()
        return cls(ChannelConfig.from_mapping(credentials))

    def _limit(self, limiter: Optional[RateLimiter], key: Text) -> None:
        wait = limiter.take(key) if limiter is not None else 0.0
        if wait:
            raise BadRequest(
                429,
                "Too many messages. Please wait a moment and try again.",
                {"Retry-After": retry_after(wait)},
            )

    def _is_local(self, request: Request) -> bool:
        """A request from this machine, straight to the bot (not through a proxy)."""
        if not self.config.exempt_local or request.headers.get("x-forwarded-for"):
            return False
        try:
            return ipaddress.ip_address(request.ip).is_loopback
        except ValueError:
            return False

    def _check_address(self, request: Request) -> None:
        address = client_address(
            request.ip, request.headers.get("x-forwarded-for"), self.config.trusted_proxies
        )
        self._limit(self._by_address, address)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("safe_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # stream=True: the body is read by read_body, only after the cheap
        # checks and only up to the size limit.
        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                local = self._is_local(request)
                if not local:
                    self._check_address(request)
                check_content_type(request.headers.get("content-type"))
                body = await read_body(request, self.config.max_body_bytes)
                sender, text, metadata = parse_request(body, self.config)
                if not local:
                    self._limit(self._by_sender, sender)
            except BadRequest as error:
                return error_response(error)
            agent = request.app.ctx.agent
            try:
                messages = await self._handle(agent, on_new_message, sender, text, metadata)
            except ServiceUnavailable as error:
                structlogger.warning(
                    "safe_rest.message.unavailable", sender=sender, error=str(error)
                )
                return response.json(
                    {
                        "error": "The assistant is briefly unavailable. "
                        "Please try again in a moment.",
                        "text": _technical_issue(text),
                    },
                    status=503,
                    headers={"Retry-After": "2"},
                )
            return response.json(messages)

        # unquote: the widget percent-encodes the id, as any client must.
        @webhook.route("/conversations/<sender_id:str>", methods=["DELETE"], unquote=True)
        async def delete(request: Request, sender_id: Text) -> HTTPResponse:
            try:
                if not self._is_local(request):
                    self._check_address(request)
                sender = parse_sender(sender_id)
                await self.delete_conversation(request.app.ctx.agent, sender)
            except BadRequest as error:
                return error_response(error)
            return response.empty(status=204)

        return webhook

    async def delete_conversation(self, agent: Any, sender: Text) -> None:
        """Deletes everything kept about one conversation: the store and every in-memory copy.

        Holds the conversation's lock (the one Rasa holds while it handles a
        message), so a message being answered cannot write it back afterwards.
        """
        stores = _tracker_stores(agent.tracker_store)
        if not all(
            hasattr(s, "delete") or isinstance(getattr(s, "store", None), dict) for s in stores
        ):
            raise BadRequest(501, "This bot's conversation store cannot delete conversations.")
        async with agent.lock_store.lock(sender):
            for store in stores:
                if hasattr(store, "delete"):
                    result = store.delete(sender)
                    if inspect.isawaitable(result):
                        await result
                else:
                    store.store.pop(sender, None)  # Rasa's InMemoryTrackerStore
        if self._by_sender is not None:
            self._by_sender.forget(sender)

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
        text = (
            route_command(shorten(text), set(domain.intents) - NOT_TRIGGERABLE)
            if text
            else EMPTY_INPUT
        )
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
            collector.messages = [{"recipient_id": sender, "text": _technical_issue(text)}]

        messages = collector.messages
        if not messages and not text.startswith(SILENT_COMMANDS):
            # Rasa chose to say nothing, e.g. because a custom action could not
            # reach the action server: never leave the visitor without a reply.
            messages = [{"recipient_id": sender, "text": _technical_issue(text)}]
        first_turn = handled and await _opened_session(agent, sender, message.message_id)
        shown = (metadata or {}).get(DISCLAIMER_SHOWN) is True
        if first_turn and messages and not shown and not _starts_with_own_intro(domain, messages):
            language = conversation_language(text, None, (metadata or {}).get("language"))
            messages = [
                {"recipient_id": sender, "text": _render(domain, "utter_intro", language)}
            ] + messages
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
    """Looking back from the message: a session start (not a rollover) before any
    earlier user message."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], UserUttered) and events[i].message_id == message_id:
            for earlier in reversed(events[:i]):
                if isinstance(earlier, UserUttered):
                    return False
                if isinstance(earlier, SessionStarted):
                    return not (earlier.metadata or {}).get("rollover")
            return True
    return False


def _tracker_stores(store: Any) -> List[Any]:
    """The store Rasa was given and what it wraps it in (FailSafeTrackerStore,
    AwaitableTrackerStore), with the fail-safe's in-memory fallback if it made one."""
    found: List[Any] = []
    while store is not None and store not in found:
        found.append(store)
        fallback = getattr(store, "_fallback_tracker_store", None)
        if fallback is not None:
            found.append(fallback)
        store = getattr(store, "_tracker_store", None)
    # Only the innermost stores hold conversations; the wrappers delegate.
    return [s for s in found if getattr(s, "_tracker_store", None) is None]


def _clinic_values(domain: Any) -> Dict[Text, Any]:
    return {slot.name: slot.initial_value for slot in domain.slots}


def _technical_issue(text: Text) -> Text:
    """The "something went wrong" reply, in the language of the message."""
    return system_message("technical_issue", message_language(text) or "en")


def _render(domain: Any, name: Text, language: Text = "en") -> Text:
    """A response's text in one language: its variant with that metadata.language,
    else its default (unconditioned) variant."""
    variants = domain.responses.get(name, [])
    chosen = [
        v for v in variants if (v.get("metadata") or {}).get("language", "en") == language
    ] or [v for v in variants if not v.get("condition")]
    return fill(chosen[0]["text"], _clinic_values(domain)) if chosen else ""


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
