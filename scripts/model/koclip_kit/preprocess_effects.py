"""What each deliberate preprocessing choice does to an embedding (docs/model-package.md
"Preprocessing"): the cosine between the embedding of the package's preprocessing and that of the
alternative it turned down, image by image, on (koclip_kit.preprocess_towers)

- `tiny`: koclip-tiny's trained image tower (image-fp32.onnx through onnxruntime);
- `base` / `large`: transformers' CLIPVisionModel (ViT-B/32) / ViTModel (ViT-L/16, pooler) at the
  real koclip-base / koclip-large sizes (koclip_kit.fixtures), and a klue/roberta-large-sized
  RobertaModel for the text side, all with RANDOM weights (seed 0): the real checkpoints are not
  reachable here, so these figures show how far each change moves the input through the real
  architecture, not what the trained model makes of it. Each tower's cosine between unrelated
  scenes is measured too, as the scale its figures are read against.

The choices (koclip_kit.preprocess_paths has each alternative): the crop offset rounded half to
even vs floored (CLIPImageProcessor), CLIP's mean/std vs the ViT processor's for koclip-large,
EXIF orientation applied vs ignored, transparency onto white vs dropped, text cut at 96 tokens vs
not cut, and one difference found on the way: Pillow's antialiased bicubic resize vs the
training transform's tensor resize. The images are koclip_kit.preprocess_cases'. Ours comes from
the encoder's own code (scripts/model/encoder-pixels.mjs) unless `encoder=False`, and is
cross-checked against the Python mirror (koclip_kit.preprocess). Caption lengths are counted with
koclip-tiny's tokenizer and the klue-sized wide tokenizer of test/fixtures/tokenizer.

`python -m koclip_kit preprocess-effects --out build/preprocess-effects.json [--towers tiny,base,large]`
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from . import preprocess_paths as paths
from .common import F32, Json, cosines
from .errors import KitError
from .preprocess_cases import CROP_SIZES, SIZE, Case, image_cases, max_abs
from .preprocess_towers import TINY_PACKAGE, Embed, image_towers, random_roberta
from .repo import REPO

TEXT_CUT = 96
LONG_TEXT_TOKENS = (128, 256, 512)
WIDE_TOKENIZER = os.path.join(REPO, "test", "fixtures", "tokenizer", "wide-tokenizer.json.gz")


def _clip_processor_file(path: str) -> F32:
    with Image.open(path) as img:
        return paths.clip_processor(img)


def measure_images(cases: list[Case], towers: dict[str, Embed], encoder: bool) -> tuple[list[Json], Json]:
    """Cosine of every case on every tower, and the cross-checks of ours."""
    files = sorted({c.path for c in cases})
    mirror = np.stack([paths.mirror_pixels(f, SIZE) for f in files])
    check: Json = {"ours_from": "encoder (scripts/model/encoder-pixels.mjs)" if encoder else "Python mirror"}
    if encoder:
        px, _ = paths.encoder_pixels(files, SIZE)
        check["encoder_vs_mirror_max_abs"] = max_abs(px, mirror)
    else:
        px = mirror
    ours = {f: px[i] for i, f in enumerate(files)}
    crop = [c for c in cases if c.effect == "crop"]
    check["floor_vs_clip_processor_max_abs"] = max((c.facts["floor_vs_clip_processor"] for c in crop), default=None)
    agree = [c.path for c in crop if c.facts["offset_ours"] == c.facts["offset_floor"]]
    if agree:
        check["ours_vs_clip_processor_where_offsets_agree_max_abs"] = max(
            max_abs(ours[f], _clip_processor_file(f)) for f in agree
        )
    alts = np.stack([c.alt for c in cases])
    cos: dict[str, F32] = {}
    pairs = _unrelated_pairs(crop)
    check["unrelated_images_cosine"] = {}
    for name, embed in towers.items():
        by_file = dict(zip(files, embed(px), strict=True))
        cos[name] = cosines(np.stack([by_file[c.path] for c in cases]), embed(alts))
        if pairs:
            u = cosines(np.stack([by_file[a] for a, _ in pairs]), np.stack([by_file[b] for _, b in pairs]))
            check["unrelated_images_cosine"][name] = {"pairs": len(pairs), "mean": round(float(u.mean()), 6)}
    rows = [
        {
            "effect": c.effect,
            "label": c.label,
            "file": os.path.basename(c.path),
            **c.facts,
            "pixels_differ": bool((ours[c.path] != c.alt).any()),
            "cosine": {n: round(float(cos[n][i]), 6) for n in towers},
        }
        for i, c in enumerate(cases)
    ]
    return rows, check


def _unrelated_pairs(crop: list[Case]) -> list[tuple[str, str]]:
    """Pairs of different scenes at the same size: the scale the effects are read against."""
    by_size: dict[str, list[str]] = {}
    for c in crop:
        by_size.setdefault(c.label, []).append(c.path)
    return [(a, b) for files in by_size.values() for i, a in enumerate(files) for b in files[i + 1 :]]


def _tokenizer(folder_or_gz: str, tmp: str) -> Any:
    from .convert import Tok

    if folder_or_gz.endswith(".gz"):
        folder = os.path.join(tmp, "wide")
        os.makedirs(folder, exist_ok=True)
        with gzip.open(folder_or_gz, "rb") as src, open(os.path.join(folder, "tokenizer.json"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        folder_or_gz = folder
    return Tok(folder_or_gz)


def measure_text(tmp: str, roberta: bool, shape: str = "full", captions: int = 2000) -> Json:
    """Token counts of the kit's captions; a long text cut at 96 tokens vs not cut (random RoBERTa)."""
    from .teacher import synthetic_captions

    lines = synthetic_captions(captions, 5)
    toks = {"koclip-tiny": _tokenizer(TINY_PACKAGE, tmp), "wide (klue-base-sized)": _tokenizer(WIDE_TOKENIZER, tmp)}
    counts = {}
    for name, tok in toks.items():
        n = sorted(len(tok.encode(t, 1 << 20)) for t in lines)
        counts[name] = {
            "median": statistics.median(n), "p99": n[int(0.99 * (len(n) - 1))], "max": n[-1],
            "over_96": sum(x > TEXT_CUT for x in n), "over_64": sum(x > 64 for x in n),
        }  # fmt: skip
    out: Json = {"captions": len(lines), "tokens_with_cls_sep": counts}
    if not roberta:
        return out
    wide = toks["wide (klue-base-sized)"]
    embed = random_roberta(wide.vocab_size, shape)
    rng = random.Random(7)
    rows = []
    for target in LONG_TEXT_TOKENS:
        words: list[str] = []
        while len(wide.encode(" ".join(words), 1 << 20)) < target:
            words.append(rng.choice(lines))
        text = " ".join(words)
        full = wide.encode(text, target)
        cut = wide.encode(text, TEXT_CUT)
        e_full, e_cut = embed([full]), embed([cut])
        rows.append({"tokens": len(full), "cut_to": len(cut), "cosine": round(float(cosines(e_cut, e_full)[0]), 6)})
    a, b = wide.encode(lines[0], TEXT_CUT), wide.encode(lines[1], TEXT_CUT)
    out["cut_at_96_vs_not_cut"] = rows
    out["unrelated_captions_cosine"] = round(float(cosines(embed([a]), embed([b]))[0]), 6)
    return out


