"""The kit's int8 text tower against onnxruntime's quantize_dynamic, on a converted package.

`python -m koclip_kit.int8_compare PACKAGE [--out FILE.json] [--runs 20] [--web-max-mb 600]`

From the package's text-fp32.onnx it writes onnxruntime.quantization.quantize_dynamic variants
(defaults: per-tensor int8 weights, full range; per_channel + reduce_range; uint8 weights per
channel) beside the kit's own text-int8.onnx (onnx_export.quantize_graph: 7-bit per-column
weights, int8 embedding rows) and measures for each: file size, cosine to the fp32 tower
(onnxruntime-node, on golden, evaluation and corpus texts) and batch-1 latency in
onnxruntime-node (2 threads) and onnxruntime-web (wasm, 1 thread; files up to --web-max-mb).
Figures: docs/benchmarks.md, "int8 quantisers".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from typing import Any

from . import data
from .common import cosines
from .convert import Tok, onnx_text
from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS
from .repo import REPO, node_bin

LATENCY = os.path.join(REPO, "scripts", "model", "int8-latency.mjs")


def ort_variants(fp32: str, out: str) -> dict[str, tuple[str, float]]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    variants = {
        "ort-default": {"weight_type": QuantType.QInt8},
        "ort-per-channel-reduce-range": {"weight_type": QuantType.QInt8, "per_channel": True, "reduce_range": True},
        "ort-uint8-per-channel": {"weight_type": QuantType.QUInt8, "per_channel": True},
    }
    paths = {}
    for name, kw in variants.items():
        p = os.path.join(out, f"{name}.onnx")
        t = time.time()
        quantize_dynamic(fp32, p, **kw)
        paths[name] = (p, round(time.time() - t, 1))
    return paths


def latency(runtime: str, models: list[str], runs: int, tokens: int = 16) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in models:
        res = subprocess.run(
            [node_bin(), LATENCY, "--runtime", runtime, "--runs", str(runs), "--tokens", str(tokens), m],
            capture_output=True,
            text=True,
        )
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        out[m] = json.loads(line[-1]) if line else {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return out


def compare(package: str, runs: int, web_max_mb: float) -> dict[str, Any]:
    with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    fp32 = os.path.join(package, m["text"]["files"]["fp32"])
    kit = os.path.join(package, m["text"]["files"]["int8"])
    tok, max_length = Tok(package), int(m["text"]["max_length"])
    texts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + data.corpus(64, 9)[:64]
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, tuple[str, float | None]] = {"fp32": (fp32, None), "kit-7bit-per-column": (kit, None)}
        files.update(ort_variants(fp32, tmp))
        ref = onnx_text(fp32, tok, texts, max_length, tmp)
        rows: dict[str, Any] = {}
        for name, (path, secs) in files.items():
            emb = onnx_text(path, tok, texts, max_length, tmp)
            c = cosines(ref, emb)
            rows[name] = {
                "mb": round(os.path.getsize(path) / 1e6, 2),
                "min_cosine_to_fp32": round(float(c.min()), 5),
                "mean_cosine_to_fp32": round(float(c.mean()), 5),
                **({"quantise_s": secs} if secs is not None else {}),
            }
        node = latency("node", [p for p, _ in files.values()], runs)
        web_models = [p for p, _ in files.values() if os.path.getsize(p) / 1e6 <= web_max_mb]
        web = latency("web", web_models, runs)
        for name, (path, _) in files.items():
            rows[name]["node_median_ms"] = node[path].get("median_ms", node[path].get("error"))
            rows[name]["web_median_ms"] = web[path].get("median_ms", web[path].get("error")) if path in web else None
    return {"package": package, "text_architecture": m["text"]["architecture"], "texts": len(texts), "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m koclip_kit.int8_compare", description=__doc__)
    p.add_argument("package")
    p.add_argument("--out")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--web-max-mb", type=float, default=600)
    a = p.parse_args()
    res = compare(a.package, a.runs, a.web_max_mb)
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
