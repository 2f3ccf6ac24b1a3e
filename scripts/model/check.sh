#!/usr/bin/env bash
# The model kit's checks, all run from scripts/model/.venv (created by ./scripts/setup.sh):
# ruff check, ruff format --check, mypy (strict; configured in pyproject.toml) and the unit tests
# under tests/ (pytest). Every check runs; the exit code is 1 when any of them failed.
set -uo pipefail
cd "$(dirname "$0")"
bin=.venv/bin
for tool in python ruff mypy pytest; do
  if [[ ! -x $bin/$tool ]]; then
    echo "check.sh: $PWD/$bin/$tool is missing; create the venv with ./scripts/setup.sh" >&2
    exit 1
  fi
done
failed=()
check() {
  echo "[check] $*"
  "$@" || failed+=("$*")
}
check "$bin/ruff" check .
check "$bin/ruff" format --check .
check "$bin/mypy"
check "$bin/python" -m pytest -q
if ((${#failed[@]})); then
  printf '[check] FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "[check] all passed"
