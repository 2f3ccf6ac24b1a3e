"""Writes a model package (docs/model-package.md): ONNX towers, tokenizer, golden vectors, demo
set, evaluation numbers and a manifest with every file's sha256. Everything is written into a
temporary folder beside the target and moved into place only when every check passed, the
isolate fit of its `edge` text tower included (koclip_kit.fit)."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import data
from .common import F32, Json, cosines, file_sha256
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE, PROMPT_TEMPLATE
from .errors import KitError
from .evaluate import EmbedText, evaluate, gallery, targets
from .fit import check_staged
from .model import KoCLIP
from .onnx_export import export_image, export_text, quantize_text
from .preprocess import MEAN, STD, pixels
from .repo import onnx_run
from .tokenizer import CLS_ID, PAD_ID, SEP_ID, UNK_ID, WordPiece

GOLDEN_STRINGS = [
    "빨간 원",
    "파란 별 두 개",
    "흰 배경에 큰 빨간 원이 두 개 있다.",
    "이것은 노란 삼각형 이다.",
    "  작은   초록색   네모  ",
    "붉은 동그라미, 세모!",
    "별 3개?",
    "red circle",
    "Two BLUE stars",
    "보라색 마름모 😀",
    "🙂",
    "",
    "ABC-123 테스트",
    "가운데에 큰 갈색 별이 하나 있다.",
    "고양이가 소파 위에서 잔다",
    "\t탭과\n줄바꿈\u00a0공백",
    " ".join(["큰 빨간 원 두 개"] * 20),
]
GOLDEN_CAPTIONS = [
    "빨간 원",
    "파란 별 두 개",
    "큰 초록색 사각형 세 개",
    "흰 배경에 작은 노란 삼각형이 한 개 있다.",
    "이것은 분홍색 마름모 이다.",
    "two purple circles",
]


class Towers:
    """PyTorch reference and the exported ONNX files, embedding the same inputs."""

    def __init__(self, model: KoCLIP, tok: WordPiece, max_length: int, tmp: str) -> None:
        self.model, self.tok, self.max_length, self.tmp = model, tok, max_length, tmp

    def ids(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        return self.tok.batch(texts, self.max_length)

    def torch_text(self, texts: list[str]) -> F32:
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 256):
                ids, mask = self.ids(texts[i : i + 256])
                e = self.model.text_features(torch.tensor(ids), torch.tensor(mask))
                out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
        return np.concatenate(out)

    def onnx_text(self, onnx_path: str, texts: list[str]) -> F32:
        ids, mask = self.ids(texts)
        src, dst = os.path.join(self.tmp, "batch.json"), os.path.join(self.tmp, "emb.f32")
        with open(src, "w") as f:
            json.dump({"input_ids": ids, "attention_mask": mask}, f)
        onnx_run("text", "--model", onnx_path, "--in", src, "--out", dst)
        return np.fromfile(dst, dtype=np.float32).reshape(len(texts), -1)

    def torch_image(self, px: F32) -> F32:
        out = []
        with torch.no_grad():
            for i in range(0, len(px), 64):
                e = self.model.image_features(torch.from_numpy(px[i : i + 64]))
                out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
        return np.concatenate(out)

    def onnx_image(self, onnx_path: str, px: F32) -> F32:
        src, dst = os.path.join(self.tmp, "px.f32"), os.path.join(self.tmp, "img.f32")
        np.ascontiguousarray(px, dtype=np.float32).tofile(src)
        onnx_run("image", "--model", onnx_path, "--in", src, "--size", str(px.shape[-1]), "--out", dst)
        return np.fromfile(dst, dtype=np.float32).reshape(len(px), -1)


def _golden_images(out: str, size: int, towers: Towers) -> Json:
    """A few images in different sizes and formats, their reference pixels and embeddings."""
    os.makedirs(os.path.join(out, "golden", "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "golden", "pixels"), exist_ok=True)
    rng = random.Random(7)
    specs = [
        ("square-224", "png", (224, 224)),
        ("wide-320x240", "png", (320, 240)),
        ("tall-300x400", "jpg", (300, 400)),
        ("alpha-256x200", "png", (256, 200)),
    ]
    cases, pix = [], []
    for name, ext, (w, h) in specs:
        scene = data.sample_scene(rng, "test")
        img = data.render(scene).resize((w, h), Image.BICUBIC)
        if name.startswith("alpha"):
            a = Image.new("L", (w, h), 255)
            a.paste(96, (0, 0, w // 3, h))  # left third semi-transparent
            img = img.convert("RGBA")
            img.putalpha(a)
        rel = f"golden/images/{name}.{ext}"
        if ext == "jpg":
            img.save(os.path.join(out, rel), quality=92)
        else:
            img.save(os.path.join(out, rel))
        p = pixels(Image.open(os.path.join(out, rel)), size)
        prel = f"golden/pixels/{name}.f32"
        p.astype("<f4").tofile(os.path.join(out, prel))
        pix.append(p)
        cases.append({"file": rel, "width": w, "height": h, "pixels": prel, "attributes": scene.attrs()})
    emb = towers.torch_image(np.stack(pix))
    for c, e in zip(cases, emb, strict=True):
        c["embedding"] = [round(float(x), 7) for x in e]
    return {
        "cases": cases,
        "pixels_shape": [3, size, size],
        "pixels_dtype": "float32-le",
        "provenance": "PIL 9 decode + koclip_kit.preprocess (bicubic short side, centre crop, CLIP mean/std); "
        "embedding = PyTorch image tower on those pixels",
    }


def write_demo(out: str, n: int, model_id: str, version: str, towers: Towers, image_onnx: str) -> dict[str, str]:
    """Step 5: `n` demo images with captions, their ONNX image embeddings and demo/index.json."""
    os.makedirs(os.path.join(out, "demo", "images"), exist_ok=True)
    rng = random.Random(11)
    items, pix = [], []
    for i in range(n):
        scene = data.sample_scene(rng, "test")
        rel = f"demo/images/demo-{i:04d}.png"
        data.render(scene, noise=False).save(os.path.join(out, rel), optimize=True)
        pix.append(pixels(Image.open(os.path.join(out, rel)), 224))
        items.append(
            {"id": f"demo-{i:04d}", "file": rel, "caption": data.full_caption(scene, rng)[0], "metadata": scene.attrs()}
        )
    emb = towers.onnx_image(image_onnx, np.stack(pix))
    emb.astype("<f4").tofile(os.path.join(out, "demo", "embeddings.f32"))
    with open(os.path.join(out, "demo", "index.json"), "w", encoding="utf-8") as f:
        json.dump(
            {"model": model_id, "version": version, "dim": int(emb.shape[1]), "items": items},
            f,
            ensure_ascii=False,
            indent=1,
        )
    return {"index": "demo/index.json", "embeddings": "demo/embeddings.f32"}


def _check_tokenizer(tok: WordPiece, tokenizer_path: str, texts: list[str], max_length: int, tmp: str) -> None:
    """The kit's encoder must agree with the maintained JS tokenizer on every string."""
    src, dst = os.path.join(tmp, "texts.json"), os.path.join(tmp, "ids.json")
    with open(src, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    onnx_run("tokenize", "--tokenizer", tokenizer_path, "--max-length", str(max_length), "--in", src, "--out", dst)
    with open(dst) as f:
        js = json.load(f)
    if len(js) != len(texts):
        raise KitError(f"onnx-run tokenize returned {len(js)} results for {len(texts)} texts")
    for t, ids in zip(texts, js, strict=True):
        if tok.encode(t, max_length) != ids:
            raise KitError(
                f"tokenizer mismatch with @huggingface/tokenizers for {t!r}: "
                f"kit {tok.encode(t, max_length)} vs js {ids}"
            )


@dataclass(frozen=True)
class OnnxFiles:
    """The exported towers in the staging folder and what the int8 quantiser rewrote."""

    text_fp32: str
    text_int8: str
    image_fp32: str
    int8_stats: dict[str, int]


def staging_dir(target: str, model_id: str) -> str:
    """A fresh hidden folder beside `target` (same file system, so the final move is atomic)."""
    parent = os.path.dirname(os.path.abspath(target)) or "."
    os.makedirs(parent, exist_ok=True)
    out = tempfile.mkdtemp(prefix=f".{model_id}.tmp-", dir=parent)
    os.chmod(out, 0o755)
    return out


def export_onnx(model: KoCLIP, tokenizer_dir: str, out: str) -> OnnxFiles:
    """Step 1: tokenizer files, both towers in fp32 and the int8 text tower."""
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out, name))
    text32, text8, image32 = (os.path.join(out, f) for f in ("text-fp32.onnx", "text-int8.onnx", "image-fp32.onnx"))
    export_text(model, text32)
    export_image(model, image32)
    stats = quantize_text(text32, text8)
    return OnnxFiles(text32, text8, image32, stats)


