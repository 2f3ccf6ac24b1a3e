"""`python -m koclip_kit convert CHECKPOINT_DIR --out models/ID`: a downloaded KoCLIP checkpoint
(koclip-base / koclip-large, Flax or PyTorch port; see koclip_kit.checkpoint for the formats and
parameter trees) -> a model package (docs/model-package.md) with `function` text placement, or
`edge` when asked and the text tower fits an isolate (koclip_kit.fit; klue/roberta-large does
not: distil a student instead, koclip_kit.distill).

One tower at a time: read its tensors from the checkpoint, load them into koclip_kit.towers,
export the graph without parameters and stream the weights into the ONNX files (onnx_stream),
write the golden vectors (PyTorch reference), check ONNX parity with onnxruntime-node, free the
tower. Everything is written into a staging folder beside the target and swapped into place
at the end (package.swap_into_place); any failure leaves the target as it was.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from . import data, onnx_stream
from .checkpoint import CheckpointConfig, FlaxReader, TorchReader, read_config, reader
from .common import F32, Array, Json, cosines, file_sha256
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE, PROMPT_TEMPLATE
from .errors import KitError
from .fit import check_staged
from .onnx_export import write_external_data
from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS, staging_dir, swap_into_place, write_text_goldens
from .preprocess import MEAN, STD, pixels
from .repo import onnx_run
from .score_parity import score_vs_reference
from .towers import ImageTower, TextTower, dense_weights

FP16_MIN_COSINE = 0.999  # fp16 image tower against the fp32 PyTorch reference
TEXT_FILES = {"fp32": "text-fp32.onnx", "int8": "text-int8.onnx"}
IMAGE_FILES = {"fp32": "image-fp32.onnx", "fp16": "image-fp16.onnx"}
IGNORED = ("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids")


def return_freed_memory() -> None:
    """glibc raises its mmap threshold after a large block is freed (up to 32 MB), after which
    the many tensor-sized temporaries of writing and quantising land on the heap and are not
    given back: about 0.5x a tower of extra peak memory. A fixed 1 MB threshold keeps them in
    mmap'd blocks that free() returns to the system."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 20)
        libc.mallopt(m_trim_threshold, 1 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- tokenizer


class Tok:
    """The user's tokenizer through the `tokenizers` library, with the package's encoding rule."""

    def __init__(self, folder: str):
        from tokenizers import Tokenizer
        from tokenizers.implementations import BertWordPieceTokenizer
        from tokenizers.processors import TemplateProcessing

        cfg_path = os.path.join(folder, "tokenizer_config.json")
        self.config: Json = {}
        if os.path.isfile(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                self.config = json.load(f)
        tj, vocab = os.path.join(folder, "tokenizer.json"), os.path.join(folder, "vocab.txt")
        try:
            if os.path.isfile(tj):
                tok = Tokenizer.from_file(tj)
            elif os.path.isfile(vocab):
                lower = bool(self.config.get("do_lower_case", False))
                accents = self.config.get("strip_accents")
                tok = BertWordPieceTokenizer(
                    vocab,
                    clean_text=True,
                    handle_chinese_chars=bool(self.config.get("tokenize_chinese_chars", True)),
                    strip_accents=accents if accents is not None else lower,
                    lowercase=lower,
                )._tokenizer
            else:
                raise KitError(
                    f"{folder} has no tokenizer: put the downloaded tokenizer.json or vocab.txt "
                    "(with tokenizer_config.json) beside config.json"
                )
        except KitError:
            raise
        except Exception as err:
            raise KitError(f"tokenizer files in {folder} cannot be read: {err}") from None
        ids = {}
        for name in ("[CLS]", "[PAD]", "[SEP]", "[UNK]"):
            i = tok.token_to_id(name)
            if i is None:
                raise KitError(f"tokenizer in {folder} has no {name} token (KoCLIP uses BERT-style WordPiece)")
            ids[name] = i
        self.cls, self.pad, self.sep, self.unk = ids["[CLS]"], ids["[PAD]"], ids["[SEP]"], ids["[UNK]"]
        tok.no_truncation()
        tok.no_padding()
        tok.post_processor = TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", self.cls), ("[SEP]", self.sep)]
        )
        self.tok = tok
        self.vocab_size = tok.get_vocab_size()

    def manifest_entry(self) -> Json:
        """The manifest's `tokenizer` section for this tokenizer, saved as tokenizer.json."""
        return {
            "file": "tokenizer.json",
            "pad_token_id": self.pad,
            "cls_token_id": self.cls,
            "sep_token_id": self.sep,
            "unk_token_id": self.unk,
        }

    def encode(self, text: str, max_length: int) -> list[int]:
        body = self.tok.encode(text, add_special_tokens=False).ids[: max_length - 2]
        return [self.cls, *body, self.sep]

    def batch(self, texts: list[str], max_length: int) -> tuple[list[list[int]], list[list[int]]]:
        enc = [self.encode(t, max_length) for t in texts]
        t = max(len(e) for e in enc)
        return [e + [self.pad] * (t - len(e)) for e in enc], [[1] * len(e) + [0] * (t - len(e)) for e in enc]

    def save(self, out: str, max_length: int) -> None:
        self.tok.save(os.path.join(out, "tokenizer.json"))
        cfg = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": bool(self.config.get("do_lower_case", False)),
            "model_max_length": max_length,
            "cls_token": "[CLS]",
            "pad_token": "[PAD]",
            "sep_token": "[SEP]",
            "unk_token": "[UNK]",
            "mask_token": "[MASK]",
        }
        with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({**self.config, **cfg}, f, ensure_ascii=False, indent=1)


