"""Token buckets keyed by visitor or client address, for the REST channel.

A maintained library was the first choice, but ``limits`` (the one Flask-Limiter
and SlowAPI build on) needs ``packaging>=21`` and Rasa 3.6 pins
``packaging<21``; ``sanic-limiter`` has had no release since 2018 and pulls in
the same ``limits``. A token bucket is small enough to keep here and test.

Each key gets a bucket of ``burst`` tokens, refilled at ``per_minute`` tokens a
minute; a request takes one token or is refused with the seconds to wait. Only
keys seen recently are kept: a bucket that has had time to refill completely is
the same as no bucket, so it is dropped, and the table is bounded.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Text, Tuple

# The table never grows past this many keys; the oldest go first. A dropped
# key only gets a full bucket again, which a flood cannot use for long.
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Rate:
    burst: float
    per_minute: float

    @classmethod
    def parse(cls, value: Any, default: Optional[Rate]) -> Optional[Rate]:
        """A rate from credentials.yml: {burst, per_minute}, or off/null for no limit."""
        if value is None or value is False or (isinstance(value, str) and value.lower() == "off"):
            return None
        if not isinstance(value, Mapping):
            raise ValueError(
                f"a rate limit must be {{burst: N, per_minute: N}} or off, not {value!r}"
            )
        burst = float(value.get("burst", default.burst if default else 0))
        per_minute = float(value.get("per_minute", default.per_minute if default else 0))
        if burst < 1 or per_minute <= 0:
            raise ValueError(
                f"a rate limit needs burst >= 1 and per_minute > 0, not {dict(value)!r}"
            )
        return cls(burst, per_minute)


class RateLimiter:
    """One token bucket per key."""

    def __init__(
        self, rate: Rate, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self.rate = rate
        self._per_second = rate.per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens left, time they were counted)
        self._buckets: OrderedDict[Text, Tuple[float, float]] = OrderedDict()

    def take(self, key: Text) -> float:
        """Takes a token: 0.0 if allowed, else the seconds until one is free."""
        now = self._clock()
        tokens, then = self._buckets.pop(key, (self.rate.burst, now))
        tokens = min(self.rate.burst, tokens + (now - then) * self._per_second)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self._per_second

    def _store(self, key: Text, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)  # pop + set: the key is now the newest
        full_after = self.rate.burst / self._per_second
        while self._buckets:
            oldest, (_, seen) = next(iter(self._buckets.items()))
            if len(self._buckets) > self._max_keys or now - seen > full_after:
                del self._buckets[oldest]
            else:
                break

    def forget(self, key: Text) -> None:
        self._buckets.pop(key, None)

    def keys(self) -> int:
        """How many keys are remembered."""
        return len(self._buckets)


def retry_after(seconds: float) -> Text:
    """The Retry-After header: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
