#!/usr/bin/env bash
# Rebuilds a model package from scratch with the model kit.
#   scripts/model/build.sh                 full run: tokenizer, ~70 min CPU training, export to models/koclip-tiny
#   scripts/model/build.sh --smoke [DIR]   toy run (a few steps, tiny towers) into DIR (default: a temp dir)
#   scripts/model/build.sh --everyday      retrain models/koclip-tiny's text tower and tokenizer on everyday
#                                          Korean against its image tower (koclip_kit.lit, 4000 steps, ~45 min CPU)
# Extra environment: KIT_MINUTES (training budget), KIT_DEVICE (cpu|cuda), KIT_OUT (package folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=scripts/model/.venv/bin/python
if [[ ! -x $PY ]] || ! "$PY" -c 'import koclip_kit, torch, onnx, numpy, PIL' 2>/dev/null; then
  echo "model kit needs its virtual environment (scripts/model/.venv, over Debian's python3-torch," >&2
  echo "python3-onnx, python3-numpy and python3-pil); create it with: ./scripts/setup.sh" >&2
  exit 1
fi
KIT="$PY -m koclip_kit"
if [[ "${1:-}" == "--smoke" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  out="${2:-$work/koclip-smoke}"
  $KIT tokenizer --out "$work/tok" --corpus-size 2000
  $KIT train --tokenizer "$work/tok" --out "$work/ckpt" --steps 3 --batch-size 16 --smoke
  $KIT export --checkpoint "$work/ckpt/checkpoint.pt" --tokenizer "$work/tok" --out "$out" \
    --id koclip-smoke --gallery 240 --demo 8 --version smoke
  echo "smoke package written to $out"
  exit 0
fi
if [[ "${1:-}" == "--everyday" ]]; then
  mkdir -p build
  $KIT lit --package "${KIT_OUT:-models/koclip-tiny}" --steps "${KIT_STEPS:-4000}" 2>&1 | tee build/tiny-lit.log
  exit "${PIPESTATUS[0]}"
fi
mkdir -p build
$KIT tokenizer --out build/tok
$KIT train --tokenizer build/tok --out build/tiny --minutes "${KIT_MINUTES:-70}" --device "${KIT_DEVICE:-cpu}" \
  2>&1 | tee build/tiny-train.log
$KIT export --checkpoint build/tiny/checkpoint.pt --tokenizer build/tok --out "${KIT_OUT:-models/koclip-tiny}" \
  --id koclip-tiny