# ---------------------------------------------------------------- weights


def load_weights(module: torch.nn.Module, tensors: dict[str, tuple[Array, str]], what: str) -> None:
    """Moves checkpoint tensors into `module` (emptying `tensors`); KitError on a missing tensor
    or a shape the config does not give."""
    dense = dense_weights(module)
    expected = dict(module.named_parameters())
    missing = sorted(set(expected) - set(tensors))
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise KitError(f"checkpoint has no {what} weight {', '.join(missing[:5])}{more}: config and weights differ")
    for name in list(tensors):
        arr, transform = tensors.pop(name)
        if name not in expected:
            continue
        if transform == "conv":
            arr = arr.transpose(3, 2, 0, 1)
        elif transform == "torch" and name in dense:
            arr = arr.T
        p = expected[name]
        if tuple(arr.shape) != tuple(p.shape):
            raise KitError(
                f"config.json does not match the weights: {name} is {list(arr.shape)} in the checkpoint, "
                f"the config gives {list(p.shape)}"
            )
        p.data = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))  # no copy when it can


def check_names(cfg: CheckpointConfig, rd: FlaxReader | TorchReader, text: TextTower, image: ImageTower) -> None:
    """Every checkpoint tensor must belong to the config's architecture (and vice versa)."""
    expected = {n for n, _ in text.named_parameters()} | {n for n, _ in image.named_parameters()} | {"logit_scale"}
    have = rd.all_names() - set(IGNORED)
    extra, missing = sorted(have - expected), sorted(expected - have)
    if extra or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} ({', '.join(missing[:4])})")
        if extra:
            parts.append(f"unexpected {len(extra)} ({', '.join(extra[:4])})")
        raise KitError(
            f"{cfg.weights} does not match its config.json ({cfg.model_type}, text {cfg.text.num_hidden_layers} "
            f"layers, vision {cfg.vision.kind} {cfg.vision.num_hidden_layers} layers): " + "; ".join(parts)
        )


# ---------------------------------------------------------------- onnx runs (onnxruntime-node)


def onnx_text(path: str, tok: Tok, texts: list[str], max_length: int, tmp: str) -> F32:
    ids, mask = tok.batch(texts, max_length)
    src, dst = os.path.join(tmp, "batch.json"), os.path.join(tmp, "emb.f32")
    with open(src, "w") as f:
        json.dump({"input_ids": ids, "attention_mask": mask}, f)
    onnx_run("text", "--model", path, "--in", src, "--out", dst)
    return np.fromfile(dst, dtype=np.float32).reshape(len(texts), -1)


def onnx_image(path: str, px: F32, tmp: str) -> F32:
    src, dst = os.path.join(tmp, "px.f32"), os.path.join(tmp, "img.f32")
    np.ascontiguousarray(px, dtype=np.float32).tofile(src)
    onnx_run("image", "--model", path, "--in", src, "--size", str(px.shape[-1]), "--out", dst)
    return np.fromfile(dst, dtype=np.float32).reshape(len(px), -1)


def torch_text(tower: TextTower, tok: Tok, texts: list[str], max_length: int) -> F32:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 32):
            ids, mask = tok.batch(texts[i : i + 32], max_length)
            out.append(tower(torch.tensor(ids), torch.tensor(mask)).numpy())
    return np.concatenate(out)


