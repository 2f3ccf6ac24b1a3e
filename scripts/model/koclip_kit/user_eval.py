"""`python -m koclip_kit eval PACKAGE_DIR --images DIR --captions FILE`: a model package measured on
the user's own images and captions (koclip_kit.user_data reads them), through the package's
ONNX towers in onnxruntime, and the figures written into the manifest under `evaluation.user`.

- Images: decoded by Pillow (EXIF orientation applied, like the encoder's sharp pipeline),
  preprocessed as the manifest's `image` block says with koclip_kit.preprocess (the reference the
  encoder's golden tests hold it to), embedded by the fp32 image tower in batches.
- Captions and zero-shot prompts: the package's tokenizer.json through the `tokenizers` library
  with the package's rule (src/core/tokenizer.ts: [CLS] body [SEP], body cut to max_length - 2),
  embedded by the text tower variant asked for (the manifest's default_variant unless --variant).
  The int8 tower quantises each run's activations with one scale for the whole batch, so a
  caption's embedding depends slightly on its batch mates (min cosine 0.99986 between batches of
  64 and single runs on koclip-tiny, enough to flip a rank now and then): int8 captions run one
  at a time by default, as a search query does; fp32 ones in batches of 64 (--text-batch).
- Figures: text->image recall@1/5/10 (a caption's hit is its own image), image->text
  recall@1/5/10 (an image's hit is any of its captions) and, with a labels file, zero-shot top-1
  and top-5 accuracy over the labels' prompts. A rank is the number of candidates scoring strictly
  higher than the right one (so ties count in the query's favour, independent of order).
- The manifest: the files used are checked against their sha256 first; the new manifest is
  written to a temporary file in the package folder and renamed over the old one, and only if
  the manifest on disk is still the one read at the start. It lists no sha256 of itself, so no
  other entry changes.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .common import F32, Array, Json, file_sha256
from .errors import InputError, KitError
from .preprocess import pixels
from .user_data import Dataset, check_images, read_captions, read_labels

FORMAT = "koclip-model/1"
KS = (1, 5, 10)
CHUNK = 4096  # captions per block of the similarity matrix
Embed = Callable[[list[str]], F32]


def _read_json(path: str) -> tuple[bytes, Json]:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} manifest")
    return raw, doc


def _verified(package_dir: str, manifest: Json, rel: str) -> str:
    entry = manifest.get("files", {}).get(rel)
    path = os.path.join(package_dir, rel)
    if entry is None:
        raise InputError(f"{rel} is not listed in {package_dir}/manifest.json")
    if not os.path.isfile(path) or os.path.getsize(path) != entry["bytes"] or file_sha256(path) != entry["sha256"]:
        raise InputError(f"{package_dir}/{rel} is missing or does not match its sha256 in the manifest")
    return path


class Towers:
    """The package's fp32 image tower, one text tower variant and its tokenizer."""

    def __init__(self, package_dir: str, manifest: Json, variant: str) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as err:
            raise KitError(
                f"eval needs onnxruntime and tokenizers (scripts/model/requirements-convert.txt): {err}"
            ) from None
        text, image, tok = manifest["text"], manifest["image"], manifest["tokenizer"]
        if variant not in text["files"]:
            raise InputError(f"{package_dir} has no {variant} text tower (it has {', '.join(sorted(text['files']))})")
        self.image_file, self.text_file = image["file"], text["files"][variant]
        opts = ort.SessionOptions()
        cpu = ["CPUExecutionProvider"]
        self.image = ort.InferenceSession(_verified(package_dir, manifest, self.image_file), opts, providers=cpu)
        self.text = ort.InferenceSession(_verified(package_dir, manifest, self.text_file), opts, providers=cpu)
        self.tokenizer = Tokenizer.from_file(_verified(package_dir, manifest, tok["file"]))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls, self.sep, self.pad = tok["cls_token_id"], tok["sep_token_id"], tok["pad_token_id"]
        self.max_length = int(text["max_length"])
        self.size, self.mean, self.std = int(image["size"]), image["mean"], image["std"]
        self.runtime = f"onnxruntime {ort.__version__} (Python, CPU)"

    def ids(self, texts: Sequence[str]) -> tuple[Array, Array]:
        enc = [
            [self.cls, *e.ids[: self.max_length - 2], self.sep]
            for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ]
        t = max(len(e) for e in enc)
        ids = np.full((len(enc), t), self.pad, dtype=np.int64)
        mask = np.zeros((len(enc), t), dtype=np.int64)
        for i, e in enumerate(enc):
            ids[i, : len(e)], mask[i, : len(e)] = e, 1
        return ids, mask

    def embed_texts(self, texts: Sequence[str], batch: int) -> F32:
        out = []
        for i in range(0, len(texts), batch):
            ids, mask = self.ids(texts[i : i + batch])
            out.append(self.text.run(["text_embeds"], {"input_ids": ids, "attention_mask": mask})[0])
        return _unit(np.concatenate(out))

    def pixels_of(self, path: str, where: str) -> F32:
        try:
            with Image.open(path) as img:
                return pixels(ImageOps.exif_transpose(img), self.size, self.mean, self.std)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise InputError(f"{path} (named at {where}) cannot be decoded as an image: {err}") from None

    def embed_images(self, images_dir: str, ds: Dataset, batch: int, log: Callable[[str], None]) -> F32:
        out = []
        for i in range(0, len(ds.images), batch):
            names = ds.images[i : i + batch]
            px = np.stack([self.pixels_of(os.path.join(images_dir, n), ds.where[n]) for n in names])
            out.append(self.image.run(["image_embeds"], {"pixel_values": px})[0])
            if (i // batch) % 20 == 19:
                log(f"{i + len(names)} / {len(ds.images)} images")
        return _unit(np.concatenate(out))


def _unit(x: F32) -> F32:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def retrieval(img: F32, txt: F32, caption_image: Sequence[int]) -> dict[str, float]:
    """t2i and i2t recall@1/5/10. Both directions read the same caption-block products, so a
    query's own score is compared with exactly the numbers it is ranked among."""
    owner = np.asarray(caption_image)
    n = len(img)
    t2i_rank = np.empty(len(txt), dtype=np.int64)
    best_own = np.full(n, -np.inf, dtype=np.float32)
    blocks = [slice(i, min(i + CHUNK, len(txt))) for i in range(0, len(txt), CHUNK)]
    for b in blocks:
        s = txt[b] @ img.T  # [captions, images]
        own = s[np.arange(s.shape[0]), owner[b]]
        t2i_rank[b] = (s > own[:, None]).sum(1)
        np.maximum.at(best_own, owner[b], own)
    i2t_rank = np.zeros(n, dtype=np.int64)
    for b in blocks:
        i2t_rank += ((txt[b] @ img.T) > best_own[None, :]).sum(0)
    out = {f"t2i_recall@{k}": round(float(np.mean(t2i_rank < k)), 4) for k in KS}
    out.update({f"i2t_recall@{k}": round(float(np.mean(i2t_rank < k)), 4) for k in KS})
    return out


def zero_shot(img: F32, labels: dict[int, str], embed: Embed, template: str) -> Json:
    """Top-1 / top-5 accuracy of the labelled images among every label's prompt (top-5 only with
    more than 5 labels; with 5 or fewer it would be 1.0 by construction)."""
    classes = sorted(set(labels.values()))
    prompts = [template.replace("{}", c) for c in classes]
    which = np.array(sorted(labels))
    truth = np.array([classes.index(labels[i]) for i in which])
    s = img[which] @ embed(prompts).T
    rank = (s > s[np.arange(len(which)), truth][:, None]).sum(1)
    return {
        "zero_shot_images": len(which),
        "zero_shot_classes": len(classes),
        "zero_shot_top1": round(float(np.mean(rank < 1)), 4),
        "zero_shot_top5": round(float(np.mean(rank < 5)), 4) if len(classes) > 5 else None,
    }


@dataclass(frozen=True)
class Request:
    """What `eval PACKAGE_DIR ...` was asked to do (cli.py fills it from the arguments)."""

    package_dir: str
    images: str
    captions: str
    labels: str | None = None
    template: str | None = None
    variant: str | None = None
    name: str | None = None
    batch_size: int = 32
    text_batch: int | None = None
    dry_run: bool = False


def _merge(manifest: Json, name: str, dataset: Json, variant: str, result: Json) -> Json:
    """The manifest with `evaluation.user[name]` holding this result. Results of other text
    variants are kept when the dataset (files, counts, prompt, image tower) is the same."""
    evaluation = dict(manifest.get("evaluation", {}))
    user = dict(evaluation.get("user", {}))
    old = user.get(name, {})
    same = {k: v for k, v in old.items() if k != "results"} == dataset
    user[name] = {**dataset, "results": {**(old.get("results", {}) if same else {}), variant: result}}
    evaluation["user"] = dict(sorted(user.items()))
    return {**manifest, "evaluation": evaluation}


def write_manifest(package_dir: str, read_bytes: bytes, manifest: Json) -> None:
    """Temporary file in the package folder, renamed over manifest.json; refused when the manifest
    changed on disk since it was read (another command wrote it meanwhile)."""
    path = os.path.join(package_dir, "manifest.json")
    with open(path, "rb") as f:
        if f.read() != read_bytes:
            raise KitError(f"{path} changed while the evaluation ran; run it again")
    fd, tmp = tempfile.mkstemp(prefix=".manifest.json.", suffix=".tmp", dir=package_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write((json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def evaluate_user(req: Request, log: Callable[[str], None] | None = None) -> Json:
    """Measures the package on the user's set; returns {"name", "dataset", "variant", "result"}
    and, unless `dry_run`, writes them into the manifest."""
    say = log or (lambda m: print(f"[eval] {m}", file=sys.stderr))
    started = time.time()
    mpath = os.path.join(req.package_dir, "manifest.json")
    if not os.path.isfile(mpath):
        raise InputError(f"{req.package_dir} has no manifest.json (not a model package)")
    raw, manifest = _read_json(mpath)
    for path, what in ((req.captions, "captions"), (req.labels, "labels")):
        if path is not None and not os.path.isfile(path):
            raise InputError(f"{what} file {path} does not exist")
    template = req.template if req.template is not None else manifest.get("prompt_template", "{}")
    if req.labels is not None and "{}" not in template:
        raise InputError(f"--template {template!r} has no {{}} for the label")
    ds = read_captions(req.captions)
    if req.labels is not None:
        read_labels(req.labels, ds)
    if len(ds.images) < 2:
        raise InputError(f"{req.captions} names {len(ds.images)} image; retrieval needs at least 2")
    check_images(req.images, ds)
    variant = req.variant or manifest["text"]["default_variant"]
    towers = Towers(req.package_dir, manifest, variant)
    say(f"{len(ds.images)} images, {len(ds.captions)} captions; text tower {towers.text_file}")
    img = towers.embed_images(req.images, ds, req.batch_size, say)
    text_batch = req.text_batch or (1 if variant == "int8" else 64)
    txt = towers.embed_texts(ds.captions, text_batch)
    result: Json = retrieval(img, txt, ds.caption_image)
    if ds.labels:
        result.update(zero_shot(img, ds.labels, lambda t: towers.embed_texts(t, text_batch), template))
    name = req.name or os.path.splitext(os.path.basename(req.captions))[0]
    dataset: Json = {
        "images": len(ds.images),
        "captions": len(ds.captions),
        "captions_file": os.path.basename(req.captions),
        "captions_sha256": file_sha256(req.captions),
        **(
            {"labels_file": os.path.basename(req.labels), "labels_sha256": file_sha256(req.labels), "prompt": template}
            if req.labels is not None
            else {}
        ),
        "image_tower": towers.image_file,
    }
    result.update(
        {
            "text_tower": towers.text_file,
            "text_batch": text_batch,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "runtime": towers.runtime,
            "seconds": round(time.time() - started, 1),
        }
    )
    if not req.dry_run:
        write_manifest(req.package_dir, raw, _merge(manifest, name, dataset, variant, result))
    return {"name": name, "dataset": dataset, "variant": variant, "result": result}


def table(out: Json) -> str:
    """The figures as a small text table (what the command prints)."""
    r: dict[str, Any] = out["result"]
    d = out["dataset"]
    lines = [
        f"{out['name']}: {d['images']} images, {d['captions']} captions; text {out['variant']} ({r['text_tower']})",
        f"{'':14}{'R@1':>8}{'R@5':>8}{'R@10':>8}",
    ]
    for direction, label in (("t2i", "text->image"), ("i2t", "image->text")):
        lines.append(f"{label:14}" + "".join(f"{r[f'{direction}_recall@{k}']:>8.4f}" for k in KS))
    if "zero_shot_top1" in r:
        top5 = "n/a (<= 5 labels)" if r["zero_shot_top5"] is None else f"{r['zero_shot_top5']:.4f}"
        lines.append(
            f"zero-shot     top-1 {r['zero_shot_top1']:.4f}  top-5 {top5}  "
            f"({r['zero_shot_images']} images, {r['zero_shot_classes']} labels)"
        )
    return "\n".join(lines)
