"""`python -m bot COMMAND ...`: the project's small command-line tools.

To add a command, add one line to COMMANDS: name -> (module, help). The module
provides `add_<name>_arguments(parser)`, which adds its options and sets
`run=<function(args) -> int>` with parser.set_defaults. Only the chosen
command's module is imported, so each command loads only what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Dict, List, Optional, Tuple

COMMANDS: Dict[str, Tuple[str, str]] = {
    "scripts": (
        "bot.console.cli",
        "staff phone scripts: search the approved answers, export the document",
    ),
    "console": ("bot.console.cli", "start the staff web console (token required)"),
}


def _parser(chosen: Optional[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Ketamine-therapy decision aid tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only what the chosen command needs
            getattr(importlib.import_module(module), f"add_{name}_arguments")(command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(chosen if chosen in COMMANDS else None).parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
