"""Staff-only access: one configured token, checked on every request.

The token comes from the STAFF_CONSOLE_TOKEN environment variable or from a
git-ignored file (default .rasa_state/staff_console_token; .rasa_state/ is in
.gitignore). Requests carry it as `Authorization: Bearer <token>`, or log in
once with a form that sets an HttpOnly, SameSite=Strict session cookie. The
cookie holds a signed timestamp (never the token), signed with a key made fresh
at every start. Every comparison is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from collections import defaultdict, deque
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Deque, Dict, Mapping, Optional

from bot import content

TOKEN_ENV = "STAFF_CONSOLE_TOKEN"
DEFAULT_TOKEN_FILE = content.ROOT / ".rasa_state" / "staff_console_token"
MIN_TOKEN_LENGTH = 16
COOKIE_NAME = "staff_console_session"
SESSION_SECONDS = 12 * 3600


class TokenError(RuntimeError):
    """No usable token is configured: the console must not start."""


def load_token(token_file: Optional[Path] = None, env: Mapping[str, str] = os.environ) -> str:
    token = (env.get(TOKEN_ENV) or "").strip()
    where = f"${TOKEN_ENV}"
    path = Path(token_file) if token_file else DEFAULT_TOKEN_FILE
    if not token and path.is_file():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenError(f"{path} is readable by other users; run: chmod 600 {path}")
        token = path.read_text(encoding="utf-8").strip()
        where = str(path)
    if not token:
        raise TokenError(
            f"No staff console token. Set {TOKEN_ENV}, or put one in {path} (chmod 600), "
            "or start with --dev-token for a random one-off token."
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"The token in {where} is too short (at least {MIN_TOKEN_LENGTH} characters)."
        )
    return token


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """Decides whether a request comes from staff."""

    def __init__(self, token: str, *, secure_cookie: bool = False) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokenError(f"token too short (at least {MIN_TOKEN_LENGTH} characters)")
        self._token = token.encode("utf-8")
        self._key = secrets.token_bytes(32)  # sessions end when the console restarts
        self.secure_cookie = secure_cookie

    # -- the token itself ---------------------------------------------
    def token_matches(self, candidate: Optional[str]) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token)

    def bearer_ok(self, authorization: Optional[str]) -> bool:
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    # -- the session cookie -------------------------------------------
    def _sign(self, issued: str) -> str:
        return hmac.new(self._key, issued.encode("ascii"), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        issued = str(int(time.time()))
        return f"{issued}.{self._sign(issued)}"

    def session_ok(self, cookie_header: Optional[str]) -> bool:
        if not cookie_header:
            return False
        try:
            jar = SimpleCookie()
            jar.load(cookie_header)
        except CookieError:
            return False
        morsel = jar.get(COOKIE_NAME)
        if morsel is None:
            return False
        issued, _, signature = morsel.value.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(
            signature.encode(), self._sign(issued).encode()
        ):
            return False
        return 0 <= time.time() - int(issued) <= SESSION_SECONDS

    def set_cookie_header(self) -> str:
        secure = "; Secure" if self.secure_cookie else ""
        return (
            f"{COOKIE_NAME}={self.new_session()}; HttpOnly; SameSite=Strict; Path=/; "
            f"Max-Age={SESSION_SECONDS}{secure}"
        )

    def clear_cookie_header(self) -> str:
        secure = "; Secure" if self.secure_cookie else ""
        return f"{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"

    def allowed(self, headers: Mapping[str, str]) -> bool:
        return self.bearer_ok(headers.get("Authorization")) or self.session_ok(
            headers.get("Cookie")
        )


class LoginThrottle:
    """Slows token guessing from one address without locking staff out for long.

    The first ``limit`` wrong tokens within ``window`` seconds are answered at
    once; after that, each further try from that address must wait ``delay``
    seconds after the last wrong one (429 with Retry-After). So a guesser gets
    one try per ``delay`` seconds, and a person who mistyped waits ``delay``
    seconds at most before the right token works again. A right token clears
    the address's record.
    """

    def __init__(
        self, limit: int = 5, window: float = 300.0, delay: float = 10.0, max_clients: int = 10_000
    ) -> None:
        self.limit, self.window, self.delay = limit, window, delay
        self.max_clients = max_clients
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> Deque[float]:
        failures = self._failures[client]
        cutoff = now - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def wait_seconds(self, client: str) -> float:
        """0 if this address may try now, else the seconds it has to wait."""
        with self._lock:
            now = time.monotonic()
            failures = self._recent(client, now)
            if not failures:
                self._failures.pop(client, None)
            if len(failures) < self.limit:
                return 0.0
            return max(0.0, failures[-1] + self.delay - now)

    def blocked(self, client: str) -> bool:
        return self.wait_seconds(client) > 0

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            failures = self._recent(client, now)
            failures.append(now)
            while len(failures) > self.limit:  # only the latest `limit` matter
                failures.popleft()
            if len(self._failures) > self.max_clients:  # bounded: oldest record goes
                oldest = min(
                    self._failures, key=lambda c: self._failures[c][-1] if self._failures[c] else 0
                )
                self._failures.pop(oldest, None)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
