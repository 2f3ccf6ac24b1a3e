"""Re-quantises a package's int8 text tower from the package's own fp32 text tower with the kit's
current quantiser (onnx_export.quantize_text), then re-measures what depends on it and updates
the manifest. No checkpoint and no retraining: the fp32 towers, tokenizer, golden vectors and
demo set stay byte-identical, and so does the model version (it names the embedding space,
which the fp32 towers define).

  python -m koclip_kit.requantize PACKAGE_DIR [--dry-run] [--note WHY]      (from scripts/model)

What it does, in order; any failed check raises KitError and nothing is written:
1. checks the package: manifest format, every listed file's sha256 and size (text-int8.onnx
   excepted: that is the file being replaced), no unlisted files;
2. quantises text-fp32.onnx into a temporary folder;
3. checks the references: the ONNX fp32 text tower against golden/text.json (PyTorch, written at
   export) and the image tower against golden/image.json, both >= FP32_MIN_COSINE, and the kit's
   tokenizer against golden/tokens.json. The checkpoint is not part of a package, so the ONNX
   fp32 towers stand in for PyTorch below (the export recorded their parity with it);
4. parity: minimum cosine of the new int8 tower against the fp32 one on the inputs the export
   uses (golden texts, golden strings, 300 evaluation captions), through onnxruntime-node as the
   export does; below INT8_MIN_COSINE it stops;
5. evaluation: the recorded test split (gallery size and seed from the manifest), image side from
   the ONNX fp32 image tower. The ONNX fp32 text tower is evaluated too and must reproduce the
   manifest's `onnx_fp32` numbers exactly, which shows the gallery and pipeline are the export's;
   then the new int8 tower is evaluated (`onnx_int8`, `targets_int8`, `int8_minus_fp32_max_abs`);
6. writes text-int8.onnx and manifest.json as temporary files in the package folder, then renames
   each over the old one (int8 file first, manifest last). The manifest gets the new sha256 and
   size, the int8 counts, the parity, the evaluation, and an `evaluation.requantized` record
   (date, quantiser setting, references, runtime, the previous file's sha256 and its parity as
   recorded and as measured now on the same texts and runtime). Should it stop between the two
   renames, the new int8 file sits under the old manifest; running the command again finishes.
A package whose int8 file already is what the quantiser writes, with a manifest that says so, is
left alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import data
from .common import F32, Json, file_sha256
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE, PROMPT_TEMPLATE
from .errors import KitError
from .evaluate import evaluate, gallery, targets
from .onnx_export import WEIGHT_QMAX, quantize_text
from .package import evaluation_texts
from .repo import REPO, onnx_run
from .tokenizer import WordPiece
from .tokenizer import load as load_tokenizer

PROG = "python -m koclip_kit.requantize"
FORMAT = "koclip-model/1"
IMAGE_CHUNK = 240  # gallery images rendered and embedded per onnx-run call (~145 MB of pixels)


@dataclass(frozen=True)
class Result:
    """What `requantize_package` did: `written` is False for a dry run or an up-to-date package."""

    package_dir: str
    written: bool
    old_sha256: str
    new_sha256: str
    new_bytes: int
    parity: dict[str, float]
    onnx_int8: Json
    old_onnx_int8: Json


# ---------------------------------------------------------------- helpers


def _cosines_f64(a: F32, b: F32) -> npt.NDArray[np.float64]:
    """common.cosines accumulated in float64: what requantize has always recorded, kept so its
    figures do not change."""
    num = (a.astype(np.float64) * b).sum(1)
    return np.asarray(num / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def _read_json(path: str) -> Json:
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        raise KitError(f"{path} is not a JSON object")
    return obj


def _manifest_bytes(manifest: Json) -> bytes:
    """manifest.json exactly as package.write_manifest writes it."""
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _runtime() -> str:
    """onnxruntime-node's version and the CPU, since the int8 kernels depend on both."""
    try:
        with open(os.path.join(REPO, "node_modules", "onnxruntime-node", "package.json"), encoding="utf-8") as f:
            ort = str(json.load(f)["version"])
    except (OSError, KeyError, ValueError):
        ort = "unknown"
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and cpu in ("", platform.machine()):
                    cpu = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return f"onnxruntime-node {ort} on {cpu} ({', '.join(simd) or 'no AVX2'})"


