"""The library's own embeddings of texts, images and grid cells, as JSON: what a converted package
must reproduce once it is served (test/e2e/converted-model.e2e.test.ts holds the local stack to it).

`python -m koclip_kit.reference CHECKPOINT_DIR PACKAGE_DIR --texts FILE --images DIR [--grid RxC] --out FILE`

- texts: one per line, tokenized with the package's tokenizer (the `tokenizers` library) and
  embedded by the library's forward pass of the checkpoint (koclip_kit.fixtures: transformers'
  Flax modules on the hybrid-clip tree, or VisionTextDualEncoderModel);
- images: every .png/.jpg of DIR (sorted), preprocessed the way the encoder does it (Pillow:
  bicubic shortest edge, centre crop, the manifest's mean and std; koclip_kit.preprocess) and
  embedded by the library's vision tower;
- grid: each image's rows x cols cells, cut from the preprocessed crop at the encoder's cell
  bounds (round-half-up of r*size/rows) and resized to the model size with the same filter.
- scores: each image's probabilities over all the texts, the way the original KoCLIP's Quickstart
  computes them (`logits_per_image = exp(logit_scale) * image_embeds @ text_embeds.T`, softmax),
  with the checkpoint's own logit_scale: what /v1/score with the fp32 text tower must reproduce.
Output: {"model", "version", "dim", "logit_scale", "checkpoint_logit_scale", "texts": [{"text",
"embedding"}], "images": [{"file", "embedding", "cells": [[...], ...], "probs": [...]}]}. Needs
requirements-convert.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

import numpy as np
from PIL import Image

from .common import F32
from .convert import Tok
from .errors import KitError
from .fixtures import FlaxOracle, TorchOracle
from .preprocess import normalise, resize_crop, to_rgb
from .score_parity import probs

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def library_oracle(checkpoint: str, manifest: dict[str, Any]) -> FlaxOracle | TorchOracle:
    """The forward pass of the library that wrote `checkpoint`, with the package's position ids."""
    if os.path.isfile(os.path.join(checkpoint, "flax_model.msgpack")):
        return FlaxOracle(checkpoint)
    offset = int(manifest["text"]["position_id_offset"])
    return TorchOracle(checkpoint, None if offset == 2 else offset)


def checkpoint_logit_scale(oracle: FlaxOracle | TorchOracle) -> float:
    """The raw logit_scale the checkpoint holds (the Flax tree's scalar, or the PyTorch parameter)."""
    if isinstance(oracle, FlaxOracle):
        return float(np.asarray(oracle.params["logit_scale"]).reshape(()))
    return float(oracle.model.logit_scale.detach().reshape(()).item())


def _bound(i: int, n: int, size: int) -> int:
    """JavaScript's Math.round(i * size / n) (half up), as the encoder's gridCrops computes it."""
    return math.floor(i * size / n + 0.5)


def cells(img: Image.Image, size: int, rows: int, cols: int, mean: list[float], std: list[float]) -> F32:
    """[rows*cols, 3, size, size]: the grid cells of the preprocessed crop, row-major."""
    whole = resize_crop(to_rgb(img), size)
    out = []
    for r in range(rows):
        top, bottom = _bound(r, rows, size), _bound(r + 1, rows, size)
        for c in range(cols):
            left, right = _bound(c, cols, size), _bound(c + 1, cols, size)
            cell = whole.crop((left, top, right, bottom)).resize((size, size), Image.BICUBIC)
            out.append(normalise(np.asarray(cell), mean, std))
    return np.stack(out)


def reference(checkpoint: str, package: str, texts: list[str], images: list[str], grid: tuple[int, int]) -> Any:
    with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    size, mean, std = int(m["image"]["size"]), m["image"]["mean"], m["image"]["std"]
    oracle = library_oracle(checkpoint, m)
    tok = Tok(package)
    ids, mask = (np.array(x, dtype=np.int64) for x in tok.batch(texts, int(m["text"]["max_length"])))
    text_embeds = oracle.text_embeds(ids, mask)
    logit_scale = checkpoint_logit_scale(oracle)
    rows, cols = grid
    out_images = []
    for path in images:
        with Image.open(path) as img:
            whole = normalise(np.asarray(resize_crop(to_rgb(img), size)), mean, std)
            grid_px = cells(img, size, rows, cols, mean, std)
        emb = oracle.image_embeds(np.concatenate([whole[None], grid_px]))
        out_images.append(
            {
                "file": os.path.basename(path),
                "embedding": emb[0].tolist(),
                "cells": [e.tolist() for e in emb[1:]],
                "probs": probs(emb[:1], text_embeds, math.exp(logit_scale))[0].tolist(),
            }
        )
    return {
        "model": m["id"],
        "version": m["version"],
        "dim": int(m["projection_dim"]),
        "logit_scale": float(m["logit_scale"]),
        "checkpoint_logit_scale": logit_scale,
        "grid": {"rows": rows, "cols": cols},
        "texts": [{"text": t, "embedding": e.tolist()} for t, e in zip(texts, text_embeds, strict=True)],
        "images": out_images,
    }


def _grid(s: str) -> tuple[int, int]:
    try:
        r, c = (int(x) for x in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"grid must be RxC, e.g. 2x3, not {s!r}") from None
    if not (1 <= r <= 8 and 1 <= c <= 8):
        raise argparse.ArgumentTypeError(f"grid rows and cols must be 1-8, not {s!r}")
    return r, c


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m koclip_kit.reference", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("package")
    p.add_argument("--texts", required=True, help="one text per line")
    p.add_argument("--images", required=True, help="folder of .png/.jpg images")
    p.add_argument("--grid", type=_grid, default=(2, 3))
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        if not os.path.isfile(os.path.join(a.package, "manifest.json")):
            raise KitError(f"{a.package} has no manifest.json")
        with open(a.texts, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
        if not texts:
            raise KitError(f"{a.texts} holds no text")
        images = sorted(os.path.join(a.images, n) for n in os.listdir(a.images) if n.lower().endswith(IMAGE_EXTENSIONS))
        if not images:
            raise KitError(f"{a.images} holds no image")
        result = reference(a.checkpoint, a.package, texts, images, a.grid)
    except (KitError, OSError) as err:
        print(f"reference: {err}", file=sys.stderr)
        return 2
    tmp = f"{a.out}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