def measure(
    towers: Sequence[str] = ("tiny", "base", "large"),
    *,
    encoder: bool = True,
    seeds: Sequence[int] = (0, 1, 2),
    crop_sizes: Sequence[tuple[int, int]] = CROP_SIZES,
    shape: str = "full",
    captions: int = 2000,
) -> Json:
    """Every measurement, as one JSON object (docs/model-package.md "Preprocessing" shows it)."""
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cases = image_cases(tmp, seeds, crop_sizes)
        rows, check = measure_images(cases, image_towers(towers, shape), encoder)
        text = measure_text(tmp, roberta=any(t in ("base", "large") for t in towers), shape=shape, captions=captions)
    return {
        "towers": {
            t: "trained (models/koclip-tiny)" if t == "tiny" else f"random weights, {shape} size" for t in towers
        },
        "image_size": SIZE,
        "cross_check": check,
        "images": rows,
        "summary": summary(rows, list(towers), check.get("unrelated_images_cosine", {})),
        "text": text,
        "seconds": round(time.time() - started, 1),
    }


def summary(rows: list[Json], towers: list[str], unrelated: Json) -> list[Json]:
    """Min and max cosine per (effect, label) and tower; whether any image's pixels differ at all;
    `share`: how far the worst image moved, as a share of the distance between unrelated scenes
    ((1 - min cosine) / (1 - their mean cosine)), which makes towers of different spread comparable."""
    groups: dict[tuple[str, str], list[Json]] = {}
    for r in rows:
        groups.setdefault((r["effect"], r["label"]), []).append(r)
    out = []
    for (effect, label), g in groups.items():
        row: Json = {"effect": effect, "label": label, "images": len(g)}
        row["pixels_differ"] = any(r["pixels_differ"] for r in g)
        for t in towers:
            lo, hi = min(r["cosine"][t] for r in g), max(r["cosine"][t] for r in g)
            row[t] = [lo, hi]
            if t in unrelated:
                row[f"{t}_share"] = round((1 - lo) / (1 - unrelated[t]["mean"]), 4)
        out.append(row)
    return out


