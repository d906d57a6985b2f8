"""Runs blind conversation sets through the real bot (REST channel) and writes transcripts.

    .venv/bin/python scripts/conversation_transcripts.py SET.yml OUT.yml [--lists NAME ...]

A set lists conversations (``turns``: ``text`` and the ``expect``-ed behaviour,
written by someone who saw neither tests/ nor data/). Each conversation is a
new visitor. The transcript holds every turn's expectation and the bot's
replies (texts, button titles, payload types) for a reviewer who judges each
conversation against its expectations; this script judges nothing itself.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.servers import NO_LIMITS, ActionServer, RasaServer  # noqa: E402


def _reply(message: dict) -> dict:
    out = {}
    if message.get("text"):
        out["text"] = message["text"]
    if message.get("buttons"):
        out["buttons"] = [b.get("title") for b in message["buttons"]]
    custom = message.get("custom") or {}
    if custom:
        out["payload"] = custom.get("type")
        if custom.get("type") in ("comparison_table", "summary", "menu"):
            out["payload_text"] = custom.get("title")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lists", nargs="+", default=["comparison", "multiturn"])
    args = parser.parse_args()
    data = yaml.safe_load(args.set.read_text(encoding="utf-8"))
    conversations = [
        (name, i, c) for name in args.lists for i, c in enumerate(data.get(name) or [])
    ]

    actions = ActionServer().start()
    server = RasaServer(action_port=actions.port, channel=NO_LIMITS).start()

    def run(item):
        name, i, conversation = item
        sender = "conv-" + uuid.uuid4().hex[:12]
        turns = []
        for turn in conversation["turns"]:
            replies = server.say(sender, str(turn["text"]))
            turns.append(
                {
                    "user": turn["text"],
                    "expect": turn.get("expect", ""),
                    "bot": [_reply(m) for m in replies],
                }
            )
        return {"id": f"{name}-{i}", "turns": turns}

    try:
        with ThreadPoolExecutor(4) as pool:
            transcripts = list(pool.map(run, conversations))
    finally:
        server.cleanup(), actions.stop()
    args.out.write_text(
        yaml.safe_dump(transcripts, allow_unicode=True, sort_keys=False, width=120),
        encoding="utf-8",
    )
    print(f"{len(transcripts)} conversations -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