class OnnxTowers:
    """The package's ONNX files through scripts/model/onnx-run.mjs (onnxruntime-node), batched
    the way package.Towers does it (one batch padded to its longest text, run 64 at a time)."""

    def __init__(self, tok: WordPiece, max_length: int, tmp: str):
        self.tok, self.max_length, self.tmp = tok, max_length, tmp

    def text(self, onnx_path: str, texts: list[str]) -> F32:
        ids, mask = self.tok.batch(texts, self.max_length)
        src, dst = os.path.join(self.tmp, "batch.json"), os.path.join(self.tmp, "emb.f32")
        with open(src, "w") as f:
            json.dump({"input_ids": ids, "attention_mask": mask}, f)
        onnx_run("text", "--model", onnx_path, "--in", src, "--out", dst)
        return np.fromfile(dst, dtype=np.float32).reshape(len(texts), -1)

    def image(self, onnx_path: str, px: F32) -> F32:
        src, dst = os.path.join(self.tmp, "px.f32"), os.path.join(self.tmp, "img.f32")
        np.ascontiguousarray(px, dtype=np.float32).tofile(src)
        onnx_run("image", "--model", onnx_path, "--in", src, "--size", str(px.shape[-1]), "--out", dst)
        os.remove(src)
        return np.fromfile(dst, dtype=np.float32).reshape(len(px), -1)


# ---------------------------------------------------------------- checks


def check_files(package_dir: str, manifest: Json, replaced: str) -> None:
    """Every file on disk is listed and matches its sha256 and size, `replaced` excepted."""
    listed: dict[str, Json] = manifest.get("files", {})
    on_disk = set()
    for root, _, names in os.walk(package_dir):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), package_dir)
            if rel != "manifest.json":
                on_disk.add(rel)
    if on_disk != set(listed):
        extra, missing = sorted(on_disk - set(listed)), sorted(set(listed) - on_disk)
        raise KitError(f"package files differ from the manifest: unlisted {extra}, missing {missing}")
    for rel, entry in sorted(listed.items()):
        if rel == replaced:
            continue
        p = os.path.join(package_dir, rel)
        if os.path.getsize(p) != entry["bytes"] or file_sha256(p) != entry["sha256"]:
            raise KitError(f"{rel} does not match its sha256 or size in manifest.json")


def check_references(package_dir: str, manifest: Json, towers: OnnxTowers) -> dict[str, float]:
    """The ONNX fp32 towers still give the PyTorch golden vectors, and the kit's tokenizer the
    golden ids, so they can stand in for the checkpoint. Returns the min cosines."""
    golden = manifest.get("golden")
    if not golden:
        raise KitError("package has no golden vectors to check the fp32 references against")
    tokens = _read_json(os.path.join(package_dir, golden["tokens"]))
    for c in tokens["cases"]:
        if towers.tok.encode(c["text"], towers.max_length) != c["input_ids"]:
            raise KitError(f"the kit's tokenizer disagrees with golden/tokens.json on {c['text']!r}")
    text = _read_json(os.path.join(package_dir, golden["text"]))
    fp32 = os.path.join(package_dir, manifest["text"]["files"]["fp32"])
    got = towers.text(fp32, [c["text"] for c in text["cases"]])
    ref = np.array([c["embedding"] for c in text["cases"]], dtype=np.float32)
    image = _read_json(os.path.join(package_dir, golden["image"]))
    shape = image["pixels_shape"]
    px = np.stack(
        [np.fromfile(os.path.join(package_dir, c["pixels"]), dtype="<f4").reshape(shape) for c in image["cases"]]
    )
    got_img = towers.image(os.path.join(package_dir, manifest["image"]["file"]), px)
    ref_img = np.array([c["embedding"] for c in image["cases"]], dtype=np.float32)
    found = {
        "text_fp32_vs_golden_min_cosine": round(float(_cosines_f64(got, ref).min()), 6),
        "image_fp32_vs_golden_min_cosine": round(float(_cosines_f64(got_img, ref_img).min()), 6),
    }
    if min(found.values()) < FP32_MIN_COSINE:
        raise KitError(f"the package's fp32 towers no longer reproduce its golden vectors: {found}")
    return found


