#!/usr/bin/env bash
# Distillation at real size (issue 10, items 5 and 6): a random-weight koclip-base-shaped Flax
# checkpoint (klue/roberta-large 24 x 1024 text tower + CLIP ViT-B/32, written by transformers /
# flax), converted with `function` placement; the same conversion with `--placement edge` must be
# refused by the isolate fit (exit 1, nothing written); then a short distillation from the
# converted package into an edge student, which must fit. Each step under /usr/bin/time -v.
# About 25-40 minutes and 3 GB of memory on 2 cores, 7 GB of disk; the checkpoint and packages are
# removed at the end unless KEEP=1. Figures in docs/benchmarks.md "Distillation".
#   scripts/model/distill-base.sh [WORKDIR] [STEPS] [LINES]   (default: build/distill-base 60 400)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=scripts/model/.venv/bin/python
work=${1:-build/distill-base}
steps=${2:-60}
lines=${3:-400}
ck=$work/ckpt-base teacher=$work/koclip-base-full edge=$work/koclip-base-edge student=$work/koclip-base-student
mkdir -p "$work"
timed() { # timed NAME CMD...: runs CMD under /usr/bin/time -v, keeps its stderr in WORK/NAME.log
  local name=$1 rc=0
  shift
  /usr/bin/time -v "$@" 2> >(tee "$work/$name.log" >&2) || rc=$?
  sleep 1
  grep -E "Elapsed|Maximum resident" "$work/$name.log" | sed "s/^/[$name] /" >&2
  return $rc
}
[[ -f $ck/flax_model.msgpack ]] || timed make "$PY" -m koclip_kit make-fixture --out "$ck" --arch base --full
[[ -f $teacher/manifest.json ]] || timed convert "$PY" -m koclip_kit convert "$ck" --out "$teacher" \
  --id koclip-base-full --version full-shape
rc=0
timed convert-edge "$PY" -m koclip_kit convert "$ck" --out "$edge" --id koclip-base-full --version full-shape \
  --placement edge || rc=$?
if ((rc != 1)) || [[ -e $edge ]] || ! grep -q "does not fit a Worker isolate" "$work/convert-edge.log"; then
  echo "distill-base: convert --placement edge was not refused as expected (exit $rc)" >&2
  exit 1
fi
echo "[convert-edge] refused as expected: $(grep -o 'onnxruntime-web wasm memory.*limit' "$work/convert-edge.log")"
"$PY" -m koclip_kit captions --out "$work/captions.txt" --count "$lines" --seed 5
timed distill "$PY" -m koclip_kit distill --teacher "$teacher" --corpus "$work/captions.txt" --out "$student" \
  --steps "$steps" --batch-size 32
ls -l "$teacher" "$student"
"$PY" - "$student/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
d, ev = m["training"]["distillation"], m["evaluation"]
print(json.dumps({"steps": d["steps"], "seconds": d["seconds"], "teacher_targets_seconds": d["teacher"]["targets_seconds"],
  "held_out_vs_teacher": ev["held_out_vs_teacher"], "parity": ev["parity"], "fit": ev["fit"],
  "text_mb": {k: round(v["bytes"] / 1e6, 2) for k, v in m["files"].items() if k.startswith("text-")}}, indent=1))
PY
if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$ck" "$teacher" "$student"; fi
