"""Evaluation on the balanced synthetic test split.

- full-caption text->image and image->text recall@1/5/10 (a retrieved item whose attributes all
  match the caption counts as a hit), overall and on held-out colour-shape combinations;
- attribute precision@10 for partial queries (colour+shape; +count; +size);
- zero-shot colour and shape accuracy with the prompt template.
Text embeddings come from a callable, so PyTorch, ONNX fp32 and ONNX int8 text towers are
measured on the same gallery side by side.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from . import data
from .common import F32, Array, Json
from .contract import PROMPT_TEMPLATE
from .data import Attrs

EmbedText = Callable[[list[str]], F32]
"""Texts -> L2-normalised embeddings [len(texts), dim]."""


def gallery(n: int, seed: int) -> list[data.Scene]:
    return data.balanced_scenes(n, seed)


def partial_queries() -> dict[str, list[tuple[str, Attrs]]]:
    """Every colour x shape, with every synonym pair; then + count, + size (first synonyms)."""
    cs: list[tuple[str, Attrs]] = []
    cnt: list[tuple[str, Attrs]] = []
    sz: list[tuple[str, Attrs]] = []
    for cname, _, mods, _ in data.COLOURS:
        for sname, words in data.SHAPES:
            for m in mods:
                for w in words:
                    cs.append((f"{m} {w}", {"colour": cname, "shape": sname}))
            for n, forms in data.COUNTS:
                cnt.append((f"{mods[0]} {words[0]} {forms[0]}", {"colour": cname, "shape": sname, "count": n}))
            for zname, zforms, _ in data.SIZES:
                sz.append((f"{zforms[0]} {mods[0]} {words[0]}", {"colour": cname, "shape": sname, "size": zname}))
    return {"colour_shape": cs, "colour_shape_count": cnt, "colour_shape_size": sz}


def _held(m: Attrs) -> bool:
    return (m.get("colour"), m.get("shape")) in data.HELD_OUT


def _mean(xs: Array) -> float | None:
    return round(float(np.mean(xs)), 4) if len(xs) else None


def evaluate(
    embed_text: EmbedText, image_emb: F32, scenes: list[data.Scene], seed: int, prompt: str = PROMPT_TEMPLATE
) -> Json:
    attrs = [s.attrs() for s in scenes]
    rng = random.Random(seed)
    caps = [data.full_caption(s, rng) for s in scenes]
    q = embed_text([c[0] for c in caps])
    sims = q @ image_emb.T  # [queries, images]
    out: Json = {"gallery_images": len(scenes)}

    # text -> image, full captions
    order = np.argsort(-sims, axis=1)[:, :10]
    hits = np.array([[data.satisfies(attrs[j], caps[i][1]) for j in order[i]] for i in range(len(caps))])
    held = np.array([_held(c[1]) for c in caps])
    for k in (1, 5, 10):
        r = hits[:, :k].any(1)
        out[f"t2i_recall@{k}"] = _mean(r)
        out[f"t2i_recall@{k}_seen"] = _mean(r[~held])
        out[f"t2i_recall@{k}_held_out"] = _mean(r[held])

    # image -> text over the same captions
    order_i = np.argsort(-sims.T, axis=1)[:, :10]
    hits_i = np.array([[data.satisfies(attrs[i], caps[j][1]) for j in order_i[i]] for i in range(len(scenes))])
    held_i = np.array([(a["colour"], a["shape"]) in data.HELD_OUT for a in attrs])
    for k in (1, 5, 10):
        r = hits_i[:, :k].any(1)
        out[f"i2t_recall@{k}"] = _mean(r)
        out[f"i2t_recall@{k}_held_out"] = _mean(r[held_i])

    # attribute precision@10 for partial queries
    for name, queries in partial_queries().items():
        e = embed_text([t for t, _ in queries])
        top = np.argsort(-(e @ image_emb.T), axis=1)[:, :10]
        prec = np.array([np.mean([data.satisfies(attrs[j], m) for j in top[i]]) for i, (_, m) in enumerate(queries)])
        hq = np.array([_held(m) for _, m in queries])
        out[f"precision@10_{name}"] = _mean(prec)
        out[f"precision@10_{name}_seen"] = _mean(prec[~hq])
        out[f"precision@10_{name}_held_out"] = _mean(prec[hq])

    # zero-shot classification with the prompt template
    colour_prompts = [prompt.format(f"{c[2][0]} 도형") for c in data.COLOURS]
    shape_prompts = [prompt.format(s[1][0]) for s in data.SHAPES]
    for name, prompts, labels in (
        ("colour", colour_prompts, data.COLOUR_NAMES),
        ("shape", shape_prompts, data.SHAPE_NAMES),
    ):
        pred = np.argmax(image_emb @ embed_text(prompts).T, axis=1)
        truth = np.array([labels.index(a[name]) for a in attrs])
        out[f"zero_shot_{name}_accuracy"] = _mean(pred == truth)
    return out


def targets(ev: Json) -> dict[str, bool]:
    """The embedded default's quality targets, checked against one evaluation (`export
    --require-targets` fails when one is missed)."""
    return {
        "precision@10_colour_shape>=0.90": ev["precision@10_colour_shape"] >= 0.90,
        "precision@10_count_or_size>=0.80": min(
            ev["precision@10_colour_shape_count"], ev["precision@10_colour_shape_size"]
        )
        >= 0.80,
        "t2i_recall@5>=0.80": ev["t2i_recall@5"] >= 0.80,
        "t2i_recall@5_held_out>=0.80": ev["t2i_recall@5_held_out"] >= 0.80,
    }
