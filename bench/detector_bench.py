"""Per-message cost of the crisis detector, next to a naive baseline (not a test).

    .venv/bin/python bench/detector_bench.py [--repeat N]

Times every message of tests/data/crisis_messages.yml + near_miss.yml after a
warm-up and prints mean and p95 in microseconds for:
- detector (uncached): normalise -> spaCy Doc + lookup lemmas -> Matcher -> guards;
- detector (cached): the same call again (functools.lru_cache on the text);
- baseline: ``str.lower()`` + substring search over a plain list of crisis
  phrases (what a keyword filter would do).
It also prints how each one does on the same data (recall on crisis messages,
share of near misses not flagged), because the baseline is only cheaper, not
comparable.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.safety import crisis, text  # noqa: E402

# A plain keyword filter: the phrases a simple substring check would use.
BASELINE_PHRASES = [
    "suicid",
    "kill myself",
    "kms",
    "unalive",
    "end my life",
    "end it all",
    "want to die",
    "wanna die",
    "better off dead",
    "better off without me",
    "better off gone",
    "without me",
    "wish i was dead",
    "don't want to live",
    "dont want to live",
    "don't want to wake up",
    "no reason to live",
    "nothing to live for",
    "can't go on",
    "cant go on",
    "take my own life",
    "goodbye note",
    "suicide note",
    "my affairs",
    "last message",
    "self harm",
    "self-harm",
    "selfharm",
    "cutting",
    "cut myself",
    "hurt myself",
    "burn myself",
    "overdose",
    "overdosed",
    "took all my pills",
    "handful of",
    "won't wake up",
    "not breathing",
    "can't breathe",
    "chest pain",
    "seizure",
    "passed out",
    "kill my",
    "kill someone",
    "hurt someone",
    "lethal",
    "how many pills",
    "kill me",
    "tallest bridge",
    "quiero morir",
    "me quiero matar",
    "suicidarme",
    "terminar con todo",
    "mejor sin mí",
    "mejor sin mi",
    "me corto",
    "pastillas",
    "no quiero seguir viviendo",
]


def baseline(text: str) -> bool:
    lowered = text.lower()
    return any(p in lowered for p in BASELINE_PHRASES)


def _load(name: str) -> List[str]:
    data = yaml.safe_load((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))
    return [item["text"] for item in data]


def _time(fn: Callable[[str], object], texts: Sequence[str], repeat: int) -> List[float]:
    for t in texts[:50]:  # warm-up
        fn(t)
    samples: List[float] = []
    gc.disable()
    try:
        for _ in range(repeat):
            for t in texts:
                started = time.perf_counter_ns()
                fn(t)
                samples.append((time.perf_counter_ns() - started) / 1000.0)
    finally:
        gc.enable()
    return samples


def _p95(samples: List[float]) -> float:
    ordered = sorted(samples)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over the data (default 3)")
    args = parser.parse_args()

    crisis_texts = _load("crisis_messages.yml")
    near_texts = _load("near_miss.yml")
    texts = crisis_texts + near_texts

    started = time.perf_counter()
    crisis.warm_up()
    load_s = time.perf_counter() - started

    def uncached_detect(t: str) -> crisis.CrisisResult:
        text._tokenize_cached.cache_clear()  # no cache at all: the full work every time
        return crisis._detect(t)

    uncached = _time(uncached_detect, texts, args.repeat)
    crisis.detect("warm")
    for t in texts:
        crisis.detect(t)
    cached = _time(crisis.detect, texts, args.repeat)
    base = _time(baseline, texts, args.repeat)

    def quality(fn: Callable[[str], bool]) -> str:
        recall = sum(fn(t) for t in crisis_texts) / len(crisis_texts)
        precision = sum(not fn(t) for t in near_texts) / len(near_texts)
        return f"crisis recall {recall:6.1%}  near misses not flagged {precision:6.1%}"

    print(
        f"messages: {len(crisis_texts)} crisis + {len(near_texts)} near misses,"
        f" x{args.repeat} passes;"
        f" pipeline load (first call) {load_s:.2f}s"
    )
    print(f"{'':22} {'mean us':>9} {'p95 us':>9}   quality on the same data")
    rows = [
        ("detector (uncached)", uncached, quality(lambda t: uncached_detect(t).is_crisis)),
        ("detector (cached)", cached, ""),
        ("baseline substring", base, quality(baseline)),
    ]
    for name, samples, note in rows:
        print(f"{name:22} {statistics.mean(samples):9.1f} {_p95(samples):9.1f}   {note}")
    ratio = statistics.mean(uncached) / statistics.mean(base)
    print(f"detector/baseline cost ratio (uncached): {ratio:.0f}x")


if __name__ == "__main__":
    main()
