"""Where does the time of one message go? In-process profile of a trained bot.

    .venv/bin/python -m bench.profile_message                       # this bot
    .venv/bin/python -m bench.profile_message --starter DIR         # a `rasa init` project
    .venv/bin/python -m bench.profile_message --cprofile out.prof   # + raw cProfile dump

Loads the model with `Agent.load` (as `rasa run` does), with the same tracker
store as the server (a temp SQLite file behind endpoints.yml's cached store for
this bot, in-memory for the
starter) and, for this bot, the real action server on a free port. Each message
goes through the channel's own handler (bot.channels.SafeRestInput._handle:
validation, first-turn check, intro) and Rasa's MessageProcessor, so only the
HTTP layer (Sanic, JSON) is missing; bench/run.py measures that over HTTP.

Prints, per message (mean over the measured messages, after warm-up):
- inclusive time of each stage: channel, tracker store reads/writes, NLU
  graph (per component), policy graph (per policy), action runs, NLG,
  action server round trips;
- cProfile self time grouped by package (TensorFlow, SQLAlchemy, spaCy, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import functools
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from bench import procs  # noqa: E402
from bench.load import variant  # noqa: E402
from bench.run import message_set  # noqa: E402
from scripts.servers import MODEL, ROOT, ActionServer  # noqa: E402


class Timer:
    """Inclusive wall time per label, summed over calls; nested labels allowed."""

    def __init__(self) -> None:
        self.total: Dict[str, float] = collections.defaultdict(float)
        self.calls: Dict[str, int] = collections.defaultdict(int)
        self.enabled = False

    def add(self, label: str, seconds: float) -> None:
        if self.enabled:
            self.total[label] += seconds
            self.calls[label] += 1


TIMER = Timer()


def wrap(owner: Any, attr: str, label: str | Callable[..., str]) -> None:
    original = getattr(owner, attr)
    static = isinstance(getattr(owner, "__dict__", {}).get(attr), staticmethod)
    name = (lambda *a, **k: label) if isinstance(label, str) else label

    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def awrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                TIMER.add(name(*args, **kwargs), time.perf_counter() - start)

        setattr(owner, attr, staticmethod(awrapper) if static else awrapper)
    else:

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                TIMER.add(name(*args, **kwargs), time.perf_counter() - start)

        setattr(owner, attr, staticmethod(wrapper) if static else wrapper)


def instrument() -> None:
    from rasa.core import processor, tracker_store
    from rasa.core.actions import action as rasa_action
    from rasa.core.nlg import response as nlg_response
    from rasa.engine import graph
    from rasa.utils import endpoints

    P = processor.MessageProcessor
    wrap(P, "handle_message", "1 processor.handle_message (all of Rasa)")
    wrap(P, "log_message", "1.1 log_message (get tracker + parse + update)")
    wrap(P, "fetch_tracker_and_update_session", "1.1.1 tracker store: fetch tracker")
    wrap(P, "_parse_message_with_graph", "1.1.2 NLU graph (all components)")
    wrap(P, "run_action_extract_slots", "1.2 action_extract_slots")
    wrap(P, "_run_prediction_loop", "1.3 prediction loop (policies + actions)")
    wrap(P, "_predict_next_with_tracker", "1.3.1 policy graph (all policies, all calls)")
    wrap(P, "_run_action", "1.3.2 run actions (incl. NLG, action server)")
    wrap(P, "save_tracker", "1.4 tracker store: save tracker")

    def node_label(self, *a, **k) -> str:
        return f"   node {self._node_name} ({self._component_class.__name__})"

    wrap(graph.GraphNode, "__call__", node_label)
    from bot.tracker_store import CachedSQLTrackerStore

    for cls in {
        tracker_store.SQLTrackerStore,
        tracker_store.InMemoryTrackerStore,
        tracker_store.TrackerStore,
        CachedSQLTrackerStore,
    }:
        for meth in ("retrieve", "save", "retrieve_full_tracker"):
            if meth in cls.__dict__:
                wrap(cls, meth, f"   {cls.__name__}.{meth}")
    wrap(rasa_action.RemoteAction, "run", "   RemoteAction.run (action server round trip)")
    wrap(endpoints.EndpointConfig, "request", "   EndpointConfig.request (HTTP to action server)")
    wrap(nlg_response.TemplatedNaturalLanguageGenerator, "generate", "   NLG generate")


PACKAGES = [
    ("tensorflow", ("tensorflow", "keras", "tensorflow_addons", "tf_keras")),
    ("SQLAlchemy + sqlite", ("sqlalchemy", "sqlite3")),
    ("spaCy (crisis detector)", ("spacy", "thinc", "srsly", "cymem", "preshed")),
    ("bot/ (our code)", (str(ROOT / "bot") + "/", str(ROOT / "actions") + "/")),
    (
        "jsonschema (Rasa validating action server replies)",
        ("jsonschema", "pyrsistent", "attr", "attrs"),
    ),
    ("numpy/scipy/sklearn", ("numpy", "scipy", "sklearn")),
    ("rasa", ("/rasa/",)),
    ("rasa_sdk/aiohttp", ("rasa_sdk", "aiohttp", "sanic", "httptools")),
    ("dask (Rasa's graph runner)", ("dask", "toolz", "cloudpickle")),
    ("logging/structlog", ("logging", "structlog")),
    ("asyncio/selectors", ("asyncio", "selectors")),
    ("json/yaml/copy/other stdlib", ("json", "ruamel", "yaml", "copy.py", "copy", "dataclasses")),
]


def group_of(filename: str) -> str:
    for label, keys in PACKAGES:
        for key in keys:
            if key.startswith("/"):
                if key in filename:
                    return label
            elif (
                f"/{key}/" in filename
                or filename.endswith(f"/{key}.py")
                or filename.startswith(f"<{key}")
            ):
                return label
    if filename.startswith("~") or filename.startswith("<built-in"):
        return "builtins (C calls)"
    return "other"


def by_package(stats: pstats.Stats) -> List[Tuple[str, float]]:
    """Self time per package; a C function's time goes to the package that called it."""
    totals: Dict[str, float] = collections.defaultdict(float)
    for (filename, _line, _fn), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        if filename != "~" or not callers:
            totals[group_of(filename)] += tottime
            continue
        for (caller_file, _l, _f), value in callers.items():
            caller_tt = value[2] if isinstance(value, tuple) else 0.0
            totals[
                group_of(caller_file) + " (C code it calls)"
                if group_of(caller_file) != "other"
                else "C code called from other"
            ] += caller_tt
    return sorted(totals.items(), key=lambda kv: -kv[1])


