"""The images koclip_kit.preprocess_effects measures on, written into a folder, each with the
alternative's pixels beside it (koclip_kit.preprocess_paths): the kit's synthetic scenes
(data.render) stretched to each size, with pixel grain added after the stretch; the EXIF cases
stored sideways in a JPEG with orientation 6 or 8; the transparency cases an RGBA cut-out."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import data
from . import preprocess_paths as paths
from .common import F32, Json
from .preprocess import pixels

SIZE = 224
CROP_SIZES = ((401, 300), (300, 401), (227, 224), (640, 427), (400, 300), (225, 224), (640, 480))
NORM_SIZES = ((224, 224), (401, 300), (640, 427))
RESIZE_SIZES = ((640, 480), (640, 427), (1024, 768))
ORIENTATIONS = {6: Image.ROTATE_90, 8: Image.ROTATE_270}  # stored = upright.transpose(this)


@dataclass
class Case:
    """One image through ours (`path`, by the encoder) and through one alternative (`alt`)."""

    effect: str
    label: str
    path: str
    alt: F32
    facts: Json = field(default_factory=dict)


def scene_image(seed: int, w: int, h: int) -> Image.Image:
    """A synthetic scene stretched to w x h, with grain (+-6) added after the stretch."""
    scene = data.sample_scene(random.Random(seed), "any")
    img = data.render(scene, noise=False).resize((w, h), Image.BICUBIC)
    grain = np.random.default_rng(seed).integers(-6, 7, size=(h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.int16) + grain, 0, 255).astype(np.uint8))


def _png(tmp: str, name: str, img: Image.Image) -> str:
    path = os.path.join(tmp, name + ".png")
    img.save(path)
    return path


def image_cases(tmp: str, seeds: Sequence[int], crop_sizes: Sequence[tuple[int, int]]) -> list[Case]:
    """Every image case, written into `tmp`."""
    out: list[Case] = []
    for w, h in crop_sizes:
        ours, alt = paths.crop_offsets(w, h, SIZE, paths.half_to_even), paths.crop_offsets(w, h, SIZE, paths.floor)
        for s in seeds:
            path = _png(tmp, f"crop-{w}x{h}-{s}", scene_image(s, w, h))
            with Image.open(path) as img:
                floor_px, lib = paths.floor_crop(img, SIZE), paths.clip_processor(img)
            facts = {"offset_ours": ours, "offset_floor": alt, "floor_vs_clip_processor": max_abs(floor_px, lib)}
            out.append(Case("crop", f"{w}x{h}", path, floor_px, facts))
    for w, h in NORM_SIZES:
        for s in seeds:
            path = _png(tmp, f"norm-{w}x{h}-{s}", scene_image(s, w, h))
            out.append(
                Case("vit_mean_std", f"{w}x{h}", path, paths.mirror_pixels(path, SIZE, paths.VIT_MEAN, paths.VIT_STD))
            )
            with Image.open(path) as img:
                out.append(Case("vit_processor", f"{w}x{h}", path, paths.vit_processor(img)))
    for orientation, transpose in ORIENTATIONS.items():
        for s in seeds:
            path = os.path.join(tmp, f"exif-{orientation}-{s}.jpg")
            exif = Image.Exif()
            exif[0x0112] = orientation
            scene_image(s, 401, 300).transpose(transpose).save(path, quality=95, exif=exif)
            out.append(Case("exif", f"orientation {orientation}", path, _ours_rules(paths.open_as_quickstart(path))))
    for under in ("black", "colour"):
        for s in seeds:
            path = _png(tmp, f"alpha-{under}-{s}", _cut_out(scene_image(s, 320, 240), under))
            out.append(Case("alpha", f"{under} under transparent", path, _ours_rules(paths.open_as_quickstart(path))))
    for w, h in RESIZE_SIZES:
        for s in seeds:
            path = _png(tmp, f"resize-{w}x{h}-{s}", scene_image(s, w, h))
            with Image.open(path) as img:
                out.append(Case("tensor_resize", f"{w}x{h}", path, paths.tensor_resize(img, SIZE)))
    return out


def _ours_rules(img: Image.Image) -> F32:
    """The package's resize, crop and normalisation of an already decoded image."""
    return pixels(img, SIZE)


def _cut_out(img: Image.Image, under: str) -> Image.Image:
    """RGBA: an opaque ellipse with a 6 px soft edge in a transparent frame; under the fully
    transparent pixels black (what many editors store) or the scene's own colours."""
    w, h = img.size
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx - w / 2) / (0.35 * w), (yy - h / 2) / (0.35 * h))
    alpha = np.clip((1.0 - r) * 0.35 * min(w, h) / 6, 0, 1) * 255
    rgb = np.asarray(img).copy()
    if under == "black":
        rgb[alpha == 0] = 0
    return Image.fromarray(np.dstack([rgb, alpha.round().astype(np.uint8)]), "RGBA")


def max_abs(a: F32, b: F32) -> float:
    return float(np.abs(a - b).max())
