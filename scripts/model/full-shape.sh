#!/usr/bin/env bash
# Full-shape run of the converter on random-weight checkpoints written by the real libraries:
# koclip-base (klue/roberta-large + CLIP ViT-B/32) and koclip-large (+ ViT-L/16) as Flax
# flax_model.msgpack, converted with peak memory measured by /usr/bin/time -v, then compared with
# transformers' Flax forward pass (oracle). About 1.8 GB and 2.6 GB of checkpoint, 6+ GB of disk
# per model; tens of minutes on 2 cores.
#   scripts/model/full-shape.sh [WORKDIR] [base|large ...]      (default: build/full-shape, base large)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=scripts/model/.venv/bin/python
work=${1:-build/full-shape}
shift || true
archs=("$@")
((${#archs[@]})) || archs=(base large)
mkdir -p "$work"
for arch in "${archs[@]}"; do
  ck=$work/ckpt-$arch pkg=$work/koclip-$arch-full
  [[ -f $ck/flax_model.msgpack ]] || /usr/bin/time -v "$PY" -m koclip_kit make-fixture --out "$ck" --arch "$arch" --full \
    2> >(tee "$work/make-$arch.time" | grep -E "Elapsed|Maximum resident" >&2)
  /usr/bin/time -v "$PY" -m koclip_kit convert "$ck" --out "$pkg" --id "koclip-$arch-full" --version full-shape \
    2> >(tee "$work/convert-$arch.time" | grep -E "Elapsed|Maximum resident|error" >&2)
  ls -l "$ck" "$pkg"
  "$PY" -m koclip_kit oracle "$ck" "$pkg"
done
