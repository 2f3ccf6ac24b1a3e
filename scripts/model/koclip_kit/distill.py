"""`python -m koclip_kit distill --teacher PACKAGE --corpus CAPTIONS.txt --out OUT_DIR`: an edge-sized
student text tower trained to reproduce a teacher package's L2-normalised text embeddings, written
as a package in the teacher's embedding space (docs/models.md "Distil an edge student").

This module owns the distillation: reading the corpus, the teacher's targets (its own fp32 text
tower through onnxruntime, so every package can teach: koclip-tiny or one written by `convert`),
the optional vocabulary pruning, the student's initialisation and training, and the student's
package. The package keeps the teacher's id and version (the version names the embedding space,
and the image index is keyed by id + version, so the student searches the index the teacher's
image tower built) and copies the teacher's image tower, image goldens and demo set; it has the
student's tokenizer, text towers (fp32 + the kit's 7-bit int8, onnx_export.quantize_text), text
goldens, `edge` placement, a `training.distillation` record and the evaluation. It is written in
a staging folder, passes the ONNX parity checks and the isolate fit (koclip_kit.fit) and is then
swapped into place; any failure leaves OUT_DIR as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.clip_grad import clip_grad_norm_

from . import data
from .common import F32, Json
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE
from .convert import Tok, onnx_text, peak_rss_mb, return_freed_memory
from .errors import InputError, KitError
from .evaluate import evaluate, gallery
from .model import RobertaModel, TextConfig
from .onnx_export import export_text_module, quantize_text
from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS, _cos, run_node, sha256, staging_dir, swap_into_place

FORMAT = "koclip-model/1"
TEXT_FILES = {"fp32": "text-fp32.onnx", "int8": "text-int8.onnx"}
RECALL_RATIO_TARGET = 0.95  # the student keeps >= 95% of the teacher's t2i recall@5 (issue 10)
IMAGE_CHUNK = 240  # gallery images rendered and embedded at once (~145 MB of pixels)
LOG = Callable[[str], None]


@dataclass(frozen=True)
class StudentShape:
    """The student's RoBERTa shape (4-6 layers x 384-512 is edge-sized for a 32k vocabulary)."""

    layers: int = 4
    hidden: int = 384
    heads: int = 6
    intermediate: int = 1536

    def check(self) -> None:
        if not 1 <= self.layers <= 24:
            raise InputError(f"--layers must be 1..24, got {self.layers}")
        if self.hidden % self.heads:
            raise InputError(f"--hidden {self.hidden} is not a multiple of --heads {self.heads}")


@dataclass(frozen=True)
class Recipe:
    """How the student is trained (the defaults reach the recall target on koclip-tiny in minutes)."""

    steps: int | None = 400
    minutes: float | None = None
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    relational_weight: float = 1.0  # in-batch term: KL(softmax(t t^T / tau) || softmax(s t^T / tau))
    tau: float = 0.05
    seed: int = 0
    log_every: int = 25


# ---------------------------------------------------------------- corpus


