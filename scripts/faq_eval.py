"""Runs a blind FAQ set through the real bot (REST channel) and prints the figures.

    .venv/bin/python scripts/faq_eval.py tests/blind/faq_r1/labels.yml

The labels file lists each question with the responses that answer it
(``accept``: response names such as ``utter_faq/cost``, or ``DECISION_AID``
for the comparison walkthrough), written by a labeller who saw only the blind
set and the bot's reply texts. Each question is sent as a new visitor's first
message. A reply is right when one of its responses is accepted; wrong but
confident when it is an answer that is not accepted (not the honest "not
sure", a check-in or a crisis reply).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.replies import reply_languages, response_names, turn_kind  # noqa: E402
from scripts.servers import NO_LIMITS, ActionServer, RasaServer  # noqa: E402

DECISION_AID = "DECISION_AID"
AID_PAYLOADS = {"comparison_table", "menu", "summary", "question"}


def _ask(server: RasaServer, text: str):
    return server.say("faq-" + uuid.uuid4().hex[:12], text)


def _names(replies) -> List[str]:
    texts = [r.get("text", "") for r in replies if r.get("text")]
    names = response_names(texts)
    if any((r.get("custom") or {}).get("type") in AID_PAYLOADS for r in replies):
        names.append(DECISION_AID)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--misses", action="store_true", help="print the failed texts")
    parser.add_argument(
        "--language", choices=("en", "es"), help="an answer counts as right only in this language"
    )
    args = parser.parse_args()
    items = yaml.safe_load(args.labels.read_text(encoding="utf-8"))

    actions = ActionServer().start()
    server = RasaServer(action_port=actions.port, channel=NO_LIMITS).start()
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda item: _ask(server, str(item["text"])), items))
    finally:
        server.cleanup(), actions.stop()

    outcome: Counter = Counter()
    misses = []
    for item, replies in zip(items, results, strict=True):
        names = _names(replies)
        kind = turn_kind([r.get("text", "") for r in replies if r.get("text")])
        accept = set(item.get("accept") or [])
        texts = [r.get("text", "") for r in replies if r.get("text")]
        in_language = not args.language or args.language in reply_languages(texts)
        if (accept & set(names) or ("NONE" in accept and kind == "fallback")) and in_language:
            outcome["right"] += 1
            continue
        if accept & set(names):
            outcome["right topic, wrong language"] += 1
            misses.append(
                ("wrong language", item["text"], ", ".join(names), ", ".join(sorted(accept)))
            )
            continue
        if kind in ("crisis", "check_in"):
            label = "safety reply"
        elif kind == "fallback":
            label = "honest fallback"
        else:
            label = "wrong but confident"
        outcome[label] += 1
        misses.append(
            (label, item["text"], ", ".join(names) or "-", ", ".join(sorted(accept)) or "-")
        )

    n = len(items)
    print(f"\nBlind FAQ set: {args.labels} ({n} questions, first message)")
    labels = ("right", "honest fallback", "wrong but confident", "safety reply")
    if args.language:
        labels += ("right topic, wrong language",)
    for label in labels:
        print(f"{label:<28} {outcome[label]:>4}/{n:<4} {100 * outcome[label] / n:5.1f}%")
    if args.misses:
        print("\nmisses:")
        for miss in misses:
            print(" | ".join(miss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
