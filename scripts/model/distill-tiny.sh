#!/usr/bin/env bash
# The recall-target run of distillation (issue 10, item 5): koclip-tiny as teacher, 20,000 of the
# kit's synthetic captions as corpus, the default student (4 x 384, 400 steps) with a pruned
# vocabulary. `--require-recall` makes it fail when the student keeps less than 95% of the
# teacher's text->image recall@5 on the synthetic test split (2,400 images, the teacher's image
# tower). About 8-10 minutes on 2 cores; peak memory by /usr/bin/time -v. Figures in
# docs/benchmarks.md "Distillation".
#   scripts/model/distill-tiny.sh [WORKDIR] [extra distill options]     (default: build/distill-tiny)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=scripts/model/.venv/bin/python
work=${1:-build/distill-tiny}
shift || true
mkdir -p "$work"
"$PY" -m koclip_kit captions --out "$work/captions.txt" --count 20000 --seed 5
/usr/bin/time -v "$PY" -m koclip_kit distill --teacher models/koclip-tiny --corpus "$work/captions.txt" \
  --out "$work/koclip-tiny-student" --prune-vocab --require-recall "$@" 2> >(tee "$work/distill.log" >&2)
grep -E "Elapsed|Maximum resident" "$work/distill.log"
ls -l "$work/koclip-tiny-student"