def synthetic_captions(count: int, seed: int) -> list[str]:
    """`count` captions of the kit's synthetic scenes (data.py), half full descriptions and half any
    template (partial ones, prompts, English), for a demo corpus."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        scene = data.sample_scene(rng, "any")
        out.append((data.full_caption(scene, rng) if rng.random() < 0.5 else data.caption(scene, rng))[0])
    return out


def read_corpus(path: str) -> list[str]:
    """One caption per line (UTF-8), surrounding blanks stripped, blank lines ignored."""
    if not os.path.isfile(path):
        raise InputError(f"corpus {path} does not exist (one Korean caption per line)")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [s.strip() for s in f]
    except UnicodeDecodeError as err:
        raise InputError(f"corpus {path} is not UTF-8 text: {err}") from None
    lines = [s for s in lines if s]
    if not lines:
        raise InputError(f"corpus {path} has no captions (one per line; blank lines are ignored)")
    return lines


def split_corpus(lines: list[str], seed: int) -> tuple[list[str], list[str]]:
    """Distinct lines, shuffled by `seed`: (training lines, held-out lines). A tenth is held out
    (at most 1000); a corpus of one distinct line is its own held-out set."""
    uniq = list(dict.fromkeys(lines))
    random.Random(seed).shuffle(uniq)
    if len(uniq) == 1:
        return uniq, uniq
    n = min(1000, max(1, len(uniq) // 10))
    return uniq[n:], uniq[:n]


# ---------------------------------------------------------------- teacher


class Teacher:
    """A model package as teacher: its manifest, tokenizer and fp32 text tower (onnxruntime)."""

    def __init__(self, folder: str):
        path = os.path.join(folder, "manifest.json")
        if not os.path.isfile(path):
            raise InputError(f"teacher {folder} is not a model package (no manifest.json)")
        try:
            with open(path, encoding="utf-8") as f:
                self.manifest: Json = json.load(f)
        except json.JSONDecodeError as err:
            raise InputError(f"teacher manifest {path} is not JSON: {err}") from None
        m = self.manifest
        if m.get("format") != FORMAT:
            raise InputError(f"teacher manifest {path}: format {m.get('format')!r}, expected {FORMAT!r}")
        fp32 = (m.get("text") or {}).get("files", {}).get("fp32")
        if not fp32 or not os.path.isfile(os.path.join(folder, fp32)):
            raise InputError(f"teacher {folder} has no fp32 text tower (text.files.fp32) to take targets from")
        self.folder, self.fp32 = folder, os.path.join(folder, fp32)
        self.max_length = int(m["text"]["max_length"])
        self.offset = int(m["text"].get("position_id_offset", 0))
        self.tok = Tok(folder)
        self._session: Any = None

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    def session(self, path: str | None = None) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        return ort.InferenceSession(path or self.fp32, opts, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str], batch: int = 64) -> F32:
        """L2-normalised embeddings of the teacher's fp32 text tower, `batch` texts per run
        (sorted by length, so that a batch pads little)."""
        if self._session is None:
            self._session = self.session()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), int(self.manifest["projection_dim"])), dtype=np.float32)
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            ids, mask = self.tok.batch([texts[i] for i in idx], self.max_length)
            feeds = {"input_ids": np.array(ids, dtype=np.int64), "attention_mask": np.array(mask, dtype=np.int64)}
            out[idx] = self._session.run(["text_embeds"], feeds)[0]
        return out

    def embedding_table(self) -> F32 | None:
        """The word-embedding table of the fp32 text tower: the initializer gathered by input_ids."""
        import onnx
        from onnx import numpy_helper

        g = onnx.load(self.fp32).graph
        inits = {i.name: i for i in g.initializer}
        for node in g.node:
            if node.op_type == "Gather" and node.input[1] == "input_ids" and node.input[0] in inits:
                table = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
                if table.ndim == 2:
                    return table
        return None


# ---------------------------------------------------------------- tokenizer


def prune_vocab(tok: Tok, lines: list[str]) -> tuple[Any, dict[int, int]]:
    """The teacher's tokenizer with its WordPiece vocabulary cut to the tokens `lines` use plus
    the special tokens, ids renumbered in the teacher's order: (tokenizers.Tokenizer, old id ->
    new id). Greedy longest-match WordPiece picks the same pieces from the kept subset for every
    corpus word (each piece it picked is kept, and no longer kept piece was skipped before), so
    corpus captions encode to the remapped teacher ids. Built with the library's own objects
    (models.WordPiece with the new vocab; the teacher's normalizer, pre-tokenizer and decoder;
    special tokens added through add_special_tokens), never by editing JSON."""
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.processors import TemplateProcessing

    t = tok.tok
    model = t.model
    if not isinstance(model, WordPiece):
        raise KitError(f"--prune-vocab needs a WordPiece tokenizer (KoCLIP's); the teacher's is {type(model).__name__}")
    used: set[int] = set()
    for line in lines:
        used.update(t.encode(line, add_special_tokens=False).ids)
    specials = {i: a for i, a in t.get_added_tokens_decoder().items() if a.special}
    kept = sorted(used | set(specials))
    vocab = t.get_vocab(with_added_tokens=True)
    by_id = {i: s for s, i in vocab.items()}
    remap = {old: new for new, old in enumerate(kept)}
    new = Tokenizer(
        WordPiece(
            {by_id[old]: new for old, new in remap.items()},
            unk_token=model.unk_token,
            continuing_subword_prefix=model.continuing_subword_prefix,
            max_input_chars_per_word=model.max_input_chars_per_word,
        )
    )
    new.normalizer = t.normalizer
    new.pre_tokenizer = t.pre_tokenizer
    new.decoder = t.decoder
    new.add_special_tokens(
        [
            AddedToken(a.content, single_word=a.single_word, lstrip=a.lstrip, rstrip=a.rstrip, normalized=a.normalized)
            for _, a in sorted(specials.items())
        ]
    )
    cls, sep = remap[tok.cls], remap[tok.sep]
    new.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    for old, a in specials.items():
        if new.token_to_id(a.content) != remap[old]:
            raise KitError(f"pruned tokenizer put {a.content} at {new.token_to_id(a.content)}, not {remap[old]}")
    return new, remap


def student_tokenizer(teacher: Teacher, lines: list[str], prune: bool, out: str) -> tuple[Tok, dict[int, int] | None]:
    """Writes the student's tokenizer.json + tokenizer_config.json into `out` and loads it back."""
    remap = None
    if prune:
        pruned, remap = prune_vocab(teacher.tok, lines)
        pruned.save(os.path.join(out, "tokenizer.json"))
        cfg = os.path.join(teacher.folder, "tokenizer_config.json")
        if os.path.isfile(cfg):
            shutil.copy(cfg, os.path.join(out, "tokenizer_config.json"))
        Tok(out).save(out, teacher.max_length)  # the package's encoding rule, as for the teacher
    else:
        teacher.tok.save(out, teacher.max_length)
    return Tok(out), remap


