#!/usr/bin/env bash
# One-time machine set-up for a fresh clone: Debian packages for the model kit, then npm ci.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(python3-torch python3-onnx python3-numpy python3-msgpack python3-pil libopenblas0-pthread)
if ! /usr/bin/python3 -c 'import torch, onnx, numpy, msgpack, PIL' 2>/dev/null \
  || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  echo "[setup] installing Debian packages: ${apt_pkgs[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lockfile (fetches Node 22 via the
# `node` devDependency; dependency install scripts stay denied by package.json allowScripts)
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund
fi
echo "[setup] ready: $(node_modules/.bin/node --version), $(/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)')"