def parity_texts(package_dir: str, manifest: Json, scenes: list[data.Scene], seed: int) -> list[str]:
    """The texts package.check_parity uses: golden captions, golden strings, evaluation captions."""
    golden = manifest["golden"]
    text = _read_json(os.path.join(package_dir, golden["text"]))
    tokens = _read_json(os.path.join(package_dir, golden["tokens"]))
    return [c["text"] for c in text["cases"]] + [c["text"] for c in tokens["cases"]] + evaluation_texts(scenes, seed)


def gallery_embeddings(towers: OnnxTowers, image_onnx: str, scenes: list[data.Scene]) -> F32:
    """Image embeddings of the test gallery, rendered and embedded a chunk at a time."""
    parts = [
        towers.image(image_onnx, data.pixel_batch(scenes[i : i + IMAGE_CHUNK]))
        for i in range(0, len(scenes), IMAGE_CHUNK)
    ]
    return np.concatenate(parts)


def _max_abs_diff(a: Json, b: Json) -> float:
    """evaluate_towers' `int8_minus_fp32_max_abs`."""
    return round(max(abs(a[k] - b[k]) for k in b if isinstance(b[k], float)), 4)


def _split_seed(evaluation: Json) -> int:
    m = re.search(r"seed (\d+)", str(evaluation.get("split", "")))
    if not m:
        raise KitError(f"cannot read the test split's seed from evaluation.split {evaluation.get('split')!r}")
    return int(m.group(1))


# ---------------------------------------------------------------- writing


def _temp_in(package_dir: str, name: str, mode: int) -> tuple[int, str]:
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=package_dir)
    os.fchmod(fd, mode)
    return fd, path