def evaluation_texts(scenes: list[data.Scene], eval_seed: int) -> list[str]:
    """Full captions of the first 300 gallery scenes (tokenizer cross-check and parity inputs)."""
    rng = random.Random(eval_seed)
    return [data.full_caption(s, rng)[0] for s in scenes[:300]]


def write_text_goldens(
    out: str,
    encode: Callable[[str], list[int]],
    max_length: int,
    caption_embeddings: F32,
    *,
    tokens_from: str,
    text_from: str,
) -> None:
    """The text goldens every package carries: golden/tokens.json (GOLDEN_STRINGS through `encode`)
    and golden/text.json (GOLDEN_CAPTIONS with their reference fp32 embeddings, in that order, and
    the parity tolerances). `tokens_from` and `text_from` say where the ids and embeddings came from."""
    os.makedirs(os.path.join(out, "golden"), exist_ok=True)
    tokens = {
        "max_length": max_length,
        "cases": [{"text": t, "input_ids": encode(t)} for t in GOLDEN_STRINGS],
        "provenance": tokens_from,
    }
    text = {
        "cases": [
            {"text": t, "input_ids": encode(t), "embedding": [round(float(x), 7) for x in e]}
            for t, e in zip(GOLDEN_CAPTIONS, caption_embeddings, strict=True)
        ],
        "tolerance": {"fp32_min_cosine": FP32_MIN_COSINE, "int8_min_cosine": INT8_MIN_COSINE},
        "provenance": text_from,
    }
    for name, value in (("tokens.json", tokens), ("text.json", text)):
        with open(os.path.join(out, "golden", name), "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False, indent=1)


def write_goldens(out: str, towers: Towers, eval_texts: list[str], image_size: int) -> Json:
    """Step 2: golden/tokens.json (after the cross-check with the JS tokenizer), golden/text.json
    and golden/image.json with its images and pixels. Returns the image goldens."""
    tok, max_length = towers.tok, towers.max_length
    os.makedirs(os.path.join(out, "golden"), exist_ok=True)
    _check_tokenizer(tok, os.path.join(out, "tokenizer.json"), GOLDEN_STRINGS + eval_texts, max_length, towers.tmp)
    write_text_goldens(
        out,
        lambda t: tok.encode(t, max_length),
        max_length,
        towers.torch_text(GOLDEN_CAPTIONS),
        tokens_from="koclip_kit.tokenizer, cross-checked against @huggingface/tokenizers at export",
        text_from="PyTorch text tower (fp32) at export",
    )
    golden_image = _golden_images(out, image_size, towers)
    with open(os.path.join(out, "golden", "image.json"), "w", encoding="utf-8") as f:
        json.dump(golden_image, f, indent=1)
    return golden_image


def check_parity(
    out: str,
    towers: Towers,
    onnx: OnnxFiles,
    eval_texts: list[str],
    golden_image: Json,
    gallery_px: F32,
) -> dict[str, float]:
    """Step 3: minimum cosine of each ONNX tower against PyTorch on golden and evaluation inputs;
    raises KitError below the contract's tolerances."""
    ptexts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + eval_texts
    t_ref = towers.torch_text(ptexts)
    parity = {
        "text_fp32_min_cosine": float(cosines(t_ref, towers.onnx_text(onnx.text_fp32, ptexts)).min()),
        "text_int8_min_cosine": float(cosines(t_ref, towers.onnx_text(onnx.text_int8, ptexts)).min()),
    }
    golden_px = [
        np.fromfile(os.path.join(out, c["pixels"]), dtype="<f4").reshape(1, *golden_image["pixels_shape"])
        for c in golden_image["cases"]
    ]
    px = np.concatenate([gallery_px[:64], *golden_px])
    parity["image_fp32_min_cosine"] = float(
        cosines(towers.torch_image(px), towers.onnx_image(onnx.image_fp32, px)).min()
    )
    parity = {k: round(v, 6) for k, v in parity.items()}
    if (
        parity["text_fp32_min_cosine"] < FP32_MIN_COSINE
        or parity["image_fp32_min_cosine"] < FP32_MIN_COSINE
        or parity["text_int8_min_cosine"] < INT8_MIN_COSINE
    ):
        raise KitError(f"ONNX parity below tolerance: {parity}")
    return parity


def evaluate_towers(
    towers: Towers,
    onnx: OnnxFiles,
    scenes: list[data.Scene],
    gallery_px: F32,
    parity: dict[str, float],
    eval_seed: int,
    require_targets: bool,
) -> Json:
    """Step 4: one image gallery (PyTorch image tower), three text towers side by side; raises
    KitError when `require_targets` and the int8 tower misses one."""
    img = towers.torch_image(gallery_px)
    evaluation: Json = {
        "split": f"test (balanced synthetic, seed {eval_seed})",
        "parity": parity,
        "prompt_template": PROMPT_TEMPLATE,
        "image_tower": "PyTorch fp32 (ONNX parity above)",
    }
    text_towers: tuple[tuple[str, EmbedText], ...] = (
        ("pytorch_fp32", towers.torch_text),
        ("onnx_fp32", lambda t: towers.onnx_text(onnx.text_fp32, t)),
        ("onnx_int8", lambda t: towers.onnx_text(onnx.text_int8, t)),
    )
    for name, fn in text_towers:
        evaluation[name] = evaluate(fn, img, scenes, eval_seed)
    evaluation["targets_int8"] = targets(evaluation["onnx_int8"])
    evaluation["int8_minus_fp32_max_abs"] = round(
        max(
            abs(evaluation["onnx_int8"][k] - evaluation["onnx_fp32"][k])
            for k in evaluation["onnx_fp32"]
            if isinstance(evaluation["onnx_fp32"][k], float)
        ),
        4,
    )
    if require_targets and not all(evaluation["targets_int8"].values()):
        raise KitError(f"targets not met: {evaluation['targets_int8']}")
    return evaluation


def write_manifest(
    out: str,
    model: KoCLIP,
    onnx: OnnxFiles,
    *,
    model_id: str,
    version: str,
    max_length: int,
    demo: dict[str, str] | None,
    training: Json,
    evaluation: Json,
) -> Json:
    """Step 6: manifest.json, listing every file written so far with its sha256 and size."""
    cfg = model.config
    manifest: Json = {
        "format": "koclip-model/1",
        "id": model_id,
        "version": version,
        "description": "Embedded default: KoCLIP architecture at a small size (RoBERTa text tower, small "
        "convolutional image tower), trained by scripts/model on synthetic Korean shape captions.",
        "projection_dim": cfg.projection_dim,
        "logit_scale": round(float(model.logit_scale.item()), 6),
        "prompt_template": PROMPT_TEMPLATE,
        "tokenizer": {
            "file": "tokenizer.json",
            "pad_token_id": PAD_ID,
            "cls_token_id": CLS_ID,
            "sep_token_id": SEP_ID,
            "unk_token_id": UNK_ID,
        },
        "text": {
            "placement": "edge",
            "max_length": max_length,
            "position_id_offset": cfg.text.position_id_offset,
            "files": {"fp32": "text-fp32.onnx", "int8": "text-int8.onnx"},
            "default_variant": "int8",
            "architecture": {
                "type": "roberta",
                **{k: v for k, v in vars(cfg.text).items()},
                "pooler": "tanh(dense(h[:,0]))",
                "int8": onnx.int8_stats,
            },
        },
        "image": {
            "file": "image-fp32.onnx",
            "size": cfg.vision.image_size,
            "resize": "shortest_edge",
            "interpolation": "bicubic",
            "crop": "center",
            "mean": list(MEAN),
            "std": list(STD),
            "architecture": {"type": "conv", **{k: v for k, v in vars(cfg.vision).items()}},
        },
        "golden": {"tokens": "golden/tokens.json", "text": "golden/text.json", "image": "golden/image.json"},
        **({"demo": demo} if demo else {}),
        "training": training,
        "evaluation": evaluation,
    }
    files = {}
    for root, _, names in os.walk(out):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, out)
            files[rel] = {"sha256": file_sha256(p), "bytes": os.path.getsize(p)}
    manifest["files"] = dict(sorted(files.items()))
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return manifest


