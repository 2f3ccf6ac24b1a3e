"""KoCLIP's image preprocessing (the reference the TypeScript encoder must reproduce)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from .common import F32

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB; transparency flattened onto white."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def resize_crop(img: Image.Image, size: int) -> Image.Image:
    """Bicubic resize of the short side to `size` (long side floor(long*size/short)), centre crop."""
    w, h = img.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    top = round((nh - size) / 2.0)
    left = round((nw - size) / 2.0)
    return img.crop((left, top, left + size, top + size))


def normalise(arr_uint8: npt.NDArray[np.uint8], mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> F32:
    """HWC uint8 -> CHW float32 normalised with CLIP's mean and std (or a manifest's)."""
    x = arr_uint8.astype(np.float32) / 255.0
    x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def pixels(img: Image.Image, size: int, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> F32:
    """The image tower's input for one image: RGB, resized and cropped, normalised CHW."""
    return normalise(np.asarray(resize_crop(to_rgb(img), size)), mean, std)
