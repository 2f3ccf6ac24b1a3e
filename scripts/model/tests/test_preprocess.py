"""koclip_kit.preprocess against small hand-computed cases (the reference the TS encoder follows)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from koclip_kit.preprocess import MEAN, STD, normalise, pixels, resize_crop, to_rgb


def _columns(w: int, h: int) -> Image.Image:
    """An RGB image whose red channel is the column index (x * 10), green the row (y * 10)."""
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[:, :, 0] = np.arange(w, dtype=np.uint8)[None, :] * 10
    a[:, :, 1] = np.arange(h, dtype=np.uint8)[:, None] * 10
    return Image.fromarray(a)


def test_clip_mean_and_std() -> None:
    assert MEAN == (0.48145466, 0.4578275, 0.40821073)
    assert STD == (0.26862954, 0.26130258, 0.27577711)


def test_transparency_is_flattened_onto_white() -> None:
    rgba = Image.fromarray(np.array([[[0, 0, 0, 0], [200, 100, 0, 255], [0, 0, 0, 128]]], dtype=np.uint8), "RGBA")
    out = np.asarray(to_rgb(rgba))
    assert out[0, 0].tolist() == [255, 255, 255]  # fully transparent -> white
    assert out[0, 1].tolist() == [200, 100, 0]  # opaque -> unchanged
    assert out[0, 2].tolist() == [127, 127, 127]  # half black over white (PIL's alpha_composite rounding)
    grey = Image.new("L", (2, 1), 40)
    assert np.asarray(to_rgb(grey)).tolist() == [[[40, 40, 40], [40, 40, 40]]]


@pytest.mark.parametrize(
    ("w", "h", "size", "cols", "rows"),
    [
        (6, 4, 4, [1, 2, 3, 4], [0, 1, 2, 3]),  # short side already `size`: no resampling, crop (6-4)/2 = 1
        (4, 9, 4, [0, 1, 2, 3], [2, 3, 4, 5]),  # (9-4)/2 = 2.5 rounds half to even: 2
        (4, 7, 4, [0, 1, 2, 3], [2, 3, 4, 5]),  # (7-4)/2 = 1.5 rounds to 2, not down to 1
        (7, 4, 4, [2, 3, 4, 5], [0, 1, 2, 3]),  # (7-4)/2 = 1.5 rounds to 2
        (4, 4, 4, [0, 1, 2, 3], [0, 1, 2, 3]),
    ],
)
def test_centre_crop_without_resize(w: int, h: int, size: int, cols: list[int], rows: list[int]) -> None:
    out = np.asarray(resize_crop(_columns(w, h), size))
    assert out.shape == (size, size, 3)
    assert (out[0, :, 0] // 10).tolist() == cols
    assert (out[:, 0, 1] // 10).tolist() == rows


@pytest.mark.parametrize(
    ("w", "h", "size", "resized"),
    [
        (5, 3, 2, (3, 2)),  # 5 * 2 / 3 = 3.33 -> 3
        (7, 3, 2, (4, 2)),  # 7 * 2 / 3 = 4.67 -> 4 (floor, not round)
        (3, 7, 2, (2, 4)),  # portrait: the width is the short side
    ],
)
def test_short_side_to_size_long_side_floored(
    w: int, h: int, size: int, resized: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    img = Image.new("RGB", (w, h), (10, 20, 30))
    seen: list[tuple[int, int]] = []
    resize = Image.Image.resize

    def spy(self: Image.Image, size: tuple[int, int], *args: object, **kwargs: object) -> Image.Image:
        seen.append(size)
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    out = np.asarray(resize_crop(img, size))
    assert seen == [resized]
    assert out.shape == (size, size, 3) and (out == [10, 20, 30]).all()  # a flat colour stays exact


def test_resampling_is_bicubic() -> None:
    """2x2 [black | white] up to 4x4 with PIL's bicubic (a = -0.5). Output pixel 1's centre is
    0.25 input px from pixel 0's centre and 0.75 from pixel 1's: weights 0.8672 and 0.2266,
    normalised 0.7929 and 0.2071, so 255 * 0.2071 = 52.8 -> 53; by symmetry 202 for output pixel
    2; the outer ones overshoot and clip to 0 and 255. (Nearest gives 0 0 255 255, bilinear
    0 64 191 255.)"""
    img = Image.fromarray(np.array([[[0] * 3, [255] * 3]] * 2, dtype=np.uint8))
    out = np.asarray(resize_crop(img, 4))
    assert out[:, :, 0].tolist() == [[0, 53, 202, 255]] * 4


def test_normalise_is_chw_float32() -> None:
    hwc = np.array([[[255, 0, 128], [0, 255, 0]]], dtype=np.uint8)  # 1 x 2 pixels
    x = normalise(hwc)
    assert x.dtype == np.float32 and x.shape == (3, 1, 2) and x.flags.c_contiguous
    want_first = [(1 - 0.48145466) / 0.26862954, (0 - 0.4578275) / 0.26130258, (128 / 255 - 0.40821073) / 0.27577711]
    assert x[:, 0, 0] == pytest.approx(want_first, abs=1e-6)
    want_second = [-0.48145466 / 0.26862954, (1 - 0.4578275) / 0.26130258, -0.40821073 / 0.27577711]
    assert x[:, 0, 1] == pytest.approx(want_second, abs=1e-6)


def test_pixels_end_to_end() -> None:
    """4x2 RGBA -> size 2: no resize, crop columns 1..2, transparent pixel white, normalised."""
    a = np.zeros((2, 4, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[:, 1] = [255, 0, 0, 255]
    a[:, 2] = [0, 0, 0, 0]  # transparent
    x = pixels(Image.fromarray(a, "RGBA"), 2)
    assert x.shape == (3, 2, 2)
    red = [(1 - MEAN[0]) / STD[0], -MEAN[1] / STD[1], -MEAN[2] / STD[2]]
    white = [(1 - m) / s for m, s in zip(MEAN, STD, strict=True)]
    for row in range(2):
        assert x[:, row, 0] == pytest.approx(red, abs=1e-6)
        assert x[:, row, 1] == pytest.approx(white, abs=1e-6)
