"""`python -m koclip_kit distill --teacher PACKAGE --corpus CAPTIONS.txt --out OUT_DIR`: an edge-sized
student text tower trained to reproduce a teacher package's L2-normalised text embeddings, written
as a package in the teacher's embedding space (docs/models.md "Distil an edge student").

This module owns the run and the student's package; koclip_kit.teacher owns the corpus, the
teacher's targets and the (optionally pruned) tokenizer, koclip_kit.student the student's model
and training. The package keeps the teacher's id and version (the version names the embedding
space, and the image index is keyed by id + version, so the student searches the index the
teacher's image tower built) and copies the teacher's image tower, image goldens and demo set; it
has the student's tokenizer, text towers (fp32 + the kit's 7-bit int8, onnx_export.quantize_text),
text goldens, `edge` placement, a `training.distillation` record and the evaluation (ONNX parity,
held-out agreement with the teacher, recall on the synthetic split for a synthetic teacher, the
isolate fit). It is written in a staging folder, must pass the parity checks and the isolate fit
(koclip_kit.fit), and is then swapped into place; any failure leaves OUT_DIR as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from .common import F32, Json, cosines, file_sha256
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE, PROMPT_TEMPLATE
from .convert import Tok, onnx_text, peak_rss_mb, return_freed_memory
from .errors import KitError
from .evaluate import evaluate, gallery
from .fit import check_staged
from .model import TextConfig
from .onnx_export import export_text_module, quantize_text, write_external_data
from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS, staging_dir, swap_into_place, write_text_goldens
from .repo import onnx_run
from .student import LOG, Recipe, Student, StudentShape, init_word_embeddings, torch_embed, train_student
from .teacher import FORMAT, Teacher, read_corpus, split_corpus, student_tokenizer

__all__ = ["Recipe", "StudentShape", "distill"]

TEXT_FILES = {"fp32": "text-fp32.onnx", "int8": "text-int8.onnx"}
RECALL_RATIO_TARGET = 0.95  # the student keeps >= 95% of the teacher's t2i recall@5 (issue 10)
DEFAULT_SHAPE, DEFAULT_RECIPE = StudentShape(), Recipe()


# ---------------------------------------------------------------- package


def copy_teacher_files(teacher: Teacher, out: str) -> list[str]:
    """The image tower(s), image goldens and demo set, byte for byte, checked against the
    teacher's manifest (an image index built by the teacher is searched with these)."""
    m = teacher.manifest
    image = m["image"]
    towers = {image["file"], *(image.get("files") or {}).values()}
    golden_image = (m.get("golden") or {}).get("image")
    copied = []
    for rel, entry in sorted(m.get("files", {}).items()):
        if not (rel in towers or rel == golden_image or rel.startswith(("golden/images/", "golden/pixels/", "demo/"))):
            continue
        src, dst = os.path.join(teacher.folder, rel), os.path.join(out, rel)
        if not os.path.isfile(src) or file_sha256(src) != entry["sha256"]:
            raise KitError(f"teacher file {rel} is missing or differs from its manifest's sha256")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        copied.append(rel)
    missing = towers - set(copied)
    if missing:
        raise KitError(f"teacher manifest does not list its image tower file(s) {sorted(missing)}")
    return copied


def check_tokenizer_js(tok: Tok, path: str, texts: list[str], max_length: int, tmp: str) -> None:
    """The student's tokenizer.json through the maintained JS tokenizer (@huggingface/tokenizers,
    what the Worker runs) must give the Python library's ids on every text."""
    src, dst = os.path.join(tmp, "texts.json"), os.path.join(tmp, "ids.json")
    with open(src, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    onnx_run("tokenize", "--tokenizer", path, "--max-length", str(max_length), "--in", src, "--out", dst)
    with open(dst) as f:
        js = json.load(f)
    for t, ids in zip(texts, js, strict=True):
        if tok.encode(t, max_length) != ids:
            raise KitError(f"student tokenizer differs in @huggingface/tokenizers for {t!r}: {ids}")


def synthetic_recall(teacher: Teacher, student_text: Callable[[list[str]], F32], log: LOG) -> Json:
    """Teacher and student on the synthetic test split the teacher was evaluated on, against the
    teacher's own (fp32 ONNX) image embeddings: the student searches the teacher's index."""
    seed, n = teacher.synthetic_split()
    scenes = gallery(n, seed)
    img = teacher.embed_scenes(scenes)
    log(f"gallery of {n} images embedded by the teacher's image tower")
    teacher_ev = evaluate(teacher.embed, img, scenes, seed)
    student_ev = evaluate(student_text, img, scenes, seed)
    t5, s5 = teacher_ev["t2i_recall@5"], student_ev["t2i_recall@5"]
    ratio = round(s5 / t5, 4) if t5 else None
    return {
        "split": f"test (balanced synthetic, seed {seed})",
        "image_tower": f"teacher's {teacher.manifest['image']['file']} (onnxruntime)",
        "teacher_onnx_fp32": teacher_ev,
        "student_onnx_int8": student_ev,
        "t2i_recall@5": {"teacher": t5, "student": s5, "ratio": ratio},
        "targets": {f"t2i_recall@5_ratio>={RECALL_RATIO_TARGET}": ratio is not None and ratio >= RECALL_RATIO_TARGET},
    }


def list_files(out: str) -> dict[str, Json]:
    files = {}
    for root, _, names in os.walk(out):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, out)
            if rel != "manifest.json":
                files[rel] = {"sha256": file_sha256(p), "bytes": os.path.getsize(p)}
    return dict(sorted(files.items()))