# ---------------------------------------------------------------- student


class Student(nn.Module):
    """RoBERTa text model (koclip_kit.model, HF parameter names) + text_projection to the
    teacher's dim, L2-normalised: the package's text I/O contract."""

    def __init__(self, cfg: TextConfig, projection_dim: int):
        super().__init__()
        self.config = cfg
        self.text_model = RobertaModel(cfg)
        self.text_projection = nn.Linear(cfg.hidden_size, projection_dim, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(self.text_model(input_ids, attention_mask)), dim=-1)


def init_word_embeddings(student: Student, table: F32 | None, kept: list[int], seed: int) -> str:
    """Initialises the student's word embeddings from the teacher's table, when the teacher's ONNX
    has one: the rows of the kept tokens, projected on their top principal components (the
    directions along which the teacher's tokens differ most), scaled to unit variance like the
    default init of the position embeddings beside them; dims beyond the teacher's are random.
    Tokens that the teacher tells apart start apart, which random rows do only by chance."""
    w = student.text_model.embeddings.word_embeddings.weight
    pad = student.config.pad_token_id
    if table is None or table.shape[0] <= max(kept):
        return "random N(0, 1) (no word-embedding table found in the teacher's ONNX)"
    rows = table[kept].astype(np.float64)
    rows -= rows.mean(0, keepdims=True)
    u, s, _ = np.linalg.svd(rows, full_matrices=False)
    k = min(w.shape[1], len(s))
    proj = u[:, :k] * s[:k]
    proj /= proj.std() + 1e-12
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        init = torch.randn(w.shape, generator=g)
        init[:, :k] = torch.from_numpy(proj.astype(np.float32))
        init[pad] = 0
        w.copy_(init)
    return f"teacher's word embeddings ({table.shape[1]} dims), top {k} principal components, unit variance"