def torch_image(tower: ImageTower, px: F32) -> F32:
    with torch.no_grad():
        return np.concatenate([tower(torch.from_numpy(px[i : i + 8])).numpy() for i in range(0, len(px), 8)])


def _round(e: F32) -> list[float]:
    return [round(float(x), 7) for x in e]


# ---------------------------------------------------------------- towers


def golden_pixels(out: str, size: int) -> tuple[list[Json], F32]:
    """A few synthetic images of different sizes and formats and their preprocessed pixels."""
    from PIL import Image

    os.makedirs(os.path.join(out, "golden", "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "golden", "pixels"), exist_ok=True)
    rng = random.Random(7)
    cases, pix = [], []
    for name, ext, (w, h) in (
        ("square-256", "png", (256, 256)),
        ("wide-320x240", "png", (320, 240)),
        ("tall-300x400", "jpg", (300, 400)),
    ):
        img = data.render(data.sample_scene(rng, "test")).resize((w, h), Image.BICUBIC)
        rel = f"golden/images/{name}.{ext}"
        img.save(os.path.join(out, rel), **({"quality": 92} if ext == "jpg" else {}))
        p = pixels(Image.open(os.path.join(out, rel)), size)
        prel = f"golden/pixels/{name}.f32"
        p.astype("<f4").tofile(os.path.join(out, prel))
        pix.append(p)
        cases.append({"file": rel, "width": w, "height": h, "pixels": prel})
    return cases, np.stack(pix).astype(np.float32)


def convert_image(
    cfg: CheckpointConfig, rd: FlaxReader | TorchReader, out: str, tmp: str, log: Any
) -> tuple[Json, F32, dict[str, F32]]:
    """The image towers, their goldens and parity; returns (parity, the PyTorch reference embeddings
    of the parity pixels, each ONNX variant's embeddings of them)."""
    a = cfg.vision
    tower = ImageTower(a, cfg.projection_dim)
    load_weights(tower, rd.tensors(("vision_model", "visual_projection")), "image")
    log(f"image weights loaded ({a.kind}, {a.num_hidden_layers} layers x {a.hidden_size})")
    graph = onnx_stream.export_graph(
        tower,
        (torch.zeros(2, a.num_channels, a.image_size, a.image_size),),
        ["pixel_values"],
        ["image_embeds"],
        {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
    )
    ws = onnx_stream.params(tower, graph)
    p32, p16 = (os.path.join(out, f) for f in (IMAGE_FILES["fp32"], IMAGE_FILES["fp16"]))
    onnx_stream.write(p32, graph, ws.items())
    onnx_stream.write(p16, onnx_stream.fp16(graph), onnx_stream.fp16_tensors(ws))
    log("image towers written (fp32, fp16)")
    cases, gpx = golden_pixels(out, a.image_size)
    ref = torch_image(tower, gpx)
    for c, e in zip(cases, ref, strict=True):
        c["embedding"] = _round(e)
    with open(os.path.join(out, "golden", "image.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "cases": cases,
                "pixels_shape": [3, a.image_size, a.image_size],
                "pixels_dtype": "float32-le",
                "provenance": "PIL decode + koclip_kit.preprocess; embedding = converted PyTorch image tower (fp32)",
            },
            f,
            indent=1,
        )
    rng = np.random.default_rng(0)
    px = np.concatenate([gpx, rng.normal(size=(3, a.num_channels, a.image_size, a.image_size)).astype(np.float32)])
    ref = np.concatenate([ref, torch_image(tower, px[len(gpx) :])])
    onnx = {"fp32": onnx_image(p32, px, tmp), "fp16": onnx_image(p16, px, tmp)}
    parity = {f"image_{v}_min_cosine": float(cosines(ref, e).min()) for v, e in onnx.items()}
    del tower, ws
    if parity["image_fp32_min_cosine"] < FP32_MIN_COSINE or parity["image_fp16_min_cosine"] < FP16_MIN_COSINE:
        raise KitError(f"image tower ONNX parity below tolerance: {parity}")
    return parity, ref, onnx


def convert_text(
    cfg: CheckpointConfig,
    rd: FlaxReader | TorchReader,
    tok: Tok,
    out: str,
    tmp: str,
    offset: int,
    max_length: int,
    log: Any,
    *,
    external_data: bool = False,
) -> tuple[Json, dict[str, int], str | None, F32, dict[str, F32]]:
    """The text towers, their goldens and parity; with `external_data` the int8 tower's weights
    go into text-int8.onnx.data beside its graph (how edge towers are shipped, onnx_export).
    Returns (parity, int8 counts, the int8 tower's external data file or None, the PyTorch
    reference embeddings of GOLDEN_CAPTIONS, each ONNX variant's embeddings of them)."""
    a = cfg.text
    tower = TextTower(a, cfg.projection_dim, offset)
    load_weights(tower, rd.tensors(("text_model", "text_projection")), "text")
    log(f"text weights loaded ({a.num_hidden_layers} layers x {a.hidden_size}, vocab {a.vocab_size})")
    ids = torch.tensor([[tok.cls, 5, 6, tok.sep, tok.pad], [tok.cls, 7, tok.sep, tok.pad, tok.pad]], dtype=torch.int64)
    graph = onnx_stream.export_graph(
        tower,
        (ids, ids.ne(tok.pad).to(torch.int64)),
        ["input_ids", "attention_mask"],
        ["text_embeds"],
        {
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "text_embeds": {0: "batch"},
        },
    )
    ws = onnx_stream.params(tower, graph)
    p32, p8 = (os.path.join(out, f) for f in (TEXT_FILES["fp32"], TEXT_FILES["int8"]))
    onnx_stream.write(p32, graph, ws.items())
    g8, w8, stats = onnx_stream.quantized(graph, ws)
    onnx_stream.write(p8, g8, w8)
    del g8, w8
    int8_data = write_external_data(p8) if external_data else None
    log(f"text towers written (fp32, int8: {stats})")
    write_text_goldens(
        out,
        lambda t: tok.encode(t, max_length),
        max_length,
        torch_text(tower, tok, GOLDEN_CAPTIONS, max_length),
        tokens_from="tokenizers (Python) on the converted tokenizer.json",
        text_from="converted PyTorch text tower (fp32)",
    )
    texts = GOLDEN_CAPTIONS + GOLDEN_STRINGS
    ref = torch_text(tower, tok, texts, max_length)
    del tower, ws
    onnx = {v: onnx_text(p, tok, texts, max_length, tmp) for v, p in (("fp32", p32), ("int8", p8))}
    parity = {f"text_{v}_min_cosine": float(cosines(ref, e).min()) for v, e in onnx.items()}
    if parity["text_fp32_min_cosine"] < FP32_MIN_COSINE or parity["text_int8_min_cosine"] < INT8_MIN_COSINE:
        raise KitError(f"text tower ONNX parity below tolerance: {parity}")
    n = len(GOLDEN_CAPTIONS)
    return parity, stats, int8_data, ref[:n], {v: e[:n] for v, e in onnx.items()}


def convert(
    src: str,
    target: str,
    *,
    model_id: str,
    version: str,
    position_id_offset: int | None = None,
    max_length: int = 96,
    placement: str = "function",
    quiet: bool = False,
) -> Json:
    """Converts the checkpoint folder `src` into the package `target`; returns the manifest. With
    `placement="edge"` the staged package must pass the isolate fit (koclip_kit.fit.DoesNotFit)."""
    if placement not in ("function", "edge"):
        raise KitError(f"placement must be function or edge, not {placement!r}")
    started = time.time()
    return_freed_memory()

    def log(msg: str) -> None:
        if not quiet:
            print(f"[convert] {time.time() - started:6.1f}s rss {peak_rss_mb():7.0f} MB  {msg}", flush=True)

    cfg = read_config(src)
    tok = Tok(src)
    a = cfg.text
    offset = (
        position_id_offset if position_id_offset is not None else (0 if cfg.format == "flax" else a.pad_token_id + 1)
    )
    if max_length < 2 or max_length + offset > a.max_position_embeddings:
        raise KitError(
            f"--max-length {max_length} with position-id offset {offset} needs {max_length + offset} positions; "
            f"the text model has {a.max_position_embeddings}"
        )
    if tok.vocab_size > a.vocab_size:
        raise KitError(f"tokenizer has {tok.vocab_size} tokens, the text model's vocab_size is {a.vocab_size}")
    if tok.pad != a.pad_token_id:
        raise KitError(f"tokenizer's [PAD] is {tok.pad}, the text config's pad_token_id is {a.pad_token_id}")
    log(f"{cfg.model_type} ({cfg.format}) {cfg.weights}: {os.path.getsize(cfg.weights) / 1e6:.0f} MB")
    rd = reader(cfg)
    check_names(cfg, rd, TextTower(a, cfg.projection_dim, offset), ImageTower(cfg.vision, cfg.projection_dim))
    ls = rd.tensors(("logit_scale",)).get("logit_scale")
    if ls is None or ls[0].size != 1:
        raise KitError(f"{cfg.weights}: logit_scale is missing or not a scalar")
    logit_scale = float(np.asarray(ls[0]).reshape(()))
    # a kill (SIGTERM) unwinds like Ctrl-C, so the staging folder is removed
    old_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = staging_dir(target, model_id)
    tmp = tempfile.mkdtemp(prefix="koclip-convert-")
    try:
        os.makedirs(os.path.join(out, "golden"), exist_ok=True)
        tok.save(out, max_length)
        image_parity, image_ref, image_onnx = convert_image(cfg, rd, out, tmp, log)
        log(f"image parity {image_parity}")
        text_parity, stats, int8_data, text_ref, text_onnx = convert_text(
            cfg, rd, tok, out, tmp, offset, max_length, log, external_data=placement == "edge"
        )
        log(f"text parity {text_parity}")
        parity = {k: round(v, 6) for k, v in {**image_parity, **text_parity}.items()}
        scores = score_vs_reference(logit_scale, image_ref, text_ref, image_onnx, text_onnx)
        log(f"scores against the reference {json.dumps(scores)}")
        manifest = write_manifest(
            out,
            cfg,
            model_id=model_id,
            version=version,
            offset=offset,
            max_length=max_length,
            tok=tok,
            logit_scale=logit_scale,
            stats=stats,
            int8_data=int8_data,
            placement=placement,
            evaluation={
                "parity": parity,
                "score_vs_reference": scores,
                "seconds": round(time.time() - started, 1),
                "peak_rss_mb": round(peak_rss_mb()),
            },
        )
        if placement == "edge":
            log("edge placement: measuring the text tower in onnxruntime-web (scripts/model/fit.mjs)")
            manifest = check_staged(out, manifest, "PACKAGE_DIR")  # the function-placed conversion
            log(f"fit {manifest['evaluation']['fit']}")
        swap_into_place(out, target)
        log(f"{target}: {sum(f['bytes'] for f in manifest['files'].values()) / 1e6:.1f} MB")
        return manifest
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, old_handler)


def write_manifest(
    out: str,
    cfg: CheckpointConfig,
    *,
    model_id: str,
    version: str,
    offset: int,
    max_length: int,
    tok: Tok,
    logit_scale: float,
    stats: dict[str, int],
    evaluation: Json,
    placement: str = "function",
    int8_data: str | None = None,
) -> Json:
    v = cfg.vision
    vision_name = "CLIP ViT" if v.kind == "clip" else "ViT (pooler tanh(dense(cls)))"
    manifest: Json = {
        "format": "koclip-model/1",
        "id": model_id,
        "version": version,
        "description": f"KoCLIP converted from {os.path.basename(cfg.weights)} ({cfg.model_type}): RoBERTa "
        f"{cfg.text.num_hidden_layers}x{cfg.text.hidden_size} text tower, {vision_name}-{v.patch_size} "
        f"{v.num_hidden_layers}x{v.hidden_size} image tower.",
        "projection_dim": cfg.projection_dim,
        "logit_scale": round(logit_scale, 6),
        "prompt_template": PROMPT_TEMPLATE,
        "tokenizer": tok.manifest_entry(),
        "text": {
            "placement": placement,
            "max_length": max_length,
            "position_id_offset": offset,
            "files": dict(TEXT_FILES),
            **({"external_data": {"int8": int8_data}} if int8_data else {}),
            "default_variant": "int8",
            "architecture": {"type": "roberta", **asdict(cfg.text), "pooler": "tanh(dense(h[:,0]))", "int8": stats},
        },
        "image": {
            "file": IMAGE_FILES["fp32"],
            "files": dict(IMAGE_FILES),
            "size": v.image_size,
            "resize": "shortest_edge",
            "interpolation": "bicubic",
            "crop": "center",
            "mean": list(MEAN),
            "std": list(STD),
            "architecture": {"type": "clip_vision" if v.kind == "clip" else "vit", **asdict(v)},
        },
        "golden": {"tokens": "golden/tokens.json", "text": "golden/text.json", "image": "golden/image.json"},
        "training": {"source": os.path.abspath(cfg.weights), "source_format": cfg.format, "model_type": cfg.model_type},
        "evaluation": evaluation,
    }
    files = {}
    for root, _, names in os.walk(out):
        for n in sorted(names):
            p = os.path.join(root, n)
            files[os.path.relpath(p, out)] = {"sha256": file_sha256(p), "bytes": os.path.getsize(p)}
    manifest["files"] = dict(sorted(files.items()))
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return manifest