def corpus_sha256(lines: list[str]) -> str:
    return hashlib.sha256("".join(s + "\n" for s in lines).encode("utf-8")).hexdigest()


def distill(
    teacher_dir: str,
    corpus_path: str,
    target: str,
    *,
    shape: StudentShape = DEFAULT_SHAPE,
    recipe: Recipe = DEFAULT_RECIPE,
    prune: bool = False,
    synthetic_eval: bool | None = None,
    require_recall: bool = False,
    quiet: bool = False,
) -> Json:
    """Distils the teacher package's text tower into an edge student package at `target`; returns
    its manifest. `synthetic_eval` None: measure recall when the teacher was evaluated on the
    kit's synthetic split (koclip-tiny). `require_recall`: fail below RECALL_RATIO_TARGET."""
    started = time.time()
    return_freed_memory()

    def log(msg: str) -> None:
        if not quiet:
            print(
                f"[distill] {time.time() - started:7.1f}s rss {peak_rss_mb():6.0f} MB  {msg}",
                file=sys.stderr,
                flush=True,
            )

    shape.check()
    teacher = Teacher(teacher_dir)
    lines = read_corpus(corpus_path)
    train_lines, held_out = split_corpus(lines, recipe.seed)
    if synthetic_eval is None:
        synthetic_eval = str(teacher.manifest.get("evaluation", {}).get("split", "")).startswith("test (balanced")
    log(
        f"teacher {teacher.id} {teacher.manifest['version']}; corpus {len(lines)} lines, "
        f"{len(train_lines)} distinct for training, {len(held_out)} held out"
    )
    old_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = staging_dir(target, teacher.id)
    tmp = tempfile.mkdtemp(prefix="koclip-distill-")
    try:
        tok, remap = student_tokenizer(teacher, train_lines + held_out, prune, out)
        t0 = time.time()
        targets = teacher.embed(train_lines + held_out)
        teacher_seconds = round(time.time() - t0, 1)
        log(f"teacher targets: {len(targets)} x {targets.shape[1]} in {teacher_seconds}s")
        teacher.release()  # the session holds the whole fp32 tower; the table is read next
        torch.manual_seed(recipe.seed)
        cfg = TextConfig(
            vocab_size=tok.vocab_size,
            hidden_size=shape.hidden,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            intermediate_size=shape.intermediate,
            max_position_embeddings=teacher.max_length,
            position_id_offset=0,
            pad_token_id=tok.pad,
        )
        student = Student(cfg, int(teacher.manifest["projection_dim"]))
        kept = sorted(remap, key=lambda k: remap[k]) if remap else list(range(tok.vocab_size))
        init = init_word_embeddings(student, teacher.embedding_table(), kept, recipe.seed)
        n_params = sum(p.numel() for p in student.parameters())
        log(f"student {shape.layers}x{shape.hidden} ({n_params / 1e6:.1f} M params, vocab {tok.vocab_size}); {init}")
        seqs = [tok.encode(s, teacher.max_length) for s in train_lines]
        summary, loss_log = train_student(student, seqs, targets[: len(train_lines)], recipe, log)

        text32, text8 = (os.path.join(out, f) for f in (TEXT_FILES["fp32"], TEXT_FILES["int8"]))
        export_text_module(student, text32)
        stats = quantize_text(text32, text8)
        int8_data = write_external_data(text8)  # the edge tower's weights beside its graph
        copied = copy_teacher_files(teacher, out)
        write_text_goldens(
            out,
            lambda t: tok.encode(t, teacher.max_length),
            teacher.max_length,
            torch_embed(student, tok, GOLDEN_CAPTIONS, teacher.max_length),
            tokens_from="tokenizers (Python) on the student's tokenizer.json, cross-checked with "
            "@huggingface/tokenizers at distillation",
            text_from="distilled student's PyTorch text tower (fp32)",
        )
        check_tokenizer_js(
            tok, os.path.join(out, "tokenizer.json"), GOLDEN_STRINGS + held_out[:300], teacher.max_length, tmp
        )
        ptexts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + held_out[:300]
        ref = torch_embed(student, tok, ptexts, teacher.max_length)
        parity = {
            "text_fp32_min_cosine": round(
                float(cosines(ref, onnx_text(text32, tok, ptexts, teacher.max_length, tmp)).min()), 6
            ),
            "text_int8_min_cosine": round(
                float(cosines(ref, onnx_text(text8, tok, ptexts, teacher.max_length, tmp)).min()), 6
            ),
        }
        if parity["text_fp32_min_cosine"] < FP32_MIN_COSINE or parity["text_int8_min_cosine"] < INT8_MIN_COSINE:
            raise KitError(f"student ONNX parity below tolerance: {parity}")
        log(f"parity {parity}")

        def student_int8(texts: list[str]) -> F32:
            return onnx_text(text8, tok, texts, teacher.max_length, tmp)

        held = cosines(student_int8(held_out), targets[len(train_lines) :])
        held_fp32 = cosines(torch_embed(student, tok, held_out, teacher.max_length), targets[len(train_lines) :])
        agreement = {
            "lines": len(held_out),
            "student": "onnx int8",
            "mean_cosine": round(float(held.mean()), 5),
            "min_cosine": round(float(held.min()), 5),
            "fp32_mean_cosine": round(float(held_fp32.mean()), 5),
            "fp32_min_cosine": round(float(held_fp32.min()), 5),
        }
        log(f"held-out agreement with the teacher {agreement}")
        evaluation: Json = {"parity": parity, "held_out_vs_teacher": agreement}
        if synthetic_eval:
            evaluation["recall"] = synthetic_recall(teacher, student_int8, log)
            log(f"t2i recall@5 {evaluation['recall']['t2i_recall@5']}")
            if require_recall and not all(evaluation["recall"]["targets"].values()):
                raise KitError(f"recall target missed: {evaluation['recall']['t2i_recall@5']}")
        evaluation["seconds"] = round(time.time() - started, 1)
        evaluation["peak_rss_mb"] = round(peak_rss_mb())
        tm = teacher.manifest
        distillation = {
            "teacher": {
                "id": teacher.id,
                "version": tm["version"],
                "text_tower": os.path.basename(teacher.fp32),
                "text_tower_sha256": file_sha256(teacher.fp32),
                "architecture": tm["text"].get("architecture", {}),
                "placement": tm["text"].get("placement"),
                "targets_seconds": teacher_seconds,
            },
            "corpus": {
                "file": os.path.basename(corpus_path),
                "lines": len(lines),
                "distinct": len(dict.fromkeys(lines)),
                "sha256": corpus_sha256(lines),
                "held_out": len(held_out),
            },
            "student": {**asdict(shape), "parameters": n_params, "init": init, "pruned_vocab": prune},
            "recipe": asdict(recipe),
            **summary,
            "loss_log": loss_log[-5:],
            "held_out_vs_teacher": agreement,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
        manifest: Json = {
            "format": FORMAT,
            "id": teacher.id,
            "version": tm["version"],
            "description": f"Edge student ({shape.layers}x{shape.hidden} RoBERTa text tower) distilled from the "
            f"text tower of {teacher.id} {tm['version']}, in its embedding space; image tower: the teacher's. "
            f"Teacher: {tm.get('description', '')}",
            "projection_dim": tm["projection_dim"],
            "logit_scale": tm["logit_scale"],
            "prompt_template": tm.get("prompt_template", PROMPT_TEMPLATE),
            "tokenizer": tok.manifest_entry(),
            "text": {
                "placement": "edge",
                "max_length": teacher.max_length,
                "position_id_offset": 0,
                "files": dict(TEXT_FILES),
                "external_data": {"int8": int8_data},
                "default_variant": "int8",
                "architecture": {
                    "type": "roberta",
                    **asdict(cfg),
                    "pooler": "tanh(dense(h[:,0]))",
                    "int8": stats,
                    "distilled_from": f"{teacher.id} {tm['version']}",
                },
            },
            "image": tm["image"],
            **(
                {"golden": {**tm["golden"], "tokens": "golden/tokens.json", "text": "golden/text.json"}}
                if (tm.get("golden") or {}).get("image") in copied
                else {}
            ),
            **({"demo": tm["demo"]} if tm.get("demo") and tm["demo"].get("index") in copied else {}),
            "training": {"method": "distillation", "distillation": distillation},
            "evaluation": evaluation,
            "files": list_files(out),
        }
        with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2)
            f.write("\n")
        manifest = check_staged(out, manifest, teacher_dir)
        log(f"fit {manifest['evaluation']['fit']}")
        swap_into_place(out, target)
        size = sum(f["bytes"] for f in manifest["files"].values())
        log(f"{target}: {size / 1e6:.1f} MB")
        return manifest
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, old_handler)
