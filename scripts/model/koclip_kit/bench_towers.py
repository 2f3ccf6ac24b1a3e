"""Text towers with random weights at real sizes, for the text-tower benchmark (scripts/bench/text-towers.ts).

`python -m koclip_kit.bench_towers --out build/towers [--shapes base,student,student-384]` writes, per shape:
- `<shape>-fp32.onnx`: the kit's RoBERTa text tower (koclip_kit.model), exported as the package is;
- `<shape>-int8.onnx`: the kit's own int8 rewrite (onnx_export.quantize_text: DynamicQuantizeLinear +
  MatMulInteger, 7-bit per-column weights, int8 embedding rows), as `koclip_kit export` ships it;
- `<shape>-int8-ext.onnx` + `.onnx.data`: the same with its initializers as ONNX external data, as
  `distill` and `convert --placement edge` ship edge towers;
- `<shape>-ortq.onnx`: onnxruntime's quantize_dynamic (QOperator, per-channel, reduce_range) of the
  same fp32 graph, the stock alternative;
- `<shape>-fused-int8.onnx`: onnxruntime.transformers' BERT fusions (Attention, SkipLayerNormalization,
  BiasGelu; com.microsoft ops) applied at export, then quantize_dynamic (QAttention);
- `<shape>-fused-int8-ext.onnx` + `.onnx.data`: the same graph with its initializers as ONNX external data;
and `towers.json` with each file's size and the shapes. Weights are random (seeded): latency and memory
do not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass

import torch

from .model import KoCLIP, ModelConfig, TextConfig, VisionConfig
from .onnx_export import EXTERNAL_DATA_SUFFIX, export_text, quantize_text, write_external_data


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int = 32000
    max_positions: int = 128
    projection: int = 512


SHAPES = {
    # roberta-base / koclip-base's text tower shape
    "base": Shape(layers=12, hidden=768, heads=12, ffn=3072),
    # an edge student of the same vocabulary and projection
    "student": Shape(layers=4, hidden=512, heads=8, ffn=2048),
    # the shape `distill` trains by default (koclip_kit.student.StudentShape)
    "student-384": Shape(layers=4, hidden=384, heads=6, ffn=1536),
}


def build(shape: Shape, seed: int) -> KoCLIP:
    torch.manual_seed(seed)
    text = TextConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=shape.max_positions,
    )
    vision = VisionConfig(widths=[8, 8, 8, 8, 8], hidden_size=8)
    return KoCLIP(ModelConfig(text, vision, shape.projection)).eval()


def ort_variants(name: str, shape: Shape, fp32: str, out: str) -> dict[str, str]:
    """onnxruntime's own quantiser and fusions; skipped (with the reason) where they fail."""
    files: dict[str, str] = {}
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as e:  # pragma: no cover - depends on the venv
        print(f"{name}: onnxruntime tools missing ({e}); only the kit's variants")
        return files
    ortq = os.path.join(out, f"{name}-ortq.onnx")
    quantize_dynamic(fp32, ortq, per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)
    files["ortq"] = ortq
    fused_fp32 = os.path.join(out, f"{name}-fused-fp32.onnx")
    opt = optimize_model(fp32, model_type="bert", num_heads=shape.heads, hidden_size=shape.hidden, opt_level=1)
    print(f"{name}: fusions {opt.get_fused_operator_statistics()}")
    opt.save_model_to_file(fused_fp32)
    fused = os.path.join(out, f"{name}-fused-int8.onnx")
    quantize_dynamic(fused_fp32, fused, per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)
    files["fused-int8"] = fused
    os.remove(fused_fp32)
    files["fused-int8-ext"] = with_external_data(fused, os.path.join(out, f"{name}-fused-int8-ext.onnx"))
    return files


def with_external_data(src: str, dst: str) -> str:
    """A copy of `src` whose initializers live in `<dst>.data` beside the graph (ONNX external data,
    onnx_export.write_external_data: how packages ship edge towers)."""
    shutil.copyfile(src, dst)
    write_external_data(dst)
    return dst


def describe(path: str) -> dict[str, object]:
    entry: dict[str, object] = {"file": os.path.basename(path), "bytes": os.path.getsize(path)}
    data = path + EXTERNAL_DATA_SUFFIX
    if os.path.exists(data):
        entry["external_data"] = os.path.basename(data)
        entry["bytes"] = os.path.getsize(path) + os.path.getsize(data)
    return entry


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m koclip_kit.bench_towers", description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--shapes", default="base,student,student-384")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ort", action="store_true", help="only the kit's fp32 and int8 files")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    index: dict[str, object] = {}
    for name in a.shapes.split(","):
        shape = SHAPES[name]
        started = time.time()
        model = build(shape, a.seed)
        fp32 = os.path.join(a.out, f"{name}-fp32.onnx")
        export_text(model, fp32)
        int8 = os.path.join(a.out, f"{name}-int8.onnx")
        quantize_text(fp32, int8)
        files = {"fp32": fp32, "int8": int8}
        files["int8-ext"] = with_external_data(int8, os.path.join(a.out, f"{name}-int8-ext.onnx"))
        if not a.no_ort:
            files.update(ort_variants(name, shape, fp32, a.out))
        index[name] = {
            "shape": shape.__dict__,
            "files": {k: describe(v) for k, v in files.items()},
        }
        sizes = ", ".join(f"{k} {int(str(describe(v)['bytes'])) / 1e6:.1f} MB" for k, v in files.items())
        print(f"{name}: {sizes} ({time.time() - started:.0f} s)")
    with open(os.path.join(a.out, "towers.json"), "w") as f:
        json.dump(index, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
