"""How far each tower variant of a package moves caption scores from the reference forward pass:
the numbers a user compares with the original KoCLIP's Quickstart
(`logits_per_image = exp(logit_scale) * image_embeds @ text_embeds.T`, softmax over the captions).

`convert` records them in the manifest's `evaluation.score_vs_reference` (docs/model-package.md):
for every text variant, its ONNX text embeddings against the reference images; for every image
variant, its ONNX image embeddings against the reference captions; each as the largest absolute
difference of any probability and the smallest cosine of any embedding, at the package's own
logit scale and at 100 (a trained CLIP's, where the int8 text tower's error shows).
"""

from __future__ import annotations

import math

import numpy as np

from .common import F32, Json, cosines

SCALE_100 = 100.0


def probs(image: F32, text: F32, scale: float) -> F32:
    """[images, captions]: softmax over the captions of `scale * image @ text.T` (float64)."""
    logits = scale * (np.asarray(image, np.float64) @ np.asarray(text, np.float64).T)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _difference(ref_p: F32, p: F32, ref: F32, got: F32) -> Json:
    return {
        "max_abs_prob_diff": float(f"{np.abs(p - ref_p).max():.3g}"),
        "min_cosine": round(float(cosines(ref, got).min()), 6),
    }


def score_vs_reference(
    logit_scale: float,
    image_ref: F32,
    text_ref: F32,
    images: dict[str, F32],
    texts: dict[str, F32],
) -> Json:
    """`images` / `texts`: each variant's embeddings of the same inputs as `image_ref` /
    `text_ref` (the converter's PyTorch towers, which match the library to cosine 1.0)."""
    out: Json = {
        "images": len(image_ref),
        "captions": len(text_ref),
        "logit_scale_exp": round(math.exp(logit_scale), 4),
    }
    for label, scale in (("at_package_scale", math.exp(logit_scale)), ("at_scale_100", SCALE_100)):
        ref_p = probs(image_ref, text_ref, scale)
        row: Json = {}
        for variant, t in texts.items():
            row[f"text_{variant}"] = _difference(ref_p, probs(image_ref, t, scale), text_ref, t)
        for variant, i in images.items():
            row[f"image_{variant}"] = _difference(ref_p, probs(i, text_ref, scale), image_ref, i)
        out[label] = row
    return out
