"""`eval PACKAGE_DIR --images --captions [--labels]` on a user-shaped set drawn by the kit's
synthetic generator: the figures against an independent computation (onnxruntime sessions of
the test's own, argsort ranks), the manifest written atomically and still parsed by
src/core/manifest.ts, and bad inputs refused with exit code 2 and nothing changed."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tokenizers") is None:
    pytest.skip("eval needs onnxruntime and tokenizers (requirements-convert.txt)", allow_module_level=True)

import onnxruntime as ort
from tokenizers import Tokenizer

from koclip_kit import data
from koclip_kit.cli import main
from koclip_kit.preprocess import pixels
from koclip_kit.user_data import read_captions

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "models" / "koclip-tiny"
N_IMAGES = 48
PARSE_TS = """
import { readFileSync } from 'node:fs';
import { parseManifest } from '%s/src/core/manifest';
const m = parseManifest(JSON.parse(readFileSync(process.argv[2], 'utf8')));
console.log(JSON.stringify(m.evaluation.user));
"""


def write_synthetic_set(out: Path, n: int, seed: int) -> None:
    """n rendered scenes as PNG files (some resized to non-square shapes, so the preprocessing's
    resize and crop run), captions.tsv with 2 captions each and labels.tsv (colour names)."""
    rng = random.Random(seed)
    (out / "images").mkdir(parents=True)
    caps, labels = ["file_name\tcaption"], []
    for i, scene in enumerate(data.balanced_scenes(n, seed)):
        name = f"img-{i:04d}.png"
        img = data.render(scene)
        if i % 3 == 1:
            img = img.resize((300, 224), Image.BICUBIC)
        elif i % 3 == 2:
            img = img.resize((224, 280), Image.BICUBIC)
        img.save(out / "images" / name)
        caps += [f"{name}\t{data.full_caption(scene, rng)[0]}" for _ in range(2)]
        colour = next(c for c in data.COLOURS if c[0] == scene.colour)
        labels.append(f"{name}\t{colour[3][0]} 도형")
    (out / "captions.tsv").write_text("\n".join(caps) + "\n", encoding="utf-8")
    (out / "labels.tsv").write_text("\n".join(labels) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def userset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("userset")
    write_synthetic_set(d, N_IMAGES, seed=5)
    return d


@pytest.fixture
def package(tmp_path: Path) -> Path:
    dst = tmp_path / "koclip-tiny"
    shutil.copytree(TINY, dst)
    return dst


def reference(package: Path, userset: Path, variant: str) -> dict[str, float]:
    """The figures computed here without koclip_kit.user_eval: own sessions, full similarity
    matrices and argsort positions."""
    m = json.loads((package / "manifest.json").read_text())
    lines = (userset / "captions.tsv").read_text(encoding="utf-8").splitlines()[1:]
    pairs = [ln.split("\t") for ln in lines]
    images = sorted({p[0] for p in pairs})
    owner = np.array([images.index(p[0]) for p in pairs])
    image_s = ort.InferenceSession(str(package / m["image"]["file"]), providers=["CPUExecutionProvider"])
    px = np.stack([pixels(Image.open(userset / "images" / im), 224) for im in images])
    img = image_s.run(None, {"pixel_values": px})[0].astype(np.float64)
    tok = Tokenizer.from_file(str(package / "tokenizer.json"))
    cls, sep, room = m["tokenizer"]["cls_token_id"], m["tokenizer"]["sep_token_id"], m["text"]["max_length"] - 2
    text_s = ort.InferenceSession(str(package / m["text"]["files"][variant]), providers=["CPUExecutionProvider"])

    def embed(texts: list[str]) -> Any:
        rows = []
        for t in texts:
            ids = [cls, *tok.encode(t, add_special_tokens=False).ids[:room], sep]
            feeds = {"input_ids": np.array([ids]), "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
            rows.append(text_s.run(None, feeds)[0][0])
        return np.array(rows, dtype=np.float64)

    txt = embed([p[1] for p in pairs])
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    sims = txt @ img.T
    t2i = np.array([list(np.argsort(-sims[i])).index(owner[i]) for i in range(len(pairs))])
    i2t = np.array(
        [min(list(np.argsort(-sims[:, j])).index(c) for c in np.flatnonzero(owner == j)) for j in range(len(images))]
    )
    out = {f"t2i_recall@{k}": float(np.mean(t2i < k)) for k in (1, 5, 10)}
    out |= {f"i2t_recall@{k}": float(np.mean(i2t < k)) for k in (1, 5, 10)}
    labels = dict(ln.split("\t") for ln in (userset / "labels.tsv").read_text(encoding="utf-8").splitlines())
    classes = sorted(set(labels.values()))
    ce = embed([m["prompt_template"].replace("{}", c) for c in classes])
    ce /= np.linalg.norm(ce, axis=1, keepdims=True)
    zs = img @ ce.T
    truth = np.array([classes.index(labels[im]) for im in images])
    pos = np.array([list(np.argsort(-zs[j])).index(truth[j]) for j in range(len(images))])
    out |= {"zero_shot_top1": float(np.mean(pos < 1)), "zero_shot_top5": float(np.mean(pos < 5))}
    return out


def run_eval(package: Path, userset: Path, *extra: str) -> int:
    argv = ["eval", str(package), "--images", str(userset / "images"), "--captions", str(userset / "captions.tsv")]
    return main([*argv, *extra])


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_figures_match_an_independent_computation(package: Path, userset: Path, variant: str) -> None:
    before = {p.name: p.read_bytes() for p in package.iterdir() if p.is_file() and p.name != "manifest.json"}
    assert run_eval(package, userset, "--labels", str(userset / "labels.tsv"), "--variant", variant) == 0
    m = json.loads((package / "manifest.json").read_text())
    rec = m["evaluation"]["user"]["captions"]
    got = rec["results"][variant]
    want = reference(package, userset, variant)
    for k, v in want.items():
        assert got[k] == pytest.approx(round(v, 4), abs=1e-9), k
    assert rec["images"] == N_IMAGES and rec["captions"] == 2 * N_IMAGES
    assert got["zero_shot_classes"] == 8 and got["zero_shot_images"] == N_IMAGES
    assert got["text_tower"] == m["text"]["files"][variant]
    # the model's figures are far above chance (1/48), so a broken pipeline cannot pass
    assert got["t2i_recall@10"] > 0.5 and got["zero_shot_top1"] > 0.5
    # everything but the manifest untouched; the rest of the manifest unchanged; no temp files
    after = {p.name: p.read_bytes() for p in package.iterdir() if p.is_file() and p.name != "manifest.json"}
    assert after == before
    tiny = json.loads((TINY / "manifest.json").read_text())
    tiny["evaluation"]["user"] = m["evaluation"]["user"]
    assert m == tiny


def test_results_of_both_variants_kept_and_dataset_change_replaces_them(package: Path, userset: Path) -> None:
    assert run_eval(package, userset, "--dry-run") == 0
    assert "user" not in json.loads((package / "manifest.json").read_text())["evaluation"]
    assert run_eval(package, userset) == 0
    assert run_eval(package, userset, "--variant", "fp32") == 0
    user = json.loads((package / "manifest.json").read_text())["evaluation"]["user"]
    assert sorted(user["captions"]["results"]) == ["fp32", "int8"]
    assert run_eval(package, userset, "--labels", str(userset / "labels.tsv")) == 0
    user = json.loads((package / "manifest.json").read_text())["evaluation"]["user"]
    assert sorted(user["captions"]["results"]) == ["int8"] and "labels_sha256" in user["captions"]


def test_written_manifest_parses_in_core(package: Path, userset: Path, tmp_path: Path) -> None:
    esbuild, node = REPO / "node_modules" / ".bin" / "esbuild", REPO / "node_modules" / ".bin" / "node"
    if not esbuild.exists() or not node.exists():
        pytest.skip("node_modules missing (npm ci): cannot run src/core/manifest.ts")
    assert run_eval(package, userset, "--labels", str(userset / "labels.tsv"), "--name", "coco-ko") == 0
    (tmp_path / "parse.ts").write_text(PARSE_TS % REPO)
    bundle = [str(esbuild), str(tmp_path / "parse.ts"), "--bundle", "--platform=node", "--format=esm"]
    subprocess.run([*bundle, f"--outfile={tmp_path / 'parse.mjs'}"], check=True, capture_output=True)
    res = subprocess.run(
        [str(node), str(tmp_path / "parse.mjs"), str(package / "manifest.json")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["coco-ko"]["results"]["int8"]["zero_shot_classes"] == 8


def _bad(tmp: Path, userset: Path, case: str) -> tuple[list[str], str]:
    """argv tail and the expected message of one bad input."""
    imgs = str(userset / "images")
    caps = userset / "captions.tsv"
    f = tmp / "bad.tsv"
    if case == "malformed line":
        f.write_text("file_name\tcaption\nimg-0000.png\t빨간 원\nimg-0001.png 파란 별\n", encoding="utf-8")
        return ["--images", imgs, "--captions", str(f)], "bad.tsv:3: expected `file_name<TAB>text` (2 columns)"
    if case == "missing image":
        f.write_text("img-0000.png\t빨간 원\nnope.png\t파란 별\n", encoding="utf-8")
        return ["--images", imgs, "--captions", str(f)], "1 of 2 images are not in"
    if case == "empty":
        f.write_text("file_name\tcaption\n\n", encoding="utf-8")
        return ["--images", imgs, "--captions", str(f)], "has no captions"
    if case == "one image":
        f.write_text("img-0000.png\t빨간 원\n", encoding="utf-8")
        return ["--images", imgs, "--captions", str(f)], "retrieval needs at least 2"
    if case == "undecodable":
        (tmp / "images").mkdir()
        for n in ("img-0000.png", "img-0001.png"):
            shutil.copy(userset / "images" / n, tmp / "images" / n)
        (tmp / "images" / "img-0001.png").write_bytes(b"\x89PNG not really")
        f.write_text("img-0000.png\t빨간 원\nimg-0001.png\t파란 별\n", encoding="utf-8")
        return ["--images", str(tmp / "images"), "--captions", str(f)], "img-0001.png (named at bad.tsv:2) cannot be"
    if case == "bad json line":
        j = tmp / "bad.jsonl"
        j.write_text('{"image": "img-0000.png", "caption": "빨간 원"}\n{"image": "img-0001.png"}\n', encoding="utf-8")
        return ["--images", imgs, "--captions", str(j)], "bad.jsonl:2: needs an image key"
    if case == "label of unknown image":
        f.write_text("img-0000.png\t빨강\nother.png\t파랑\n", encoding="utf-8")
        return ["--images", imgs, "--captions", str(caps), "--labels", str(f)], "bad.tsv:2: other.png is not in"
    if case == "template without {}":
        labels = str(userset / "labels.tsv")
        return ["--images", imgs, "--captions", str(caps), "--labels", labels, "--template", "없음"], "has no {}"
    raise AssertionError(case)


BAD = [
    "malformed line",
    "missing image",
    "empty",
    "one image",
    "undecodable",
    "bad json line",
    "label of unknown image",
    "template without {}",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_and_changes_nothing(
    case: str, package: Path, userset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tail, message = _bad(tmp_path, userset, case)
    before = {p.name: p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert main(["eval", str(package), *tail]) == 2
    assert message in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in package.rglob("*") if p.is_file()} == before


def test_argument_modes_exit_2(package: Path, userset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["eval", str(package), "--images", str(userset)], "needs --images DIR and --captions FILE"),
        (["eval", "--images", str(userset), "--captions", "c.tsv"], "need PACKAGE_DIR"),
        (["eval"], "give PACKAGE_DIR"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_caption_formats_read_alike(tmp_path: Path) -> None:
    """TSV, JSON lines, COCO captions and an AI Hub-style record array give the same set."""
    pairs = [("a.jpg", "빨간 원"), ("b.jpg", "파란 별"), ("a.jpg", "붉은 동그라미")]
    (tmp_path / "c.tsv").write_text("".join(f"{i}\t{c}\n" for i, c in pairs), encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        "".join(json.dumps({"image": i, "caption": c}, ensure_ascii=False) + "\n" for i, c in pairs), encoding="utf-8"
    )
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 9, "file_name": "b.jpg"}],
        "annotations": [
            {"image_id": 7 if i == "a.jpg" else 9, "caption": c, "id": k} for k, (i, c) in enumerate(pairs)
        ],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco, ensure_ascii=False), encoding="utf-8")
    aihub = [
        {"file_path": "a.jpg", "caption_ko": ["빨간 원", "붉은 동그라미"]},
        {"file_path": "b.jpg", "caption_ko": ["파란 별"]},
    ]
    (tmp_path / "aihub.json").write_text(json.dumps(aihub, ensure_ascii=False), encoding="utf-8")
    for name in ("c.tsv", "c.jsonl", "coco.json", "aihub.json"):
        ds = read_captions(os.fspath(tmp_path / name))
        assert ds.images == ["a.jpg", "b.jpg"], name
        got = sorted(zip([ds.images[i] for i in ds.caption_image], ds.captions, strict=True))
        assert got == sorted(pairs), name


def test_image_side_matches_the_packages_golden_vectors_and_follows_exif(tmp_path: Path) -> None:
    """Towers.pixels_of + the image tower reproduce golden/image.json (the export's reference,
    which the encoder's golden tests hold the encoder to), and an EXIF-rotated JPEG embeds as
    the upright image does."""
    from koclip_kit.user_eval import Towers

    m = json.loads((TINY / "manifest.json").read_text())
    towers = Towers(str(TINY), m, "int8")
    golden = json.loads((TINY / "golden" / "image.json").read_text())
    px = np.stack([towers.pixels_of(str(TINY / c["file"]), c["file"]) for c in golden["cases"]])
    got = towers.image.run(["image_embeds"], {"pixel_values": px})[0]
    ref = np.array([c["embedding"] for c in golden["cases"]])
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9999
    upright = data.render(data.balanced_scenes(1, 9)[0]).resize((200, 260))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise
    upright.rotate(90, expand=True).save(tmp_path / "r.jpg", quality=95, exif=exif)
    upright.save(tmp_path / "u.jpg", quality=95)
    a, b = (towers.pixels_of(str(tmp_path / n), n) for n in ("r.jpg", "u.jpg"))
    assert a.shape == b.shape and float(np.abs(a - b).mean()) < 0.05
