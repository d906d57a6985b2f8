"""Picks the FallbackClassifier threshold from data, not by feel.

For each candidate threshold it reports, on held-out data the model never saw:
- in-scope: share of FAQ paraphrases answered with the right topic (not fallen back),
- fallback: share of out-of-scope messages that fall back honestly.
Run: .venv/bin/python scripts/tune_fallback.py [model]
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from rasa.core.agent import Agent

    model = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "models/ketamine-aid.tar.gz")
    agent = Agent.load(model)
    loop = asyncio.new_event_loop()
    paraphrases = yaml.safe_load((ROOT / "tests/data/faq_paraphrases.yml").read_text())["paraphrases"]
    oos = yaml.safe_load((ROOT / "tests/data/out_of_scope.yml").read_text())["messages"]

    def top(text):
        parse = loop.run_until_complete(agent.parse_message(text))
        ranking = [r for r in parse["intent_ranking"] if r["name"] != "nlu_fallback"]
        best = ranking[0] if ranking else {"name": "nlu_fallback", "confidence": 0.0}
        key = None
        if best["name"] == "faq":
            key = parse["response_selector"]["faq"]["response"]["intent_response_key"].split("/", 1)[1]
        return best["name"], best["confidence"], key

    in_scope = [(p["key"], top(t)) for p in paraphrases for t in p["texts"]]
    out = [top(t) for t in oos]
    print(f"{'threshold':>9} {'in-scope right':>15} {'out-of-scope fallback':>22}")
    for threshold in [0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8]:
        right = sum(1 for key, (name, conf, got) in in_scope if conf >= threshold and got == key)
        fell = sum(1 for name, conf, _ in out if conf < threshold or name == "out_of_scope")
        print(f"{threshold:>9.2f} {right / len(in_scope):>15.1%} {fell / len(out):>22.1%}")


if __name__ == "__main__":
    main()
