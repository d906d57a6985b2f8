"""`make bench`: this bot against Rasa's starter bot, side by side, in one run.

    .venv/bin/python -m bench.run               # full run, records the results
    .venv/bin/python -m bench.run --quick       # fewer requests, nothing recorded
    .venv/bin/python -m bench.run --model models/ketamine-aid.tar.gz --no-train

What it does, all on this machine, loopback only (127.0.0.1, free ports, never
5005/5055), with a fixed number of requests and a time limit on every step:

1. trains Rasa's starter bot (`rasa init --no-prompt` in a temp dir, default
   config) and this bot (`rasa train` into a temp --out dir), each with an
   empty Rasa cache (cold), then again with nothing changed (warm, Rasa's cache);
2. serves each in turn over the REST channel (`rasa run`, one process; this bot
   also with its action server and SQLite tracker store, as `make run` does)
   and measures time to ready, the first reply, sequential latency, throughput
   and p95 with 20 concurrent senders, RSS of the process tree after warm-up,
   CPU time per message;
3. serves this bot as `make cluster` does (PostgreSQL, Redis, HAProxy) with 1
   and with REPLICAS (default 2) Rasa replicas and measures the throughput
   through the load balancer with the same 20 concurrent senders;
4. measures the crisis detector's own cost (bench/detector_bench.py);
5. prints the table, writes bench/results/latest.md (+ latest.json) and adds
   one line to bench/results/history.md.

The machine may be busy with other work: the load average is recorded before
each phase and shown in the table, and CPU time per message is reported
because it depends much less on the load than wall-clock latency does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from bench import load, procs
from scripts.servers import ROOT, VENV_BIN, ActionServer, RasaServer, server_env

RESULTS = ROOT / "bench" / "results"
MESSAGES = yaml.safe_load((ROOT / "bench" / "messages.yml").read_text())
TRAIN_TIMEOUT = 15 * 60
READY_TIMEOUT = 240
TOTAL_BUDGET = 45 * 60  # the whole run stops itself after this


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError(f"benchmark time budget used up before: {what}")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {procs.loadavg()}] {msg}", flush=True)


def message_set(bot: str) -> List[load.Message]:
    out: List[load.Message] = []
    for category, spec in MESSAGES[bot].items():
        texts = spec["texts"] if isinstance(spec, dict) else spec
        expect = spec.get("expect") if isinstance(spec, dict) else None
        out += [(category, t, expect) for t in texts]
    # Interleave categories so every window of the run sees the same mix.
    by_cat: Dict[str, List[load.Message]] = {}
    for m in out:
        by_cat.setdefault(m[0], []).append(m)
    mixed: List[load.Message] = []
    while any(by_cat.values()):
        for cat in list(by_cat):
            if by_cat[cat]:
                mixed.append(by_cat[cat].pop(0))
    return mixed


# --------------------------------------------------------------------------- #
# training
# --------------------------------------------------------------------------- #


def _timed(args: Sequence[str], cwd: Path, env: Dict[str, str], log_file: Path) -> float:
    start = time.monotonic()
    with log_file.open("w") as out:
        proc = subprocess.Popen(list(args), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(TRAIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(
                f"{' '.join(args)} took more than {TRAIN_TIMEOUT}s; log: {log_file}"
            ) from None
        except BaseException:  # Ctrl-C / SIGTERM: do not leave a training job behind
            proc.kill()
            proc.wait()
            raise
    if code != 0:
        tail = log_file.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args)} failed ({code}); log {log_file}:\n{tail}")
    return time.monotonic() - start


def train_env(cache: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = server_env()
    env["RASA_CACHE_DIRECTORY"] = str(cache)
    env.update(extra or {})
    return env


def train_starter(work: Path, warm: bool) -> Dict[str, Any]:
    """`rasa init --no-prompt` (scaffold + training with the default config)."""
    project, cache = work / "starter", work / "starter-cache"
    project.mkdir(parents=True, exist_ok=True)  # `rasa init --no-prompt` needs it to exist
    env = train_env(cache)
    rasa = str(VENV_BIN / "rasa")
    log("starter bot: rasa init --no-prompt (cold training)")
    cold = _timed(
        [rasa, "init", "--no-prompt", "--init-dir", str(project)],
        work,
        env,
        work / "starter-train-cold.log",
    )
    models = sorted((project / "models").glob("*.tar.gz"))
    result: Dict[str, Any] = {"cold_train_s": cold, "model": str(models[-1])}
    if warm:
        log("starter bot: rasa train again, nothing changed (warm)")
        result["warm_train_s"] = _timed(
            [rasa, "train", "--out", str(work / "starter-models-warm")],
            project,
            env,
            work / "starter-train-warm.log",
        )
    return result


def train_ours(
    work: Path,
    warm: bool,
    config: Path = ROOT / "config.yml",
    extra_env: Optional[Dict[str, str]] = None,
    tag: str = "ours",
) -> Dict[str, Any]:
    cache = work / f"{tag}-cache"
    env = train_env(cache, extra_env)
    args = [
        str(VENV_BIN / "rasa"),
        "train",
        "--config",
        str(config),
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--fixed-model-name",
        "ketamine-aid",
    ]
    log(f"{tag}: rasa train, empty cache (cold)")
    cold = _timed(
        args + ["--out", str(work / f"{tag}-models")], ROOT, env, work / f"{tag}-train-cold.log"
    )
    result: Dict[str, Any] = {
        "cold_train_s": cold,
        "model": str(work / f"{tag}-models" / "ketamine-aid.tar.gz"),
    }
    if warm:
        log(f"{tag}: rasa train again, nothing changed (warm)")
        result["warm_train_s"] = _timed(
            args + ["--out", str(work / f"{tag}-models-warm")],
            ROOT,
            env,
            work / f"{tag}-train-warm.log",
        )
    return result


# --------------------------------------------------------------------------- #
# serving
# --------------------------------------------------------------------------- #


def serve_and_measure(
    bot: str,
    model: Path,
    work: Path,
    counts: Dict[str, int],
    budget: Budget,
    extra_env: Optional[Dict[str, str]] = None,
    senders: int = 20,
    tracker: str = "sql",
) -> Dict[str, Any]:
    """Starts one bot, measures it, stops it (always)."""
    messages = message_set(bot)
    saved_env = dict(os.environ)
    action: Optional[ActionServer] = None
    if bot == "starter":
        creds = work / "starter-credentials.yml"
        creds.write_text("rest:\n")  # Rasa's stock REST channel only
        server = RasaServer(
            None, model=model, cwd=work / "starter", credentials=creds, tracker_store="memory"
        )
    else:
        action = ActionServer()
        # The load generator is one address sending as fast as it can: the
        # rate limits (which would answer it 429) are off for the measurement.
        server = RasaServer(
            action.port,
            model=model,
            tracker_store=tracker,
            channel={"rate_limits": {"per_sender": "off", "per_address": "off"}},
        )
    result: Dict[str, Any] = {"load_before": procs.loadavg()}
    try:
        log(f"{bot}: starting server(s)")
        if action:
            action.launch()
        # extra_env is for the Rasa server only (the lever under measurement);
        # scripts.servers.server_env() copies os.environ at launch.
        os.environ.update(extra_env or {})
        server.launch()
        server.wait_ready(READY_TIMEOUT, poll=0.1)
        result["ready_s"] = server.ready_seconds
        if action:
            action.wait_ready(READY_TIMEOUT, poll=0.1)
            result["actions_ready_s"] = action.ready_seconds
        url = server.webhook

        first = asyncio.run(load.sequential(url, messages[:1], 1, tag="first"))
        result["first_reply_s"] = server.ready_seconds + first.samples[0].seconds
        result["first_request_s"] = first.samples[0].seconds

        budget.check(f"{bot} warm-up")
        warm = asyncio.run(load.sequential(url, messages, counts["warmup"], tag="warm"))
        result["warmup_errors"] = warm.errors
        result["rss_mb"] = procs.rss_mb(server.proc.pid)
        if action:
            result["actions_rss_mb"] = procs.rss_mb(action.proc.pid)

        budget.check(f"{bot} sequential")
        result["load_sequential"] = procs.loadavg()
        cpu0 = procs.cpu_seconds(server.proc.pid)
        seq = asyncio.run(load.sequential(url, messages, counts["sequential"], offset=2))
        cpu1 = procs.cpu_seconds(server.proc.pid)
        result["sequential"] = load.summary(seq.latencies())
        result["sequential"]["errors"] = seq.errors
        result["cpu_ms_per_msg"] = 1000 * (cpu1 - cpu0) / max(1, len(seq.samples))
        result["by_category"] = {
            cat: load.summary(seq.latencies(cat)) for cat in dict.fromkeys(m[0] for m in messages)
        }
        result["failed_examples"] = [
            (s.category, s.text, s.status) for s in seq.samples if not s.ok
        ][:10]

        budget.check(f"{bot} concurrent")
        result["load_concurrent"] = procs.loadavg()
        per_sender = max(1, counts["concurrent"] // senders)
        conc = asyncio.run(load.concurrent(url, messages, senders, per_sender, offset=10))
        result["concurrent"] = load.summary(conc.latencies())
        result["concurrent"]["errors"] = conc.errors
        result["concurrent"]["senders"] = senders
        result["failed_examples"] += [
            (s.category, s.text, s.status) for s in conc.samples if not s.ok
        ][:10]
        result["throughput"] = conc.throughput()
        result["rss_after_load_mb"] = procs.rss_mb(server.proc.pid)
        return result
    finally:
        server.cleanup()
        if action:
            action.stop()
            shutil.rmtree(action.workdir, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved_env)


# --------------------------------------------------------------------------- #
# the cluster (`make cluster`): 1 and REPLICAS replicas behind HAProxy
# --------------------------------------------------------------------------- #


def cluster_throughput(
    model: Path,
    work: Path,
    counts: Dict[str, int],
    budget: Budget,
    replicas: Sequence[int],
    senders: int = 20,
) -> Dict[str, Any]:
    """Throughput through the load balancer, PostgreSQL + Redis, for each replica count."""
    from scripts.cluster.services import Cluster, free_port

    messages = message_set("ours")
    out: Dict[str, Any] = {}
    for n in replicas:
        budget.check(f"cluster with {n} replica(s)")
        base = free_port()
        cluster = Cluster(
            work / f"cluster-{n}",
            replicas=n,
            port=free_port(),
            replica_base=base if base + n < 65000 else 20000,
            actions_port=free_port(),
            pg_port=free_port(),
            redis_port=free_port(),
            stats_port=free_port(),
            model=model,
            channel={"rate_limits": {"per_sender": "off", "per_address": "off"}},
        )
        result: Dict[str, Any] = {"load_before": procs.loadavg()}
        try:
            log(f"cluster: starting PostgreSQL, Redis, {n} replica(s), HAProxy")
            started = time.monotonic()
            cluster.start()
            result["ready_s"] = time.monotonic() - started
            url = f"{cluster.url}/webhooks/rest/webhook"
            warm = asyncio.run(load.sequential(url, messages, counts["warmup"], tag="warm"))
            result["warmup_errors"] = warm.errors
            per_sender = max(1, counts["concurrent"] // senders)
            conc = asyncio.run(load.concurrent(url, messages, senders, per_sender, offset=10))
            result["concurrent"] = load.summary(conc.latencies())
            result["concurrent"]["errors"] = conc.errors
            result["throughput"] = conc.throughput()
        finally:
            cluster.stop()
        out[str(n)] = result
    return out


# --------------------------------------------------------------------------- #
# crisis detector cost (owned by the safety helper: bench/detector_bench.py)
# --------------------------------------------------------------------------- #


def detector_cost(timeout: float = 600) -> Dict[str, Any]:
    """Runs bench/detector_bench.py (the safety work's own benchmark) and keeps its output."""
    script = ROOT / "bench" / "detector_bench.py"
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--repeat", "2"],
            cwd=ROOT,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"note": f"bench/detector_bench.py took more than {timeout:.0f}s"}
    if proc.returncode != 0:
        return {"note": f"bench/detector_bench.py failed ({proc.returncode}): {proc.stderr[-500:]}"}
    out = [line for line in proc.stdout.splitlines() if line.strip()]
    result: Dict[str, Any] = {"output": out}
    for line in out:
        match = re.match(r"detector \(uncached\)\s+([\d.]+)\s+([\d.]+)", line)
        if match:
            result["uncached_mean_us"] = float(match.group(1))
            result["uncached_p95_us"] = float(match.group(2))
    return result


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #


