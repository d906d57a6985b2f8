"""A/B measurement of speed levers on this bot, interleaved in one run.

    .venv/bin/python -m bench.ab --model models/ketamine-aid.tar.gz \\
        --variant "arena2:MALLOC_ARENA_MAX=2" \\
        --variant "memory-store:TRACKER=memory" \\
        --variant "small-rs@/tmp/x/ketamine-aid.tar.gz" --rounds 2 --record

Each variant is `name[@model][:KEY=VALUE,...]`; a baseline ("base", the given
model, no extra env) is always included. KEY=VALUE pairs go to the Rasa
server's environment, except TRACKER=memory|sql (tracker store). Variants run
in turn, round after round (A B C A B C), so drifting machine load hits them
alike; the table shows the median over rounds. Server CPU time per message is
the figure least disturbed by other work on the machine.

With --record, one line per variant goes to the "Lever measurements" table of
bench/results/history.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from bench import procs
from bench.run import HISTORY_HEADER, RESULTS, Budget, insert_row, log, serve_and_measure
from scripts.servers import MODEL

LEVER_HEADER = """## Lever measurements

This bot only, variants measured in turn in one run (bench/ab.py), median over
rounds; "vs base" compares with the baseline of the same run (CPU time per
message is the least noisy figure).

| Date (UTC) | Machine | Commit | Load | Lever | p50 | p95 | Throughput (20 senders) | CPU/msg | RSS (Rasa) | Ready | vs base (CPU/msg, p50, throughput) |
|---|---|---|---|---|---|---|---|---|---|---|---|
"""  # noqa: E501 - a markdown table row is one line


def parse_variant(spec: str, default_model: Path) -> Dict[str, Any]:
    head, _, env_part = spec.partition(":")
    name, _, model = head.partition("@")
    env: Dict[str, str] = {}
    for pair in filter(None, env_part.split(",")):
        key, _, value = pair.partition("=")
        env[key.strip()] = value.strip()
    tracker = env.pop("TRACKER", "sql")
    return {
        "name": name,
        "model": Path(model) if model else default_model,
        "env": env,
        "tracker": tracker,
    }


def med(values: Sequence[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sequential", type=int, default=96)
    ap.add_argument("--concurrent", type=int, default=160)
    ap.add_argument("--warmup", type=int, default=24)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--label", default="", help="prefix for the Lever column")
    args = ap.parse_args(argv)

    variants = [parse_variant("base", args.model.resolve())]
    variants += [parse_variant(v, args.model.resolve()) for v in args.variant]
    counts = {"sequential": args.sequential, "concurrent": args.concurrent, "warmup": args.warmup}
    budget = Budget(60 * 60)
    work = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    load_start = procs.loadavg()
    results: Dict[str, List[Dict[str, Any]]] = {v["name"]: [] for v in variants}
    try:
        for rnd in range(args.rounds):
            for v in variants:
                budget.check(f"round {rnd + 1} {v['name']}")
                log(f"round {rnd + 1}/{args.rounds}: {v['name']}")
                results[v["name"]].append(
                    serve_and_measure(
                        "ours",
                        v["model"],
                        work,
                        counts,
                        budget,
                        extra_env=v["env"],
                        tracker=v["tracker"],
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary: Dict[str, Dict[str, Optional[float]]] = {}
    for v in variants:
        rs = results[v["name"]]
        summary[v["name"]] = {
            "p50": med([r["sequential"]["p50"] for r in rs]),
            "p95": med([r["sequential"]["p95"] for r in rs]),
            "throughput": med([r["throughput"] for r in rs]),
            "cpu": med([r["cpu_ms_per_msg"] for r in rs]),
            "rss": med([r["rss_mb"] for r in rs]),
            "ready": med([r["ready_s"] for r in rs]),
            "errors": sum(r["sequential"]["errors"] + r["concurrent"]["errors"] for r in rs),
        }
    base = summary["base"]
    m = procs.machine()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = procs.git_commit()
    rows = []
    for v in variants:
        s = summary[v["name"]]

        def rel(key: str, s: Dict[str, Any] = s) -> str:
            return f"{s[key] / base[key]:.2f}x" if s[key] and base[key] else "n/a"

        lever = v["name"]
        details = [f"{k}={val}" for k, val in v["env"].items()]
        if v["tracker"] != "sql":
            details.append(f"tracker={v['tracker']}")
        if v["model"] != variants[0]["model"]:
            details.append(f"model {v['model'].name} ({v['model'].parent.name})")
        if details:
            lever += " (" + ", ".join(details) + ")"
        if args.label:
            lever = f"{args.label}: {lever}"
        err = f", {s['errors']} failed" if s["errors"] else ""
        rows.append(
            f"| {date} | {m['nproc']} x {m['cpu']} | `{commit}` | {load_start} | {lever} | "
            f"{1000 * s['p50']:.0f} ms | {1000 * s['p95']:.0f} ms | {s['throughput']:.1f} msg/s | "
            f"{s['cpu']:.0f} ms | {s['rss']:.0f} MiB | {s['ready']:.1f} s | "
            f"{rel('cpu')}, {rel('p50')}, {rel('throughput')}{err} |"
        )
    print("\n" + LEVER_HEADER.split("\n", 5)[-1].split("\n")[0])
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nload average at the end: {procs.loadavg()}")
    if args.record:
        history = RESULTS / "history.md"
        if not history.exists():
            history.write_text(HISTORY_HEADER)
        for row in rows:
            insert_row(
                RESULTS / "history.md",
                "| Date (UTC) | Machine | Commit | Load | Lever |",
                row,
                LEVER_HEADER,
            )
        log(f"recorded {len(rows)} lines in {RESULTS / 'history.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