def swap_into_place(out: str, target: str) -> None:
    """Step 7: the finished staging folder becomes `target`; an existing package is moved aside
    first and removed only after the new one is in place."""
    if os.path.exists(target):
        old = target + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(out, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(out, target)


def build(
    checkpoint_model: KoCLIP,
    training: Json,
    tok: WordPiece,
    tokenizer_dir: str,
    target: str,
    *,
    model_id: str,
    version: str,
    max_length: int,
    gallery_size: int,
    demo_size: int,
    eval_seed: int = 3,
    require_targets: bool = False,
) -> Json:
    """Writes the package for `checkpoint_model` to `target` and returns its manifest. The steps
    run in a staging folder; any failure leaves `target` as it was and removes the staging folder."""
    model = checkpoint_model.eval()
    out = staging_dir(target, model_id)
    tmp = tempfile.mkdtemp(prefix="koclip-kit-")
    try:
        started = time.time()
        onnx = export_onnx(model, tokenizer_dir, out)
        towers = Towers(model, tok, max_length, tmp)
        scenes = gallery(gallery_size, eval_seed)
        eval_texts = evaluation_texts(scenes, eval_seed)
        golden_image = write_goldens(out, towers, eval_texts, model.config.vision.image_size)
        gallery_px = data.pixel_batch(scenes)
        parity = check_parity(out, towers, onnx, eval_texts, golden_image, gallery_px)
        evaluation = evaluate_towers(towers, onnx, scenes, gallery_px, parity, eval_seed, require_targets)
        demo = write_demo(out, demo_size, model_id, version, towers, onnx.image_fp32) if demo_size else None
        evaluation["seconds"] = round(time.time() - started, 1)
        manifest = write_manifest(
            out,
            model,
            onnx,
            model_id=model_id,
            version=version,
            max_length=max_length,
            demo=demo,
            training=training,
            evaluation=evaluation,
        )
        manifest = check_staged(out, manifest, target)
        swap_into_place(out, target)
        return manifest
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
