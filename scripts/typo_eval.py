"""How much spelling correction helps the intent classifier on typed questions.

    .venv/bin/python scripts/typo_eval.py [--model models/ketamine-aid.tar.gz] [--seed 7]

Takes every labelled English FAQ question in tests/ (the held-out paraphrases
and the blind FAQ sets), adds one or two random typos to each (a letter
dropped, swapped, doubled or replaced by a neighbouring key; seeded), and
prints how often the trained classifier's best answer is right, with and
without the model's own spelling correction, on the clean and the typed texts.
It reads the classifier and the vocabulary straight from the trained model.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import re
import sys
import tarfile
from pathlib import Path
from typing import List, Set, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.spelling import SpellingCorrector  # noqa: E402

Item = Tuple[str, Set[str]]
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def labelled_questions() -> List[Item]:
    items: List[Item] = []
    paraphrases = yaml.safe_load((ROOT / "tests/data/faq_paraphrases.yml").read_text("utf-8"))
    for group in paraphrases["paraphrases"]:
        items += [(t, {"faq/" + group["key"]}) for t in group["texts"]]
    for path in sorted((ROOT / "tests/blind").glob("faq_*/labels.yml")):
        if "_es_" in path.parent.name:
            continue
        for item in yaml.safe_load(path.read_text("utf-8")):
            accept = {a[len("utter_") :] for a in item.get("accept") or [] if "utter_faq/" in a}
            if accept:
                items.append((str(item["text"]), accept))
    return items


def _neighbours(letter: str) -> List[str]:
    for r, row in enumerate(ROWS):
        if letter in row:
            i = row.index(letter)
            near = [
                ROWS[rr][j]
                for rr in range(max(0, r - 1), min(3, r + 2))
                for j in range(i - 1, i + 2)
                if 0 <= j < len(ROWS[rr]) and ROWS[rr][j] != letter
            ]
            return near or ["e"]
    return ["e"]


def add_typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if re.fullmatch(r"[A-Za-z]{4,}", w)]
    for i in rng.sample(candidates, min(len(candidates), rng.choice([1, 2]))):
        w, k = words[i], rng.randrange(1, len(words[i]) - 1)
        edit = rng.choice("dtsi")
        if edit == "d":
            w = w[:k] + w[k + 1 :]
        elif edit == "t":
            w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        elif edit == "s":
            w = w[:k] + rng.choice(_neighbours(w[k].lower())) + w[k + 1 :]
        else:
            w = w[:k] + w[k] + w[k:]
        words[i] = w
    return " ".join(words)


def load_model(path: Path):
    with tarfile.open(path) as archive:
        members = archive.getmembers()

        def read(suffix: str) -> bytes:
            member = next(m for m in members if m.name.endswith(suffix))
            return archive.extractfile(member).read()

        model, _, _ = pickle.loads(read("lexical_intent_classifier.pkl"))  # our own artifact
        counts = json.loads(read("vocabulary.json"))
    return model, SpellingCorrector(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "ketamine-aid.tar.gz")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    model, corrector = load_model(args.model)
    items = labelled_questions()
    rng = random.Random(args.seed)
    typed = [(add_typos(t, rng), accept) for t, accept in items]

    def right(rows: List[Item], correct: bool) -> float:
        texts = [corrector.correct(t) if correct else t for t, _ in rows]
        predicted = model.predict(texts)
        return sum(p in accept for p, (_, accept) in zip(predicted, rows, strict=True)) / len(rows)

    print(f"{len(items)} labelled English FAQ questions, one or two typos each (seed {args.seed})")
    print(f"{'':22}{'as written':>12}{'corrected':>12}")
    for name, rows in (("clean questions", items), ("with typos", typed)):
        print(f"{name:22}{right(rows, False):12.1%}{right(rows, True):12.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