def table(result: Json) -> str:
    """The summary as a Markdown table: cosine min-max per tower and, in brackets, the share of the
    distance between unrelated scenes ("same pixels" where ours and the alternative are one tensor);
    then the text figures."""
    towers = list(result["towers"])
    unrelated = result["cross_check"].get("unrelated_images_cosine", {})
    lines = ["| effect | image | " + " | ".join(towers) + " |", "|---|---|" + "---|" * len(towers)]
    for s in result["summary"]:
        cells = []
        for t in towers:
            lo, hi = s[t]
            cell = f"{lo:.5f}" if lo == hi else f"{lo:.5f}-{hi:.5f}"
            cells.append(f"{cell} ({100 * s[t + '_share']:.2f}%)" if f"{t}_share" in s else cell)
        if not s["pixels_differ"]:
            cells = ["same pixels"] * len(towers)
        lines.append(f"| {s['effect']} | {s['label']} | " + " | ".join(cells) + " |")
    if unrelated:
        cells = [f"{unrelated[t]['mean']:.5f}" if t in unrelated else "" for t in towers]
        lines.append("| unrelated scenes (mean) | same size | " + " | ".join(cells) + " |")
    text = result["text"]
    lines.append("")
    for name, c in text["tokens_with_cls_sep"].items():
        lines.append(f"{text['captions']} kit captions, {name} tokenizer: tokens median {c['median']}, max {c['max']}")
    for r in text.get("cut_at_96_vs_not_cut", []):
        lines.append(f"text of {r['tokens']} tokens cut to {r['cut_to']} vs not cut: cosine {r['cosine']:.5f}")
    if "unrelated_captions_cosine" in text:
        lines.append(f"unrelated captions: cosine {text['unrelated_captions_cosine']:.5f}")
    return "\n".join(lines)


def write(out: str, towers: Sequence[str], *, seeds: int, encoder: bool, threads: int) -> Json:
    """Measures (torch on `threads` threads) and writes the JSON to `out` (atomically)."""
    import json

    import torch

    torch.set_num_threads(threads)
    if encoder and not paths.node_available():
        raise KitError("the encoder's preprocessing needs node_modules (npm ci); or pass --python-only")
    result = measure(towers, encoder=encoder, seeds=range(seeds))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    os.replace(out + ".tmp", out)
    return result
