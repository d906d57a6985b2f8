"""`make cluster` (python -m scripts.cluster): start everything, stay in the foreground.

Ctrl-C (or SIGTERM) stops every process it started: HAProxy, the replicas,
the action server, Redis and PostgreSQL. A replica that exits is started
again (HAProxy routes around it meanwhile).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from scripts.cluster.services import MODEL, ROOT, Cluster


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=int(env("REPLICAS", "2")))
    parser.add_argument("--port", type=int, default=int(env("RASA_PORT", "5005")))
    parser.add_argument(
        "--replica-base-port", type=int, default=int(env("REPLICA_BASE_PORT", "5010"))
    )
    parser.add_argument("--actions-port", type=int, default=int(env("ACTIONS_PORT", "5055")))
    parser.add_argument("--pg-port", type=int, default=int(env("PG_PORT", "5433")))
    parser.add_argument("--redis-port", type=int, default=int(env("REDIS_PORT", "6380")))
    parser.add_argument("--stats-port", type=int, default=int(env("HAPROXY_STATS_PORT", "5004")))
    parser.add_argument("--state", type=Path, default=ROOT / ".rasa_state" / "cluster")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--cors", nargs="*", default=(env("WIDGET_ORIGINS") or "").split())
    args = parser.parse_args()

    cluster = Cluster(
        args.state,
        replicas=args.replicas,
        port=args.port,
        replica_base=args.replica_base_port,
        actions_port=args.actions_port,
        pg_port=args.pg_port,
        redis_port=args.redis_port,
        stats_port=args.stats_port,
        model=args.model,
        cors=args.cors,
    )

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    say = lambda msg: print(f"[cluster] {msg}", flush=True)  # noqa: E731
    try:
        cluster.start(say)
        say(
            f"up: {args.replicas} replicas behind http://127.0.0.1:{args.port} "
            f"(logs in {args.state}). Ctrl-C stops everything."
        )
        say(
            f"  curl -XPOST localhost:{args.port}/webhooks/rest/webhook "
            '-d \'{"sender":"a","message":"hi"}\''
        )
        while True:
            time.sleep(2)
            for replica in cluster.replicas:
                if replica.proc is not None and replica.proc.poll() is not None:
                    say(
                        f"replica {replica.index} exited ({replica.proc.returncode}); "
                        "starting it again"
                    )
                    replica.start()
    except KeyboardInterrupt:
        say("stopping")
    finally:
        cluster.stop()
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