def _pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), t), pad, dtype=torch.int64)
    mask = torch.zeros((len(seqs), t), dtype=torch.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def losses(s: torch.Tensor, t: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean 1 - cosine(student, teacher), in-batch relational KL): the student's similarities to
    the batch's teacher embeddings should be distributed as the teacher's own."""
    cos = (1 - (s * t).sum(-1)).mean()
    target = (t @ t.T / tau).softmax(-1)
    kl = (target * (target.clamp_min(1e-12).log() - (s @ t.T / tau).log_softmax(-1))).sum(-1).mean()
    return cos, kl


def train_student(
    student: Student, seqs: list[list[int]], targets: F32, recipe: Recipe, log: LOG
) -> tuple[Json, list[Json]]:
    """AdamW with linear warm-up and cosine decay over `recipe.steps` (or a step count planned
    from the speed of the first 10 steps for `recipe.minutes`); returns (summary, loss log)."""
    pad = student.config.pad_token_id
    rng = np.random.default_rng(recipe.seed)
    opt = torch.optim.AdamW(student.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    tgt = torch.from_numpy(targets)
    total = recipe.steps or 10_000_000
    warm = 10 if recipe.steps is None else max(1, min(50, total // 20))
    perm, pos = rng.permutation(len(seqs)), 0
    loss_log: list[Json] = []
    started = time.time()
    student.train()
    step = 0
    while step < total:
        if pos + recipe.batch_size > len(perm):
            perm, pos = rng.permutation(len(seqs)), 0
        idx = perm[pos : pos + recipe.batch_size]
        pos += recipe.batch_size
        lr = recipe.lr * min(1.0, (step + 1) / warm)
        if step >= warm:
            lr = recipe.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
        for group in opt.param_groups:
            group["lr"] = lr
        ids, mask = _pad([seqs[i] for i in idx], pad)
        s = student(ids, mask)
        cos, kl = losses(s, tgt[idx], recipe.tau)
        loss: Any = cos + recipe.relational_weight * kl  # torch 1.13 types Tensor.backward as untyped
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        if recipe.steps is None and step == 10:
            assert recipe.minutes is not None
            per_step = (time.time() - started) / 10
            total = max(20, int(recipe.minutes * 60 / per_step))
            log(f"{per_step:.2f} s/step -> {total} steps in {recipe.minutes} min")
        if step % recipe.log_every == 0 or step == total:
            rec = {
                "step": step,
                "loss": round(float(loss), 5),
                "one_minus_cos": round(float(cos), 5),
                "relational_kl": round(float(kl), 5),
                "lr": round(lr, 7),
                "seconds": round(time.time() - started, 1),
            }
            loss_log.append(rec)
            log(
                f"step {step}/{total} loss {rec['loss']:.5f} (1-cos {rec['one_minus_cos']:.5f}, kl "
                f"{rec['relational_kl']:.5f}) lr {lr:.2e}"
            )
    student.eval()
    summary = {"steps": step, "seconds": round(time.time() - started, 1), "final_loss": loss_log[-1]["loss"]}
    return summary, loss_log


def torch_embed(student: Student, tok: Tok, texts: list[str], max_length: int) -> F32:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 256):
            ids, mask = tok.batch(texts[i : i + 256], max_length)
            out.append(student(torch.tensor(ids), torch.tensor(mask)).numpy())
    return np.concatenate(out)


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
        if not os.path.isfile(src) or sha256(src) != entry["sha256"]:
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
    run_node("tokenize", "--tokenizer", path, "--max-length", str(max_length), "--in", src, "--out", dst)
    with open(dst) as f:
        js = json.load(f)
    for t, ids in zip(texts, js, strict=True):
        if tok.encode(t, max_length) != ids:
            raise KitError(f"student tokenizer differs in @huggingface/tokenizers for {t!r}: {ids}")


def write_text_goldens(out: str, student: Student, tok: Tok, max_length: int) -> None:
    os.makedirs(os.path.join(out, "golden"), exist_ok=True)
    with open(os.path.join(out, "golden", "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "max_length": max_length,
                "cases": [{"text": t, "input_ids": tok.encode(t, max_length)} for t in GOLDEN_STRINGS],
                "provenance": "tokenizers (Python) on the student's tokenizer.json, cross-checked with "
                "@huggingface/tokenizers at distillation",
            },
            f,
            ensure_ascii=False,
            indent=1,
        )
    ref = torch_embed(student, tok, GOLDEN_CAPTIONS, max_length)
    with open(os.path.join(out, "golden", "text.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "cases": [
                    {
                        "text": t,
                        "input_ids": tok.encode(t, max_length),
                        "embedding": [round(float(x), 7) for x in e],
                    }
                    for t, e in zip(GOLDEN_CAPTIONS, ref, strict=True)
                ],
                "tolerance": {"fp32_min_cosine": FP32_MIN_COSINE, "int8_min_cosine": INT8_MIN_COSINE},
                "provenance": "distilled student's PyTorch text tower (fp32)",
            },
            f,
            ensure_ascii=False,
            indent=1,
        )


def synthetic_recall(teacher: Teacher, student_text: Callable[[list[str]], F32], log: LOG) -> Json:
    """Teacher and student on the synthetic test split the teacher was evaluated on, against the
    teacher's own (fp32 ONNX) image embeddings: the student searches the teacher's index."""
    ev = teacher.manifest.get("evaluation", {})
    seed = int(str(ev.get("split", "seed 3")).rstrip(")").split()[-1]) if "seed" in str(ev.get("split", "")) else 3
    n = int((ev.get("onnx_int8") or ev.get("onnx_fp32") or {}).get("gallery_images", 2400))
    scenes = gallery(n, seed)
    image = teacher.session(os.path.join(teacher.folder, teacher.manifest["image"]["file"]))
    img = np.concatenate(
        [
            image.run(["image_embeds"], {"pixel_values": data.pixel_batch(scenes[i : i + IMAGE_CHUNK])})[0]
            for i in range(0, len(scenes), IMAGE_CHUNK)
        ]
    )
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
                files[rel] = {"sha256": sha256(p), "bytes": os.path.getsize(p)}
    return dict(sorted(files.items()))


def corpus_sha256(lines: list[str]) -> str:
    return hashlib.sha256("".join(s + "\n" for s in lines).encode("utf-8")).hexdigest()


def distill(
    teacher_dir: str,
    corpus_path: str,
    target: str,
    *,
    shape: StudentShape = StudentShape(),
    recipe: Recipe = Recipe(),
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
        copied = copy_teacher_files(teacher, out)
        write_text_goldens(out, student, tok, teacher.max_length)
        check_tokenizer_js(
            tok, os.path.join(out, "tokenizer.json"), GOLDEN_STRINGS + held_out[:300], teacher.max_length, tmp
        )
        ptexts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + held_out[:300]
        ref = torch_embed(student, tok, ptexts, teacher.max_length)
        parity = {
            "text_fp32_min_cosine": round(
                float(_cos(ref, onnx_text(text32, tok, ptexts, teacher.max_length, tmp)).min()), 6
            ),
            "text_int8_min_cosine": round(
                float(_cos(ref, onnx_text(text8, tok, ptexts, teacher.max_length, tmp)).min()), 6
            ),
        }
        if parity["text_fp32_min_cosine"] < FP32_MIN_COSINE or parity["text_int8_min_cosine"] < INT8_MIN_COSINE:
            raise KitError(f"student ONNX parity below tolerance: {parity}")
        log(f"parity {parity}")

        def student_int8(texts: list[str]) -> F32:
            return onnx_text(text8, tok, texts, teacher.max_length, tmp)

        held = _cos(student_int8(held_out), targets[len(train_lines) :])
        held_fp32 = _cos(torch_embed(student, tok, held_out, teacher.max_length), targets[len(train_lines) :])
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
                "text_tower_sha256": sha256(teacher.fp32),
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
            "prompt_template": tm.get("prompt_template", "이것은 {} 이다."),
            "tokenizer": {
                "file": "tokenizer.json",
                "pad_token_id": tok.pad,
                "cls_token_id": tok.cls,
                "sep_token_id": tok.sep,
                "unk_token_id": tok.unk,
            },
            "text": {
                "placement": "edge",
                "max_length": teacher.max_length,
                "position_id_offset": 0,
                "files": dict(TEXT_FILES),
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
        from .fit import check_staged

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
