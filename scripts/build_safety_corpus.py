"""Builds a safety-corpus file (bot/safety/corpus/) from a writer's raw file.

    .venv/bin/python scripts/build_safety_corpus.py WRITER_FILE OUT_FILE --source "who wrote it"

A writer's file has lists ``crisis``, ``emergency``, ``advice`` and ``none``
(``negative`` and ``not_advice`` are read as ``none``). The output uses the
model's labels. ``--held-out DIR`` adds more held-out texts (blind sets kept
outside the repository).
Texts that are near-copies of any held-out text (tests/data/, tests/blind/:
cosine similarity >= 0.8 over character 3-5 grams) are dropped, so no test
text reaches training by accident, and so are texts with a dose in units.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterable, List

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = [ROOT / "tests" / "data", ROOT / "tests" / "blind"]
LABELS = {
    "crisis": "crisis",
    "emergency": "emergency",
    "advice": "advice",
    "none": "none",
    "negative": "none",
    "not_advice": "none",
}
DOSE = re.compile(r"\d\s*(mg|ml|mcg|milligrams?)\b", re.I)


def _strings(node) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "message") and isinstance(value, str):
                yield value
            else:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def held_out_texts(extra: Iterable[Path] = ()) -> List[str]:
    texts: List[str] = []
    for folder in [*HELD_OUT, *extra]:
        for path in folder.rglob("*.yml"):
            texts.extend(
                t for t in _strings(yaml.safe_load(path.read_text(encoding="utf-8"))) if len(t) > 8
            )
    return texts


def near_copies(candidates: List[str], held_out: List[str], threshold: float = 0.8) -> set:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).fit(candidates + held_out)
    similarity = vectorizer.transform(candidates) @ vectorizer.transform(held_out).T
    return {i for i in range(len(candidates)) if similarity[i].max() >= threshold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("writer_file", type=Path)
    parser.add_argument("out_file", type=Path)
    parser.add_argument("--source", required=True)
    parser.add_argument("--held-out", type=Path, action="append", default=[])
    args = parser.parse_args()

    raw = yaml.safe_load(args.writer_file.read_text(encoding="utf-8")) or {}
    pairs = []
    seen = set()
    for key, label in LABELS.items():
        for text in raw.get(key) or []:
            text = " ".join(str(text).split())
            if text and text.lower() not in seen and not DOSE.search(text):
                seen.add(text.lower())
                pairs.append((text, label))
    drop = near_copies([t for t, _ in pairs], held_out_texts(args.held_out))
    kept = [p for i, p in enumerate(pairs) if i not in drop]
    out = {
        label: [t for t, lab in kept if lab == label]
        for label in ("crisis", "emergency", "advice", "none")
        if any(lab == label for _, lab in kept)
    }
    header = (
        f"# Safety-model training corpus (bot/safety/risk_model.py): {args.source}.\n"
        "# Written without sight of tests/ or the blind sets; near-copies of held-out\n"
        f"# texts removed by scripts/build_safety_corpus.py ({len(drop)} dropped).\n"
    )
    args.out_file.parent.mkdir(parents=True, exist_ok=True)
    args.out_file.write_text(
        header + yaml.safe_dump(out, allow_unicode=True, width=200, sort_keys=False),
        encoding="utf-8",
    )
    print(
        f"{args.out_file}: "
        + ", ".join(f"{k} {len(v)}" for k, v in out.items())
        + f"; dropped {len(drop)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
