"""The package's image preprocessing and the alternatives it turned down, as pixel tensors, for
koclip_kit.preprocess_effects (docs/model-package.md "Preprocessing").

Ours is the encoder's own code: `encoder_pixels` runs scripts/model/encoder-pixels.mjs
(src/encoder/images: sharp decode, EXIF orientation, transparency onto white, Pillow-exact bicubic
resize, centre crop with the offset rounded half to even, the package's mean and std);
`mirror_pixels` is koclip_kit.preprocess, the Python reference the encoder's golden tests hold it
to, used where Node is not there. The alternatives change one rule each:
- `floor_crop`: the centre-crop offset floored, as transformers' CLIPImageProcessor computes it
  (`clip_processor` is that class itself, with openai/clip-vit-base-patch32's settings);
- `vit_processor`: transformers' ViTImageProcessor with its defaults (224 x 224 bilinear squash,
  mean = std = 0.5), what the seed's `load_koclip("koclip-large")` swaps in from
  google/vit-large-patch16-224;
- EXIF ignored and alpha dropped: `open_as_quickstart` (PIL's Image.open, `convert("RGB")`);
- `tensor_resize`: the seed's training transform on uint8 tensors (torchvision's bicubic Resize,
  which before torchvision 0.17 does not antialias tensors, rounded back to uint8).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from .common import F32
from .errors import KitError
from .preprocess import MEAN, STD, normalise, pixels, to_rgb
from .repo import REPO, node_bin

ENCODER_PIXELS_SCRIPT = os.path.join(REPO, "scripts", "model", "encoder-pixels.mjs")
TS_RUNNER = os.path.join(REPO, "scripts", "ts")
VIT_MEAN = VIT_STD = (0.5, 0.5, 0.5)

Offset = Callable[[float], int]


def half_to_even(x: float) -> int:
    """Python's round(): the package's and torchvision's CenterCrop offset."""
    return round(x)


def floor(x: float) -> int:
    """CLIPImageProcessor's `(h - size) // 2`."""
    return math.floor(x)


def resized_size(w: int, h: int, size: int) -> tuple[int, int]:
    """Short side -> size, long side floor(long * size / short) (the package, torchvision, CLIPImageProcessor)."""
    return (size, int(size * h / w)) if w <= h else (int(size * w / h), size)


def crop_offsets(w: int, h: int, size: int, offset: Offset) -> tuple[int, int]:
    """(top, left) of the centre crop of a w x h image, after the resize."""
    nw, nh = resized_size(w, h, size)
    return offset((nh - size) / 2), offset((nw - size) / 2)


def resize_crop_with(img: Image.Image, size: int, offset: Offset) -> Image.Image:
    """koclip_kit.preprocess.resize_crop with the crop offset computed by `offset`."""
    w, h = img.size
    nw, nh = resized_size(w, h, size)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    top, left = crop_offsets(w, h, size, offset)
    return img.crop((left, top, left + size, top + size))


def mirror_pixels(path: str, size: int, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> F32:
    """The package's pixels by the Python reference: EXIF orientation applied, alpha onto white."""
    with Image.open(path) as img:
        return pixels(ImageOps.exif_transpose(img), size, mean, std)


def floor_crop(img: Image.Image, size: int, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> F32:
    """Ours with the crop offset floored (CLIPImageProcessor's rule), everything else the same."""
    return normalise(np.asarray(resize_crop_with(to_rgb(img), size, floor)), mean, std)


def open_as_quickstart(path: str) -> Image.Image:
    """PIL's Image.open and convert("RGB"), as the Quickstart hands an image to the processor:
    EXIF orientation not applied, alpha dropped (the colour stored under it kept)."""
    with Image.open(path) as img:
        return img.convert("RGB")


def clip_processor(img: Image.Image) -> F32:
    """transformers' CLIPImageProcessor with openai/clip-vit-base-patch32's settings (its defaults:
    shortest edge 224 bicubic, centre crop 224, CLIP's mean and std, convert_rgb)."""
    from transformers import CLIPImageProcessor

    px = CLIPImageProcessor()(images=img, return_tensors="np")["pixel_values"][0]
    return np.asarray(px, dtype=np.float32)


def vit_processor(img: Image.Image) -> F32:
    """transformers' ViTImageProcessor with its defaults (224 x 224 bilinear, mean = std = 0.5)."""
    from transformers import ViTImageProcessor

    proc = ViTImageProcessor()
    assert list(proc.image_mean) == list(VIT_MEAN) and list(proc.image_std) == list(VIT_STD)
    px = proc(images=img.convert("RGB"), return_tensors="np")["pixel_values"][0]
    return np.asarray(px, dtype=np.float32)


def tensor_resize(img: Image.Image, size: int) -> F32:
    """The seed's training transform on a uint8 tensor: torchvision's Resize([size], BICUBIC)
    without antialiasing (F.interpolate, align_corners=False; clamped and rounded back to uint8),
    CenterCrop (offset half to even), ConvertImageDtype, Normalize with CLIP's mean and std."""
    import torch
    import torch.nn.functional as F

    rgb = to_rgb(img)
    w, h = rgb.size
    nw, nh = resized_size(w, h, size)
    x = torch.from_numpy(np.asarray(rgb).transpose(2, 0, 1).astype(np.float32))[None]
    y = F.interpolate(x, size=[nh, nw], mode="bicubic", align_corners=False).clamp(0, 255).round()
    top, left = crop_offsets(w, h, size, half_to_even)
    crop = y[0, :, top : top + size, left : left + size].numpy().astype(np.uint8)
    return normalise(np.ascontiguousarray(crop.transpose(1, 2, 0)))


def node_available() -> bool:
    """Whether the repository's Node and node_modules (sharp) are there to run the encoder's code."""
    return os.path.isfile(os.path.join(REPO, "node_modules", "sharp", "package.json")) and bool(
        shutil.which(node_bin()) or os.path.exists(node_bin())
    )


def encoder_pixels(
    paths: Sequence[str], size: int, mean: Sequence[float] = MEAN, std: Sequence[float] = STD
) -> tuple[F32, list[tuple[int, int]]]:
    """[N, 3, size, size] pixel_values from the encoder's own preprocessing (encoder-pixels.mjs),
    and each image's decoded (width, height) after orientation."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "px.f32")
        triple = [",".join(repr(float(v)) for v in mean), ",".join(repr(float(v)) for v in std)]
        cmd = [TS_RUNNER, ENCODER_PIXELS_SCRIPT, "--size", str(size), "--mean", triple[0], "--std", triple[1]]
        res = subprocess.run([*cmd, "--out", out, *paths], capture_output=True, text=True)
        if res.returncode != 0:
            raise KitError(f"encoder-pixels failed: {res.stderr.strip() or res.stdout.strip()}")
        seen = json.loads(res.stdout.strip().splitlines()[-1])
        px = np.fromfile(out, dtype="<f4").reshape(len(paths), 3, size, size)
    return px, [(int(s["width"]), int(s["height"])) for s in seen]
