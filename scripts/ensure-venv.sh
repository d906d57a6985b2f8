#!/usr/bin/env bash
# Creates .venv/ on Python 3.10 (Rasa 3.6 needs <3.11) and installs the locked
# dependencies. Looks for python3.10 on PATH, then under pyenv.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidate
  for candidate in "${PYTHON310:-}" python3.10; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  local root
  root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for candidate in "$root"/versions/3.10*/bin/python3.10; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
  python310="$(find_python)" || {
    echo "error: Python 3.10 not found (Rasa 3.6 needs Python 3.10): install it (e.g. 'pyenv install 3.10') or set PYTHON310=/path/to/python3.10" >&2
    exit 1
  }
  echo "Creating .venv with $python310"
  rm -rf .venv
  "$python310" -m venv .venv
fi

# pip's own output (and the warnings of a machine's pip configuration) go to a
# log, shown only when something fails.
log=.venv/pip.log
if ! { .venv/bin/python -m pip install --quiet --disable-pip-version-check "pip<24.1" \
       && .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock; } \
     >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "error: installing the packages failed (full log: $log)" >&2
  exit 1
fi
# Make the project's packages (bot, actions) importable from anywhere.
echo "$(pwd)" > "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ketamine_aid.pth"