def _ms(x: Optional[float]) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{1000 * x:.0f} ms"


def _num(x: Optional[float], unit: str = "", fmt: str = "{:.1f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return fmt.format(x) + unit


def _ratio(ours: Optional[float], starter: Optional[float]) -> Optional[float]:
    if not ours or not starter or math.isnan(ours) or math.isnan(starter):
        return None
    return ours / starter


def _get(d: Dict[str, Any], *keys: str) -> Optional[float]:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d  # type: ignore[return-value]


def _yes(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def build_table(r: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    s, o = r["starter"], r["ours"]
    rows: List[Tuple[str, str, str, str, str, str]] = []
    key: Dict[str, Any] = {}

    def row(label, sv, ov, ratio_s, target, ok):
        rows.append((label, sv, ov, ratio_s, target, _yes(ok)))

    p50r = _ratio(_get(o, "sequential", "p50"), _get(s, "sequential", "p50"))
    key["p50_ratio"] = p50r
    row(
        "Sequential latency p50",
        _ms(_get(s, "sequential", "p50")),
        _ms(_get(o, "sequential", "p50")),
        _num(p50r, "x", "{:.2f}"),
        "<= 0.5x (aim 0.25x)",
        None if p50r is None else p50r <= 0.5,
    )
    p95r = _ratio(_get(o, "sequential", "p95"), _get(s, "sequential", "p95"))
    row(
        "Sequential latency p95",
        _ms(_get(s, "sequential", "p95")),
        _ms(_get(o, "sequential", "p95")),
        _num(p95r, "x", "{:.2f}"),
        "",
        None,
    )
    thr = _ratio(o.get("throughput"), s.get("throughput"))
    key["throughput_ratio"] = thr
    senders = _get(o, "concurrent", "senders") or 20
    row(
        f"Throughput, {senders} concurrent senders",
        _num(s.get("throughput"), " msg/s"),
        _num(o.get("throughput"), " msg/s"),
        _num(thr, "x", "{:.2f}"),
        ">= 2x (aim 4x)",
        None if thr is None else thr >= 2,
    )
    cp95 = _ratio(_get(o, "concurrent", "p95"), _get(s, "concurrent", "p95"))
    row(
        f"Latency p95 with {senders} senders",
        _ms(_get(s, "concurrent", "p95")),
        _ms(_get(o, "concurrent", "p95")),
        _num(cp95, "x", "{:.2f}"),
        "",
        None,
    )
    cpu = _ratio(o.get("cpu_ms_per_msg"), s.get("cpu_ms_per_msg"))
    row(
        "Server CPU time per message",
        _num(s.get("cpu_ms_per_msg"), " ms", "{:.0f}"),
        _num(o.get("cpu_ms_per_msg"), " ms", "{:.0f}"),
        _num(cpu, "x", "{:.2f}"),
        "",
        None,
    )
    ready = o.get("ready_s")
    row(
        "Start to ready (`rasa run`)",
        _num(s.get("ready_s"), " s"),
        _num(ready, " s"),
        _num(_ratio(ready, s.get("ready_s")), "x", "{:.2f}"),
        "< 30 s",
        None if ready is None else ready < 30,
    )
    row(
        "Start to first reply",
        _num(s.get("first_reply_s"), " s"),
        _num(o.get("first_reply_s"), " s"),
        _num(_ratio(o.get("first_reply_s"), s.get("first_reply_s")), "x", "{:.2f}"),
        "",
        None,
    )
    rss_rasa = o.get("rss_mb")
    ours_rss = _num(o.get("rss_mb"), " MiB", "{:.0f}")
    if o.get("actions_rss_mb") is not None:
        ours_rss += f" (+{o['actions_rss_mb']:.0f} action server)"
    row(
        "RSS after warm-up",
        _num(s.get("rss_mb"), " MiB", "{:.0f}"),
        ours_rss,
        _num(_ratio(o.get("rss_mb"), s.get("rss_mb")), "x", "{:.2f}"),
        "< 1 GB (Rasa server)",
        None if rss_rasa is None else rss_rasa < 1024,
    )
    cold = o.get("cold_train_s")
    nproc = r["machine"]["nproc"]
    row(
        "Training, cold (empty cache)",
        _num(s.get("cold_train_s"), " s", "{:.0f}"),
        _num(cold, " s", "{:.0f}"),
        _num(_ratio(cold, s.get("cold_train_s")), "x", "{:.2f}"),
        f"< 300 s on 2 cores (here {nproc})",
        None if cold is None else cold < 300,
    )
    row(
        "Training, warm (nothing changed)",
        _num(s.get("warm_train_s"), " s", "{:.0f}"),
        _num(o.get("warm_train_s"), " s", "{:.0f}"),
        _num(_ratio(o.get("warm_train_s"), s.get("warm_train_s")), "x", "{:.2f}"),
        "",
        None,
    )
    cl = r.get("cluster") or {}
    if cl:
        counts_n = sorted(cl, key=int)
        desc = " / ".join(f"{n}: {_num(cl[n].get('throughput'), ' msg/s')}" for n in counts_n)
        scale = _ratio(cl[counts_n[-1]].get("throughput"), cl[counts_n[0]].get("throughput"))
        key["cluster_throughput"] = {n: cl[n].get("throughput") for n in counts_n}
        row(
            f"Cluster throughput, {senders} senders, replicas {desc.split(':')[0]}..{counts_n[-1]} "
            f"behind HAProxy (PostgreSQL + Redis)",
            _num(s.get("throughput"), " msg/s"),
            f"{desc} (single SQLite process: {_num(o.get('throughput'), ' msg/s')})",
            _num(scale, "x", "{:.2f}") + f" ({counts_n[-1]} vs {counts_n[0]} replicas)",
            "more with more replicas (cores allowing)",
            None if scale is None else scale > 1.0,
        )
        cl_errs = sum((_get(v, "concurrent", "errors") or 0) for v in cl.values())
        row("Cluster failed requests", "", str(cl_errs), "", "0", cl_errs == 0)
    errs_s = (_get(s, "sequential", "errors") or 0) + (_get(s, "concurrent", "errors") or 0)
    errs_o = (_get(o, "sequential", "errors") or 0) + (_get(o, "concurrent", "errors") or 0)
    row("Failed requests", str(errs_s), str(errs_o), "", "0", errs_o == 0)

    lines = [
        "| Metric | Rasa starter bot | This bot | This / starter | Target | Met |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(x) + " |" for x in rows]

    cats = o.get("by_category") or {}
    cat_lines = []
    if cats:
        cat_lines = [
            "",
            "This bot by message kind (sequential):",
            "",
            "| Kind | n | p50 | p95 |",
            "|---|---:|---:|---:|",
        ]
        for cat, v in cats.items():
            cat_lines.append(f"| {cat} | {v['n']} | {_ms(v['p50'])} | {_ms(v['p95'])} |")
        faq, crisis = _get(cats, "faq", "p50"), _get(cats, "crisis", "p50")
        if faq and crisis:
            ratio = crisis / faq
            key["crisis_vs_faq"] = ratio
            cat_lines += [
                "",
                f"Crisis replies vs FAQ replies (p50): {ratio:.2f}x - target: no slower "
                f"(<= 1.10x, allowing for noise) - met: {_yes(ratio <= 1.10)}",
            ]
    key.update(
        p50_ms=_get(o, "sequential", "p50"),
        starter_p50_ms=_get(s, "sequential", "p50"),
        throughput=o.get("throughput"),
        starter_throughput=s.get("throughput"),
        ready_s=o.get("ready_s"),
        rss_mb=rss_rasa,
        cold_s=cold,
        warm_s=o.get("warm_train_s"),
    )
    return "\n".join(lines + cat_lines), key


def detector_lines(det: Dict[str, Any]) -> List[str]:
    if not det:
        return []
    out = ["", "Crisis detector's own cost per message (`bench/detector_bench.py`, same run):", ""]
    if "note" in det:
        return out + [f"- {det['note']}"]
    if "uncached_mean_us" in det:
        out += [
            f"Uncached: mean {det['uncached_mean_us'] / 1000:.2f} ms, p95 "
            f"{det['uncached_p95_us'] / 1000:.2f} ms per message.",
            "",
        ]
    return out + ["```"] + det.get("output", []) + ["```"]


def render(r: Dict[str, Any]) -> str:
    m = r["machine"]
    table, _ = build_table(r)
    s, o = r["starter"], r["ours"]
    counts = r["counts"]
    head = [
        "# Speed benchmark: this bot vs Rasa's starter bot",
        "",
        f"Run {r['date']} on {m['nproc']} cores ({m['cpu']}), {m['mem_gb']} GB RAM, "
        f"Python {m['python']}, commit `{r['commit']}`. Produced by `make bench` "
        f"(bench/run.py){' - ' + run_note(r) if run_note(r) else ''}.",
        "",
        f"Machine load average (1/5/15 min): start {r['load_start']}; "
        f"starter sequential {s.get('load_sequential', 'n/a')}, "
        f"concurrent {s.get('load_concurrent', 'n/a')}; "
        f"this bot sequential {o.get('load_sequential', 'n/a')}, "
        f"concurrent {o.get('load_concurrent', 'n/a')}; "
        f"end {r['load_end']}. Other work on the machine makes wall-clock figures noisier; "
        "CPU time per message is much less affected.",
        "",
        f"Sequential: {counts['sequential']} messages after {counts['warmup']} warm-up "
        "messages, one at a time, a new conversation every 5 messages. "
        f"Concurrent: {counts['concurrent']} messages from 20 simultaneous senders. "
        "REST channel on 127.0.0.1. Starter bot: `rasa init --no-prompt`, "
        "default config (DIET, ResponseSelector, TED, UnexpecTED, Memoization, Rule policies), "
        "Rasa's REST channel, in-memory tracker store, one process. This bot: config.yml, "
        "hardened REST channel, SQLite tracker store, action server running (as `make run`).",
        "",
    ]
    failed = []
    for name, res in (("starter bot", s), ("this bot", o)):
        for cat, text, status in (res.get("failed_examples") or [])[:5]:
            failed.append(f"- {name}, {cat}: {text!r} -> {status}")
    if failed:
        failed = ["", "Failed requests (first few):", ""] + failed
    return "\n".join(head + [table] + failed + detector_lines(r.get("detector", {}))) + "\n"


def history_line(r: Dict[str, Any]) -> str:
    _, k = build_table(r)
    m = r["machine"]

    def f(x, fmt):
        return "n/a" if x is None else fmt.format(x)

    return (
        f"| {r['date']} | {m['nproc']} x {m['cpu']} | `{r['commit']}` | {r['load_start']} | "
        f"{f(k.get('p50_ms') and 1000 * k['p50_ms'], '{:.0f}')} / "
        f"{f(k.get('starter_p50_ms') and 1000 * k['starter_p50_ms'], '{:.0f}')} ms "
        f"({f(k.get('p50_ratio'), '{:.2f}x')}) | "
        f"{f(k.get('throughput'), '{:.1f}')} / {f(k.get('starter_throughput'), '{:.1f}')} msg/s "
        f"({f(k.get('throughput_ratio'), '{:.2f}x')}) | {f(k.get('ready_s'), '{:.1f} s')} | "
        f"{f(k.get('rss_mb'), '{:.0f} MiB')} | {f(k.get('cold_s'), '{:.0f} s')} / "
        f"{f(k.get('warm_s'), '{:.0f} s')} | {f(k.get('crisis_vs_faq'), '{:.2f}x')} | "
        f"{run_note(r)} |"
    )


def run_note(r: Dict[str, Any]) -> str:
    parts = [r.get("label") or ""]
    if r.get("ours_env"):
        parts.append("env " + " ".join(f"{k}={v}" for k, v in r["ours_env"].items()))
    config = Path(r.get("config") or ROOT / "config.yml")
    if config.resolve() != (ROOT / "config.yml").resolve():
        try:
            config = config.resolve().relative_to(ROOT)
        except ValueError:
            pass
        parts.append(f"config {config}")
    if r.get("tracker", "sql") != "sql":
        parts.append(f"{r['tracker']} tracker store")
    if r.get("quick"):
        parts.append("quick")
    return "; ".join(p for p in parts if p)


MAIN_TABLE_PREFIX = "| Date (UTC) | Machine | Commit | Load | Latency p50 |"
HISTORY_HEADER = """# Speed benchmark history

One line per recorded run of `make bench` (bench/run.py); the newest is last.
Latency p50 and throughput are "this bot / Rasa's starter bot (ratio)", measured
in the same run on the same machine. RSS is the Rasa server's process tree
(the action server is separate and not counted). Training is cold / warm.
Load is the 1/5/15-minute load average when the run started (other work on
the machine slows every figure).

| Date (UTC) | Machine | Commit | Load | Latency p50 | Throughput (20 senders) | Ready | RSS | Training cold / warm | Crisis/FAQ p50 | Note |
|---|---|---|---|---|---|---|---|---|---|---|
"""  # noqa: E501 - a markdown table row is one line


def record(r: Dict[str, Any], history_only: bool = False) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not history_only:
        (RESULTS / "latest.md").write_text(render(r))
        (RESULTS / "latest.json").write_text(json.dumps(r, indent=2, default=str) + "\n")
    insert_row(RESULTS / "history.md", MAIN_TABLE_PREFIX, history_line(r), HISTORY_HEADER)


def insert_row(path: Path, header_prefix: str, row: str, template: str) -> None:
    """Adds `row` at the end of the markdown table whose header starts with
    `header_prefix` (creating the file from `template`, or appending the
    template's table when the file lacks it)."""
    text = path.read_text() if path.exists() else ""
    if header_prefix not in text:
        text = (text.rstrip("\n") + "\n\n" if text else "") + template
    lines = text.rstrip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(header_prefix))
    end = start + 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------------- #


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests and no warm retrain; records nothing unless --record",
    )
    ap.add_argument(
        "--model", type=Path, help="serve this model of our bot instead of training one"
    )
    ap.add_argument(
        "--starter-dir",
        type=Path,
        help="reuse a starter project made by an earlier run (has models/*.tar.gz)",
    )
    ap.add_argument(
        "--no-train", action="store_true", help="skip our training measurements (needs --model)"
    )
    ap.add_argument("--sequential", type=int, help="sequential messages (default 150, quick 60)")
    ap.add_argument("--concurrent", type=int, help="concurrent messages (default 300, quick 100)")
    ap.add_argument("--warmup", type=int, help="warm-up messages (default 30, quick 10)")
    ap.add_argument("--label", default="", help="a note for the history line")
    ap.add_argument(
        "--config",
        type=Path,
        default=ROOT / "config.yml",
        help="train this bot with another config (a lever to measure)",
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for this bot's training and servers, e.g. "
        "MALLOC_ARENA_MAX=2 (repeatable)",
    )
    ap.add_argument(
        "--tracker",
        choices=("sql", "memory"),
        default="sql",
        help="this bot's tracker store (sql = as `make run`; memory = a lever)",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        default=int(os.environ.get("REPLICAS", "2")),
        help="the cluster row: 1 and this many replicas behind HAProxy (0: no cluster row)",
    )
    ap.add_argument(
        "--history-only",
        action="store_true",
        help="add the history line but leave latest.md alone (lever runs)",
    )
    ap.add_argument("--skip-starter-serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--record", action="store_true", help="write results even with --quick")
    ap.add_argument("--no-record", action="store_true", help="print only")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (models, logs)")
    args = ap.parse_args(argv)
    if args.no_train and not args.model:
        ap.error("--no-train needs --model")
    defaults = (60, 100, 10) if args.quick else (150, 300, 30)
    for name, value in zip(("sequential", "concurrent", "warmup"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    counts = {"sequential": args.sequential, "concurrent": args.concurrent, "warmup": args.warmup}
    ours_env = dict(kv.split("=", 1) for kv in args.env)

    # A SIGTERM (e.g. from a CI timeout) unwinds through the `finally` blocks,
    # so every server and training process started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    budget = Budget(TOTAL_BUDGET)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    r: Dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": procs.machine(),
        "commit": procs.git_commit(),
        "label": args.label,
        "load_start": procs.loadavg(),
        "counts": counts,
        "ours_env": ours_env,
        "quick": args.quick,
        "tracker": args.tracker,
        "config": str(args.config),
    }
    log(f"work dir {work}; machine {r['machine']}; commit {r['commit']}")
    try:
        # Training first (both bots), so serving is measured without a
        # training job of ours running next to it.
        if args.starter_dir:
            starter = {"model": str(sorted((args.starter_dir / "models").glob("*.tar.gz"))[-1])}
            shutil.copytree(args.starter_dir, work / "starter")
        else:
            starter = train_starter(work, warm=not args.quick)
        budget.check("our training")
        if args.no_train:
            ours: Dict[str, Any] = {"model": str(args.model.resolve())}
        else:
            ours = train_ours(
                work, warm=not args.quick, config=args.config.resolve(), extra_env=ours_env
            )
            if args.model:
                ours["model"] = str(args.model.resolve())
        budget.check("serving")
        starter.update(serve_and_measure("starter", Path(starter["model"]), work, counts, budget))
        ours.update(
            serve_and_measure(
                "ours",
                Path(ours["model"]),
                work,
                counts,
                budget,
                extra_env=ours_env,
                tracker=args.tracker,
            )
        )
        r["starter"], r["ours"] = starter, ours
        if args.replicas:
            r["cluster"] = cluster_throughput(
                Path(ours["model"]), work, counts, budget, sorted({1, args.replicas})
            )
        r["detector"] = detector_cost()
        r["load_end"] = procs.loadavg()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    text = render(r)
    print("\n" + text)
    if not args.no_record and (args.record or not args.quick):
        record(r, history_only=args.history_only)
        log(f"wrote {RESULTS / 'latest.md'} and a line in {RESULTS / 'history.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