def write_atomically(package_dir: str, int8_rel: str, int8_src: str, manifest: Json) -> None:
    """Both files are written in full as hidden temporary files beside their targets, flushed to
    disk, then renamed over the old ones: the int8 file first, the manifest last."""
    int8_dst, manifest_dst = os.path.join(package_dir, int8_rel), os.path.join(package_dir, "manifest.json")
    temps: list[str] = []
    try:
        fd, tmp_int8 = _temp_in(os.path.dirname(int8_dst), os.path.basename(int8_dst), 0o644)
        temps.append(tmp_int8)
        with os.fdopen(fd, "wb") as out, open(int8_src, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        fd, tmp_manifest = _temp_in(package_dir, "manifest.json", 0o644)
        temps.append(tmp_manifest)
        with os.fdopen(fd, "wb") as out:
            out.write(_manifest_bytes(manifest))
            out.flush()
            os.fsync(out.fileno())
        if file_sha256(tmp_int8) != manifest["files"][int8_rel]["sha256"]:
            raise KitError("the staged int8 file does not match the sha256 written into the manifest")
        os.replace(tmp_int8, int8_dst)
        os.replace(tmp_manifest, manifest_dst)
        temps.clear()
        dir_fd = os.open(package_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        for t in temps:
            if os.path.exists(t):
                os.remove(t)


# ---------------------------------------------------------------- the command


def requantize_package(
    package_dir: str, *, dry_run: bool = False, note: str | None = None, log: Callable[[str], None] = print
) -> Result:
    """Re-quantises `package_dir`'s int8 text tower from its fp32 one and updates the manifest
    (see the module docstring); `note` (why) goes into `evaluation.requantized`. Raises KitError,
    writing nothing, when a check fails."""
    started = time.time()
    manifest_path = os.path.join(package_dir, "manifest.json")
    if not os.path.isfile(manifest_path):
        raise KitError(f"{package_dir} has no manifest.json")
    manifest = _read_json(manifest_path)
    if manifest.get("format") != FORMAT:
        raise KitError(f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT}")
    files = manifest["text"]["files"]
    if "fp32" not in files or "int8" not in files:
        raise KitError("the package needs both an fp32 and an int8 text tower")
    fp32_rel, int8_rel = files["fp32"], files["int8"]
    if (manifest["text"].get("external_data") or {}).get("int8"):
        raise KitError(
            "the int8 text tower keeps its weights as external data (text.external_data.int8): requantize "
            "rewrites one-file towers only (koclip_kit export's); distil or convert the package again instead"
        )
    evaluation: Json = manifest.get("evaluation", {})
    for key in ("parity", "onnx_fp32", "onnx_int8"):
        if key not in evaluation:
            raise KitError(f"manifest.json has no evaluation.{key} to re-measure")
    check_files(package_dir, manifest, replaced=int8_rel)
    old_sha = manifest["files"][int8_rel]["sha256"]
    old_parity = evaluation["parity"].get("text_int8_min_cosine")
    old_int8: Json = evaluation["onnx_int8"]

    tmp = tempfile.mkdtemp(prefix="koclip-requantize-")
    try:
        new_int8 = os.path.join(tmp, "text-int8.onnx")
        stats = quantize_text(os.path.join(package_dir, fp32_rel), new_int8)
        new_sha, new_bytes = file_sha256(new_int8), os.path.getsize(new_int8)
        log(f"[requantize] {int8_rel}: {old_sha[:12]} -> {new_sha[:12]} ({new_bytes} bytes, {stats})")
        on_disk = file_sha256(os.path.join(package_dir, int8_rel))
        if new_sha == old_sha == on_disk:
            log(f"[requantize] {package_dir} already has this int8 tower; nothing to do")
            return Result(package_dir, False, old_sha, new_sha, new_bytes, evaluation["parity"], old_int8, old_int8)

        tok = load_tokenizer(os.path.join(package_dir, manifest["tokenizer"]["file"]))
        towers = OnnxTowers(tok, int(manifest["text"]["max_length"]), tmp)
        references = check_references(package_dir, manifest, towers)
        log(f"[requantize] fp32 references: {json.dumps(references)}")

        seed = _split_seed(evaluation)
        size = int(evaluation["onnx_fp32"]["gallery_images"])
        scenes = gallery(size, seed)
        texts = parity_texts(package_dir, manifest, scenes, seed)
        fp32_path = os.path.join(package_dir, fp32_rel)
        fp32_texts = towers.text(fp32_path, texts)
        cos = _cosines_f64(fp32_texts, towers.text(new_int8, texts))
        parity = {**evaluation["parity"], "text_int8_min_cosine": round(float(cos.min()), 6)}
        worst = texts[int(np.argmin(cos))]
        log(f"[requantize] parity int8 vs fp32 on {len(texts)} texts: {parity['text_int8_min_cosine']} ({worst!r})")
        if parity["text_int8_min_cosine"] < INT8_MIN_COSINE:
            raise KitError(
                f"int8 parity {parity['text_int8_min_cosine']} is below {INT8_MIN_COSINE} ({worst!r}); nothing written"
            )

        # the file being replaced, measured the same way here (None when it is not the listed one)
        old_now = (
            round(float(_cosines_f64(fp32_texts, towers.text(os.path.join(package_dir, int8_rel), texts)).min()), 6)
            if on_disk == old_sha
            else None
        )
        log(f"[requantize] the previous int8 tower on the same texts and runtime: {old_now}")

        prompt = str(evaluation.get("prompt_template", PROMPT_TEMPLATE))
        img = gallery_embeddings(towers, os.path.join(package_dir, manifest["image"]["file"]), scenes)
        fp32_eval = evaluate(lambda t: towers.text(fp32_path, t), img, scenes, seed, prompt)
        if fp32_eval != evaluation["onnx_fp32"]:
            diff = {
                k: (evaluation["onnx_fp32"].get(k), v)
                for k, v in fp32_eval.items()
                if v != evaluation["onnx_fp32"].get(k)
            }
            raise KitError(f"the fp32 evaluation does not reproduce the manifest's onnx_fp32 (recorded, now): {diff}")
        log(f"[requantize] onnx_fp32 evaluation on {size} images (seed {seed}) reproduces the manifest")
        int8_eval = evaluate(lambda t: towers.text(new_int8, t), img, scenes, seed, prompt)
        changed = {k: (old_int8.get(k), v) for k, v in int8_eval.items() if v != old_int8.get(k)}
        log(f"[requantize] onnx_int8 changes (old, new): {json.dumps(changed)}")

        seconds = round(time.time() - started, 1)
        updated = json.loads(json.dumps(manifest))  # deep copy, key order kept
        updated["text"]["architecture"]["int8"] = stats
        updated["files"][int8_rel] = {"sha256": new_sha, "bytes": new_bytes}
        ev = updated["evaluation"]
        ev["parity"] = parity
        ev["onnx_int8"] = int8_eval
        ev["targets_int8"] = targets(int8_eval)
        ev["int8_minus_fp32_max_abs"] = _max_abs_diff(int8_eval, fp32_eval)
        ev["requantized"] = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "command": f"{PROG} {_display_path(package_dir)}",
            "quantiser": {"module": "koclip_kit.onnx_export.quantize_text", "weight_qmax": WEIGHT_QMAX},
            "source": fp32_rel,
            **({"note": note} if note else {}),
            "reference": {
                "towers": "ONNX fp32 text and image towers in place of PyTorch (a package holds no checkpoint)",
                **references,
            },
            "evaluation": "same test split; image embeddings from the ONNX fp32 image tower; onnx_fp32 "
            "re-measured and identical to the recorded numbers",
            "runtime": _runtime(),
            "previous": {
                "sha256": old_sha,
                "bytes": manifest["files"][int8_rel]["bytes"],
                "text_int8_min_cosine": old_parity,
                "text_int8_min_cosine_now": old_now,
            },
            "seconds": seconds,
        }
        if dry_run:
            log("[requantize] dry run: nothing written")
        else:
            write_atomically(package_dir, int8_rel, new_int8, updated)
            log(f"[requantize] wrote {os.path.join(package_dir, int8_rel)} and manifest.json ({seconds} s)")
        return Result(package_dir, not dry_run, old_sha, new_sha, new_bytes, parity, int8_eval, old_int8)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _display_path(path: str) -> str:
    """`path` relative to the repository root when it lies inside it."""
    rel = os.path.relpath(os.path.abspath(path), REPO)
    return path if rel.startswith("..") else rel


def resolve_package(path: str) -> str:
    """`path` as given, or, when it does not exist from here, from the repository root (so
    `models/koclip-tiny` works from scripts/model as well)."""
    if os.path.isdir(path) or os.path.isabs(path):
        return path
    from_repo = os.path.join(REPO, path)
    return from_repo if os.path.isdir(from_repo) else path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Re-quantise a model package's int8 text tower from its fp32 tower and update the manifest.",
    )
    p.add_argument("package_dir", help="model package folder, e.g. models/koclip-tiny")
    p.add_argument("--dry-run", action="store_true", help="measure and report, write nothing")
    p.add_argument("--note", help="why the tower is re-quantised (kept in evaluation.requantized)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    package_dir = resolve_package(a.package_dir)
    if not os.path.isdir(package_dir):
        parser().error(f"no such package folder: {a.package_dir}")
    try:
        requantize_package(package_dir, dry_run=a.dry_run, note=a.note)
    except KitError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
