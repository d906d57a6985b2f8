"""HTTP load for the REST channel: sequential latency and concurrent throughput.

Loopback only; every request has a timeout and every phase a fixed number of
requests, so a stuck server cannot keep the benchmark running.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import aiohttp

REQUEST_TIMEOUT = 30.0


@dataclass
class Sample:
    category: str
    text: str
    seconds: float
    ok: bool
    replies: int = 0
    status: str = ""


@dataclass
class Phase:
    samples: List[Sample] = field(default_factory=list)
    wall: float = 0.0

    @property
    def ok(self) -> List[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    def latencies(self, category: Optional[str] = None) -> List[float]:
        return [s.seconds for s in self.ok if category is None or s.category == category]

    def throughput(self) -> float:
        return len(self.ok) / self.wall if self.wall else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile (q in 0..100); nan when empty."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> Dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
    }


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    sender: str,
    category: str,
    text: str,
    expect: Optional[str],
) -> Sample:
    start = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as resp:
            body = await resp.json(content_type=None)
            seconds = time.perf_counter() - start
            ok = resp.status == 200 and isinstance(body, list) and len(body) > 0
            status = f"HTTP {resp.status}" + ("" if ok else f", {len(body or [])} replies")
            if ok and expect:
                joined = " ".join(str(r.get("text") or "") for r in body)
                ok = expect in joined
                status = "ok" if ok else f"reply lacks {expect!r}: {joined[:80]!r}"
            return Sample(
                category, text, seconds, ok, len(body) if isinstance(body, list) else 0, status
            )
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        return Sample(category, text, time.perf_counter() - start, False, 0, repr(error)[:120])


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


Message = Tuple[str, str, Optional[str]]  # (category, text, expected substring or None)

_VARIANTS = (
    lambda t: t,
    lambda t: t + "?",
    lambda t: t[:1].upper() + t[1:],
    lambda t: t[:1].upper() + t[1:] + "?",
    lambda t: t + ".",
    lambda t: t + "!",
    lambda t: t[:1].upper() + t[1:] + ".",
    lambda t: t + " ?",
    lambda t: t + "??",
    lambda t: t[:1].upper() + t[1:] + "!",
    lambda t: t + "...",
    lambda t: t + " !",
    lambda t: t[:1].upper() + t[1:] + "??",
    lambda t: t[:1].upper() + t[1:] + " ?",
    lambda t: t + "?!",
    lambda t: t[:1].upper() + t[1:] + "?!",
    lambda t: t + " .",
    lambda t: t[:1].upper() + t[1:] + "...",
    lambda t: t + "!!",
    lambda t: t + " ??",
)


def variant(text: str, n: int) -> str:
    """The n-th spelling of a message: same words, other case/punctuation.

    Keeps NLU's input the same (tokenizers drop punctuation, featurizers
    lowercase) while making the raw text new, so a per-text cache (the crisis
    detector keeps one) cannot hide the real per-message cost.
    """
    return _VARIANTS[n % len(_VARIANTS)](text)


async def sequential(
    url: str,
    messages: Sequence[Message],
    count: int,
    turns_per_sender: int = 5,
    tag: str = "seq",
    offset: int = 0,
) -> Phase:
    """`count` requests one after another; a new conversation every few turns."""
    phase = Phase()
    run_id = uuid.uuid4().hex[:8]
    cycle = itertools.cycle(messages)
    async with _session(1) as session:
        start = time.perf_counter()
        for i in range(count):
            category, text, expect = next(cycle)
            text = variant(text, i // len(messages) + offset)
            sender = f"bench-{tag}-{run_id}-{i // turns_per_sender}"
            phase.samples.append(await _send(session, url, sender, category, text, expect))
        phase.wall = time.perf_counter() - start
    return phase


async def concurrent(
    url: str,
    messages: Sequence[Message],
    senders: int,
    per_sender: int,
    tag: str = "conc",
    offset: int = 0,
) -> Phase:
    """`senders` simulated visitors at once, each sending `per_sender` messages back to back."""
    phase = Phase()
    run_id = uuid.uuid4().hex[:8]

    async def visitor(n: int, session: aiohttp.ClientSession) -> None:
        sender = f"bench-{tag}-{run_id}-{n}"
        for i in range(per_sender):
            k = n * per_sender + i
            category, text, expect = messages[k % len(messages)]
            text = variant(text, k // len(messages) + offset)
            phase.samples.append(await _send(session, url, sender, category, text, expect))

    async with _session(senders) as session:
        start = time.perf_counter()
        await asyncio.gather(*(visitor(n, session) for n in range(senders)))
        phase.wall = time.perf_counter() - start
    return phase
