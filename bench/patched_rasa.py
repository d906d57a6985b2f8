"""`rasa` with speed proposals applied: python -m bench.patched_rasa run ...

Imports the bench/proposals modules named in BENCH_PATCHES (comma or +
separated) and then runs Rasa's own command line, so the benchmark can measure
a proposed change on the unchanged work tree (bench/ab.py variants with
BENCH_PATCHES=...). Not used by `make run`.
"""
from __future__ import annotations

import importlib
import os
import sys


def main() -> None:
    for name in filter(None, os.environ.get("BENCH_PATCHES", "").replace("+", ",").split(",")):
        importlib.import_module(f"bench.proposals.{name.strip()}")
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa"] + sys.argv[1:]
    rasa_main()


if __name__ == "__main__":
    main()
