"""Will an edge student of a given shape fit a Worker isolate with a full vocabulary? Writes
untrained students (koclip_kit.student.Student, seeded random weights: memory does not depend
on their values) as distill does, the kit's int8 with its weights as ONNX external data, and
beside each the same tower as one file (how packages shipped it before), then measures both with
`model:fit` (scripts/model/fit.mjs). Figures: docs/benchmarks.md, "Distillation".

  python -m koclip_kit.student_sizes --out build/student-sizes [--vocab 32000] [--shapes 4x384,6x512]
"""

from __future__ import annotations

import argparse
import json
import os
import re

import torch

from .fit import measure
from .model import TextConfig
from .onnx_export import export_text_module, quantize_text, write_external_data
from .repo import REPO
from .student import Student

PROJECTION = 512


def write_student(folder: str, layers: int, hidden: int, vocab: int, external: bool) -> None:
    """A package folder fit.mjs can measure: manifest (koclip-tiny's, with this tower) + text-int8."""
    torch.manual_seed(0)
    cfg = TextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
        max_position_embeddings=64,
        position_id_offset=0,
        pad_token_id=1,
    )
    os.makedirs(folder, exist_ok=True)
    fp32, int8 = os.path.join(folder, "text-fp32.onnx"), os.path.join(folder, "text-int8.onnx")
    export_text_module(Student(cfg, PROJECTION), fp32)
    quantize_text(fp32, int8)
    os.remove(fp32)
    with open(os.path.join(REPO, "models", "koclip-tiny", "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["id"] = f"student-{layers}x{hidden}"
    manifest["text"]["files"] = {"int8": "text-int8.onnx"}
    manifest["text"]["placement"] = "edge"
    if external:
        manifest["text"]["external_data"] = {"int8": write_external_data(int8)}
    with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m koclip_kit.student_sizes", description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--shapes", default="4x384,6x512", help="LAYERSxHIDDEN, comma-separated (heads = hidden / 64)")
    a = p.parse_args(argv)
    shapes: list[tuple[int, int]] = []
    for shape in a.shapes.split(","):
        m = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", shape.strip())
        if not m or int(m.group(2)) % 64:
            p.error(f"--shapes: {shape!r} is not LAYERSxHIDDEN with HIDDEN a multiple of 64 (e.g. 4x384)")
        shapes.append((int(m.group(1)), int(m.group(2))))
    if a.vocab < 8:
        p.error("--vocab must be at least 8 (the special tokens)")
    print("| student | format | file MiB | wasm after a run MiB | x file | needed MiB | headroom MiB | fits |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for layers, hidden in shapes:
        shape = f"{layers}x{hidden}"
        for external in (False, True):
            folder = os.path.join(a.out, f"{shape}-{'ext' if external else 'one-file'}")
            write_student(folder, layers, hidden, a.vocab, external)
            fig = measure(folder)
            ratio = fig["wasm_after_run_mib"] / fig["file_mib"]
            print(
                f"| {shape}, vocab {a.vocab} | {'external data' if external else 'one file'} | {fig['file_mib']} | "
                f"{fig['wasm_after_run_mib']} | {ratio:.2f} | {fig['needed_mib']} | {fig['headroom_mib']} | "
                f"{'yes' if fig['fits'] else 'no'} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
