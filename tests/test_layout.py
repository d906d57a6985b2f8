"""README.md's "Layout" table matches the tree: every path it names exists, and it
names every module of the bot package (and every top-level folder)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LAYOUT = README.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
ROWS = [line for line in LAYOUT.splitlines() if line.startswith("| `")]


def _tracked() -> list:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _first_cell_paths():
    for row in ROWS:
        yield from re.findall(r"`([^`]+)`", row.split("|")[1])


def test_every_path_in_the_layout_table_exists():
    paths = list(_first_cell_paths())
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README's layout names paths that do not exist: {missing}"


def test_the_layout_table_has_a_line_for_every_bot_module_and_top_level_folder():
    named = set(_first_cell_paths())
    tracked = _tracked()
    modules = {
        f"bot/{Path(p).name}"
        for p in tracked
        if p.startswith("bot/") and p.count("/") == 1 and p.endswith(".py")
    }
    modules -= {"bot/__init__.py"}
    packages = {
        "/".join(p.split("/")[:2]) + "/"
        for p in tracked
        if p.startswith("bot/") and p.count("/") >= 2
    }
    folders = {p.split("/")[0] + "/" for p in tracked if "/" in p and not p.startswith(".")}
    missing = sorted((modules | packages | folders) - named - {"data/"})
    assert not missing, f"README's layout table has no line for: {missing}"
    assert {"data/nlu/", "data/responses/", "data/rules/"} <= named


def test_each_console_module_is_named_in_its_line():
    line = next(row for row in ROWS if row.startswith("| `bot/console/`"))
    modules = {
        Path(p).name
        for p in _tracked()
        if p.startswith("bot/console/") and p.endswith(".py") and not p.endswith("__init__.py")
    }
    missing = sorted(m for m in modules if f"`{m}`" not in line)
    assert not missing, f"README's bot/console/ line does not say what these are for: {missing}"
