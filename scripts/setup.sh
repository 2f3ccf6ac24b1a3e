#!/usr/bin/env bash
# One-time machine set-up for a fresh clone: Debian packages and a virtual environment for the
# model kit, then npm ci.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the browser tests of the demo page (test/e2e/ui); fonts-nanum: Korean glyphs in it.
apt_pkgs=(python3-torch python3-onnx python3-numpy python3-msgpack python3-pil python3-venv libopenblas0-pthread
  chromium fonts-nanum)
if ! /usr/bin/python3 -c 'import torch, onnx, numpy, msgpack, PIL, ensurepip' 2>/dev/null \
  || ! dpkg -s libopenblas0-pthread chromium fonts-nanum >/dev/null 2>&1; then
  echo "[setup] installing Debian packages ($(date -u +%H:%M:%S)): ${apt_pkgs[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# The model kit's virtual environment (scripts/model/.venv): Debian's interpreter and packages
# (--system-site-packages: torch, onnx, numpy, Pillow), the kit itself installed editable (so
# `.venv/bin/python -m koclip_kit` runs the checkout), the pinned dev tools and the converter's
# pinned PyPI packages (requirements-convert.txt: transformers 4.44, jax/flax CPU, tokenizers,
# safetensors, onnxruntime; about 400 MB, one pip run) and the API fuzzer of npm test
# (requirements-contract.txt: schemathesis). Redone when a requirements file or
# pyproject.toml is newer than the last successful run's stamp.
kit=scripts/model
stamp=$kit/.venv/.setup-done
if [[ ! -x $kit/.venv/bin/python || ! -f $stamp || $kit/requirements-dev.txt -nt $stamp \
  || $kit/requirements-convert.txt -nt $stamp || $kit/requirements-contract.txt -nt $stamp \
  || $kit/pyproject.toml -nt $stamp ]]; then
  echo "[setup] python venv $kit/.venv ($(date -u +%H:%M:%S))"
  rm -f "$stamp"
  /usr/bin/python3 -m venv --system-site-packages "$kit/.venv"
  pip=("$kit/.venv/bin/python" -m pip --disable-pip-version-check --quiet)
  "${pip[@]}" install --requirement "$kit/requirements-dev.txt" --requirement "$kit/requirements-convert.txt" \
    --requirement "$kit/requirements-contract.txt"
  "${pip[@]}" install --no-deps --no-build-isolation --editable "$kit"
  touch "$stamp"
fi

# npm ci when node_modules is missing or older than the lockfile (fetches Node 22 via the
# `node` devDependency; dependency install scripts stay denied by package.json allowScripts)
# Bounded and tried twice: one CI run's output ended inside `npm ci` and the run was stopped at
# its 90-minute limit, while on this machine it takes 1-3 min with an empty cache; a stalled
# download now fails the try after 10 min, and the second try starts from a clean node_modules.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  for try in 1 2; do
    echo "[setup] npm ci (try $try, $(date -u +%H:%M:%S))"
    if timeout --kill-after=30 600 npm ci --no-audit --no-fund; then break; fi
    [[ $try == 2 ]] && { echo "[setup] npm ci failed twice" >&2; exit 1; }
    rm -rf node_modules
  done
fi
echo "[setup] ready at $(date -u +%H:%M:%S): $(node_modules/.bin/node --version), $("$kit/.venv/bin/python" -c 'import torch; print("torch", torch.__version__)')"
