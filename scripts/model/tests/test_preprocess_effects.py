"""koclip_kit.preprocess_effects and preprocess_paths: each alternative differs from the package's
preprocessing in its one rule and no other, and the measurement sees the difference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from koclip_kit import cli
from koclip_kit import preprocess_cases as cases
from koclip_kit import preprocess_effects as pe
from koclip_kit import preprocess_paths as paths
from koclip_kit.preprocess import pixels

pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(
    ("w", "h", "ours", "floored"),
    [
        (401, 300, (0, 38), (0, 37)),  # resized 299 x 224: (299 - 224) / 2 = 37.5
        (300, 401, (38, 0), (37, 0)),
        (227, 224, (0, 2), (0, 1)),  # 1.5
        (640, 427, (0, 56), (0, 55)),  # 335 x 224: 55.5 (a common COCO size)
        (225, 224, (0, 0), (0, 0)),  # 0.5 rounds half to even: down, like the floor
        (400, 300, (0, 37), (0, 37)),  # 298 x 224: 37, no half
        (640, 480, (0, 37), (0, 37)),
    ],
)
def test_crop_offsets_differ_by_one_pixel_on_odd_halves_only(
    w: int, h: int, ours: tuple[int, int], floored: tuple[int, int]
) -> None:
    assert paths.crop_offsets(w, h, 224, paths.half_to_even) == ours
    assert paths.crop_offsets(w, h, 224, paths.floor) == floored


def test_floor_crop_is_clip_image_processor_and_ours_is_it_shifted_by_one_column() -> None:
    img = cases.scene_image(0, 401, 300)
    lib, floored, ours = paths.clip_processor(img), paths.floor_crop(img, 224), pixels(img, 224)
    assert np.abs(floored - lib).max() < 1e-6
    assert np.abs(ours - lib).max() > 0.1
    assert np.abs(ours[:, :, :-1] - lib[:, :, 1:]).max() < 1e-6  # left 38 vs 37
    same = cases.scene_image(0, 400, 300)
    assert np.abs(pixels(same, 224) - paths.clip_processor(same)).max() < 1e-6


def test_vit_processor_normalises_with_half_and_squashes() -> None:
    grey = Image.new("RGB", (401, 300), (128, 128, 128))
    px = paths.vit_processor(grey)
    assert px.shape == (3, 224, 224)
    assert np.allclose(px, (128 / 255 - 0.5) / 0.5, atol=1e-6)


def test_tensor_resize_is_ours_without_a_resize_and_differs_when_downscaling() -> None:
    square = cases.scene_image(1, 300, 224)  # short side already 224: no resampling on either side
    assert np.array_equal(paths.tensor_resize(square, 224), pixels(square, 224))
    big = cases.scene_image(1, 1024, 768)
    assert np.abs(paths.tensor_resize(big, 224) - pixels(big, 224)).max() > 0.1


def _rows(result: dict[str, Any], effect: str, label: str | None = None) -> list[dict[str, Any]]:
    rows = [r for r in result["images"] if r["effect"] == effect and (label is None or r["label"] == label)]
    assert rows
    return rows


@pytest.fixture(scope="module")
def tiny_result() -> dict[str, Any]:
    return pe.measure(["tiny"], encoder=False, seeds=[0, 1], crop_sizes=[(401, 300), (400, 300)], captions=50)


def test_measure_on_tiny_sees_each_effect(tiny_result: dict[str, Any]) -> None:
    r = tiny_result
    assert r["cross_check"]["floor_vs_clip_processor_max_abs"] < 1e-6
    unrelated = r["cross_check"]["unrelated_images_cosine"]["tiny"]["mean"]
    for row in _rows(r, "crop", "401x300"):
        assert row["pixels_differ"] and unrelated < row["cosine"]["tiny"] < 1.0
    for row in _rows(r, "crop", "400x300"):
        assert not row["pixels_differ"] and row["cosine"]["tiny"] == pytest.approx(1.0, abs=1e-6)
    for effect in ("vit_mean_std", "vit_processor", "exif", "alpha"):
        for row in _rows(r, effect):
            assert row["pixels_differ"] and row["cosine"]["tiny"] < 0.99, (effect, row)
    shares = {(s["effect"], s["label"]): s["tiny_share"] for s in r["summary"]}
    assert shares[("crop", "401x300")] < shares[("exif", "orientation 6")]
    assert "| crop | 400x300 | same pixels |" in pe.table(r)


def test_captions_fit_in_96_tokens(tiny_result: dict[str, Any]) -> None:
    counts = tiny_result["text"]["tokens_with_cls_sep"]
    assert tiny_result["text"]["captions"] == 50
    for c in counts.values():
        assert c["over_96"] == 0 and 3 <= c["median"] <= c["max"] <= 96
    assert "cut_at_96_vs_not_cut" not in tiny_result["text"]  # no real-size tower asked for


def test_exif_case_is_stored_sideways(tmp_path: Path) -> None:
    written = cases.image_cases(str(tmp_path), [0], [])
    exif = [c for c in written if c.effect == "exif"]
    assert {c.label for c in exif} == {"orientation 6", "orientation 8"}
    for c in exif:
        with Image.open(c.path) as img:
            assert img.size == (300, 401)
            assert ImageOps.exif_transpose(img).size == (401, 300)


@pytest.mark.skipif(not paths.node_available(), reason="needs node_modules (npm ci)")
def test_encoder_pixels_are_the_mirror_pixels(tmp_path: Path) -> None:
    written = cases.image_cases(str(tmp_path), [0], [(401, 300)])
    files = sorted({c.path for c in written if c.effect in ("crop", "exif", "alpha")})
    px, sizes = paths.encoder_pixels(files, 224)
    mirror = np.stack([paths.mirror_pixels(f, 224) for f in files])
    assert np.array_equal(px, mirror)
    for f, size in zip(files, sizes, strict=True):
        name = os.path.basename(f)
        assert size == ((401, 300) if name.startswith(("crop", "exif")) else (320, 240)), name


def test_cli_binds_and_checks_the_towers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(cli, "run_preprocess_effects", lambda *a, **k: seen.append((a, k)))
    assert cli.main(["preprocess-effects", "--out", "o.json", "--towers", "tiny,large", "--python-only"]) == 0
    assert seen == [(("o.json", ["tiny", "large"]), {"seeds": 3, "encoder": False, "threads": 2})]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["preprocess-effects", "--out", "o.json", "--towers", "tiny,huge"])
    assert exit_.value.code == 2
    assert "tiny, base, large" in capsys.readouterr().err