async def run(args: argparse.Namespace) -> None:
    # Same logging and TensorFlow set-up as the `rasa` command line.
    import logging

    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.endpoints import EndpointConfig
    from rasa.utils.log_utils import configure_structlog
    from rasa.utils.tensorflow import environment as tf_env

    configure_logging_and_warnings(
        logging.INFO, None, warn_only_once=True, filter_repeated_logs=True
    )
    tf_env.setup_tf_environment()
    configure_structlog(logging.INFO)

    starter = args.starter is not None
    bot = "starter" if starter else "ours"
    if starter:
        model = sorted((args.starter / "models").glob("*.tar.gz"))[-1]
    else:
        model = args.model
    tmp = Path(tempfile.mkdtemp(prefix="profile-"))
    action: Optional[ActionServer] = None
    try:
        t0 = time.perf_counter()
        if starter or args.memory_store:
            store = InMemoryTrackerStore(None)
        else:
            from bot.tracker_store import CachedSQLTrackerStore  # as endpoints.yml

            store = CachedSQLTrackerStore(dialect="sqlite", db=str(tmp / "tracker.db"))
        endpoint = None
        if not starter:
            action = ActionServer().start()
            endpoint = EndpointConfig(f"{action.url}/webhook")
        t0 = time.perf_counter()
        agent = Agent.load(str(model), tracker_store=store, action_endpoint=endpoint)
        load_s = time.perf_counter() - t0

        if starter:

            async def send(text: str, sender: str):
                out = CollectingOutputChannel()
                await agent.handle_message(UserMessage(text, out, sender))
                return out.messages
        else:
            from bot import channels
            from bot.channels import SafeRestInput

            # As Rasa builds it from credentials.yml (this applies bot/rasa_patches.py).
            channel = SafeRestInput.from_credentials(None)

            async def send(text: str, sender: str):
                return await channel._handle(agent, agent.handle_message, sender, text, None)

            wrap(channels, "_opened_session", "0.1 channel: first-turn check (tracker read)")

        messages = message_set(bot)
        instrument()

        async def conversation(n: int, tag: str, offset: int) -> None:
            run_id = uuid.uuid4().hex[:6]
            for i in range(n):
                cat, text, _ = messages[i % len(messages)]
                text = variant(text, i // len(messages) + offset)
                sender = f"prof-{tag}-{run_id}-{i // 5}"
                start = time.perf_counter()
                await send(text, sender)
                TIMER.add("0 whole message (channel handler)", time.perf_counter() - start)
                TIMER.add(f"0 by kind: {cat}", time.perf_counter() - start)

        await conversation(args.warmup, "warm", 0)
        rss = procs.rss_mb(os.getpid())
        TIMER.enabled = True
        await conversation(args.messages, "timed", 4)
        TIMER.enabled = False
        timed = dict(TIMER.total), dict(TIMER.calls)

        profiler = cProfile.Profile()
        profiler.enable()
        await conversation(args.messages, "cprof", 10)
        profiler.disable()
        if args.cprofile:
            profiler.dump_stats(args.cprofile)

        n = args.messages
        out: List[str] = []

        def print(line: str = "") -> None:  # noqa: A001 - collect the report
            out.append(line)

        print(
            f"\n## In-process profile: {'Rasa starter' if starter else 'this'} bot ({model.name})\n"
        )
        print(
            f"Agent.load: {load_s:.1f} s; RSS after warm-up (this process): {rss:.0f} MiB; "
            f"load average {procs.loadavg()}; {n} messages after {args.warmup} warm-up.\n"
        )
        print("| Stage (inclusive, nested by number) | ms per message | calls per message |")
        print("|---|---:|---:|")
        total, calls = timed
        for label in sorted(
            total,
            key=lambda name: (
                name.startswith("   "),
                name if not name.startswith("   ") else -total[name],
            ),
        ):
            if label.startswith("0 by kind"):
                per = total[label] / calls[label]
                print(f"| {label} | {1000 * per:.1f} (mean of {calls[label]}) | |")
                continue
            print(f"| {label.strip()} | {1000 * total[label] / n:.2f} | {calls[label] / n:.2f} |")

        stats = pstats.Stats(profiler)
        whole = sum(v[2] for v in stats.stats.values())
        print(
            f"\ncProfile self time by package ({n} messages, {1000 * whole / n:.1f} ms "
            f"per message under the profiler):\n"
        )
        print("| Package | ms per message | share |")
        print("|---|---:|---:|")
        for label, secs in by_package(stats):
            print(f"| {label} | {1000 * secs / n:.2f} | {100 * secs / whole:.0f}% |")
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(args.top)
        print("\n<details><summary>cProfile, top functions by cumulative time</summary>\n\n```")
        print("\n".join(buf.getvalue().splitlines()[6:]))
        print("```\n</details>")
        report = "\n".join(out) + "\n"
        sys.stdout.write(report)
        if args.out:
            Path(args.out).write_text(report)
    finally:
        if action:
            action.stop()
            shutil.rmtree(action.workdir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--starter", type=Path, help="profile a `rasa init` project dir instead")
    ap.add_argument("--messages", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--memory-store", action="store_true", help="in-memory tracker store")
    ap.add_argument("--cprofile", help="also write raw cProfile stats here")
    ap.add_argument("--out", help="also write the report (markdown) to this file")
    args = ap.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
