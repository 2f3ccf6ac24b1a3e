"""`python -m koclip_kit lit --package models/koclip-tiny --out DIR`: a new text tower for a package,
trained against the package's own image tower held fixed (locked-image text tuning, "LiT", Zhai et
al. 2022), on everyday Korean (koclip_kit.everyday), with a tokenizer that never turns Hangul into
[UNK] (koclip_kit.tokenizer.build_jamo_vocab: NFD, words, syllables, jamo).

Why the image tower stays: its embeddings of every indexed image stay valid, so the package keeps
its id and version (the version names the embedding space, docs/models.md) and an index built
with it keeps working with the new text tower, as a distilled student's does; the image tower,
image goldens and demo set are copied byte for byte (koclip_kit.distill.copy_teacher_files). The
text tower's identity (the sha256 of its files) changes, so no cache serves the old tower's numbers
for it. And it is cheap: the image side of a batch is a table look-up, so training costs only the
small text tower on a CPU.

Start: the package's own text tower (load_onnx_text_tower reads the kit's ONNX export back into
PyTorch, checked at cosine >= 0.9999 against onnxruntime), its word rows carried over to the new
vocabulary by token (NFC), so training extends what the tower knows instead of relearning it.

Training: scenes of the synthetic train split (never a held-out colour-shape combination), their
images embedded once by the package's fp32 image tower (onnxruntime); each step draws a batch of
scenes and an everyday caption for each (everyday.train_caption), and minimises KoCLIP's symmetric
contrastive loss with attribute-aware targets (koclip_kit.train.contrastive_loss) at the package's
own logit scale (so /v1/score's probabilities keep their meaning), plus auxiliary attribute heads
on the text side, plus a slip term: a caption with a typo or a spacing slip is pulled to where the
same caption without it lands (its clean embedding, no gradient). An optional composition term
(`composition`, off by default) pulls "colour shape" to "colour 도형" + "shape" - ""; 2,000 more
steps with it from the shipped tower measured worse (paraphrase R-precision 0.894 against 0.924,
colour+shape precision@10 0.891), so it stays off (docs/benchmarks.md, "Everyday Korean").

Evaluation: the kit's synthetic test split with the same image tower (every existing target) and
the paraphrase set (everyday.paraphrase_set, frames never used in training) over the demo index,
R-precision >= 0.95.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.clip_grad import clip_grad_norm_

from . import data, everyday
from .common import F32, Json, cosines, file_sha256
from .contract import FP32_MIN_COSINE, INT8_MIN_COSINE
from .convert import Tok, onnx_text, peak_rss_mb
from .distill import TEXT_FILES, check_tokenizer_js, copy_teacher_files, list_files
from .errors import KitError
from .evaluate import evaluate, gallery, targets
from .fit import check_staged
from .model import TextConfig
from .onnx_export import export_text_module, quantize_text
from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS, staging_dir, swap_into_place, write_text_goldens
from .student import Student, torch_embed
from .teacher import Teacher
from .tokenizer import build_jamo_vocab, tokenizer_config, tokenizer_json
from .train import AUX, AuxHeads, contrastive_loss, mean_loss

R_PRECISION_TARGET = 0.95


def scene_pool(teacher: Teacher, n: int, seed: int, cache_dir: str | None, log: Any) -> tuple[list[data.Scene], F32]:
    """`n` train-split scenes and their image embeddings by the package's image tower, cached in
    `cache_dir` under the tower's sha256 (rendering and embedding 24k images takes minutes)."""
    rng = random.Random(seed * 7919 + 1)
    scenes = [data.sample_scene(rng, "train") for _ in range(n)]
    image_file = os.path.join(teacher.folder, teacher.manifest["image"]["file"])
    key = f"{file_sha256(image_file)[:16]}-{n}-{seed}"
    path = os.path.join(cache_dir, f"lit-pool-{key}.f32") if cache_dir else None
    dim = int(teacher.manifest["projection_dim"])
    if path and os.path.isfile(path):
        emb = np.fromfile(path, dtype=np.float32).reshape(n, dim)
        log(f"scene pool: {n} image embeddings from {path}")
        return scenes, emb
    emb = teacher.embed_scenes(scenes, lambda msg: log(f"scene pool: {msg}"))
    if path:
        os.makedirs(cache_dir or ".", exist_ok=True)
        emb.tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
    return scenes, emb


def load_onnx_text_tower(student: Student, onnx_path: str) -> None:
    """Loads a kit-exported ONNX text tower (koclip_kit.onnx_export.export_text) into `student`
    (same shape and vocabulary): named initializers by name; each anonymous MatMul weight is the
    Linear whose bias the next Add adds (transposed), the one without a bias the projection; the
    token-type row is the constant the export folded into an Add. Raises KitError when a parameter
    is left unassigned or a shape differs."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(onnx_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    params = dict(student.named_parameters())

    def param(name: str) -> str | None:
        """The parameter an initializer is named after (the export wraps a KoCLIP as `m.`)."""
        bare = name[2:] if name.startswith("m.") else name
        return bare if bare in params else None

    got: dict[str, np.ndarray[Any, Any]] = {}
    for name, value in inits.items():
        if (p := param(name)) is not None:
            got[p] = value
    nodes = list(g.node)
    for k, node in enumerate(nodes):
        w = next((i for i in node.input if i in inits and param(i) is None), None)
        if node.op_type == "MatMul" and w is not None:
            after = nodes[k + 1] if k + 1 < len(nodes) else None
            bias = None
            if after is not None and after.op_type == "Add":
                bias = next((b for i in after.input if (b := param(i)) is not None and b.endswith(".bias")), None)
            got[bias[: -len(".bias")] + ".weight" if bias else "text_projection.weight"] = inits[w].T
        elif node.op_type == "Add" and w is not None and inits[w].shape == (student.config.hidden_size,):
            got["text_model.embeddings.token_type_embeddings.weight"] = inits[w][None, :]
    missing = sorted(set(params) - set(got))
    if missing:
        raise KitError(f"{onnx_path}: no weights found for {missing}")
    with torch.no_grad():
        for name, p in params.items():
            value = torch.from_numpy(np.array(got[name], dtype=np.float32))
            if tuple(value.shape) != tuple(p.shape):
                raise KitError(f"{onnx_path}: {name} has shape {tuple(value.shape)}, expected {tuple(p.shape)}")
            p.copy_(value)


def init_from_package(student: Student, teacher: Teacher, tok: Tok, log: Any) -> Json:
    """Starts the new text tower from the package's: every layer as it is, and each word-embedding
    row whose token (composed again, NFC) the old vocabulary has; new pieces (jamo, new syllables
    and words) start as the mean of the old rows of their syllables where it has them, else random
    at the old table's scale. The old tower is loaded first at its own vocabulary and checked
    against its ONNX (cosine >= 0.9999) so a wrong mapping cannot pass silently."""
    import unicodedata

    old_vocab = teacher.tok.tok.get_vocab()
    old = Student(
        TextConfig(**{**vars(student.config), "vocab_size": teacher.tok.vocab_size, "pad_token_id": teacher.tok.pad}),
        int(teacher.manifest["projection_dim"]),
    )
    load_onnx_text_tower(old, teacher.fp32)
    texts = everyday_probe()
    ref = teacher.embed(texts)
    mine = torch_embed(old, teacher.tok, texts, teacher.max_length)
    agree = float(cosines(ref, mine).min())
    if agree < FP32_MIN_COSINE:
        raise KitError(f"the package's text tower loaded into PyTorch disagrees with its ONNX (min cosine {agree})")
    state = {k: v for k, v in old.state_dict().items() if not k.endswith("word_embeddings.weight")}
    student.load_state_dict(state, strict=False)
    table = old.text_model.embeddings.word_embeddings.weight.detach()
    scale = float(table.std())
    g = torch.Generator().manual_seed(0)
    copied = averaged = 0
    with torch.no_grad():
        w = student.text_model.embeddings.word_embeddings.weight
        w.copy_(torch.randn(w.shape, generator=g) * scale)
        for piece, i in tok.tok.get_vocab().items():
            nfc = unicodedata.normalize("NFC", piece)
            same = piece if piece in old_vocab else nfc if nfc in old_vocab else None
            if same is not None:  # the old vocabulary has it, decomposed (a lit package) or composed
                w[i] = table[old_vocab[same]]
                copied += 1
                continue
            body = nfc[2:] if nfc.startswith("##") else nfc
            rows = [old_vocab.get(("##" if k or nfc.startswith("##") else "") + ch) for k, ch in enumerate(body)]
            if body and all(r is not None for r in rows):
                w[i] = table[[r for r in rows if r is not None]].mean(0)
                averaged += 1
        w[tok.pad] = 0
    info = {
        "from": f"{teacher.id} {teacher.manifest['version']} text-fp32.onnx",
        "onnx_vs_pytorch_min_cosine": round(agree, 6),
        "word_rows_copied": copied,
        "word_rows_from_syllables": averaged,
        "word_rows_random": tok.vocab_size - copied - averaged,
    }
    log(f"init {info}")
    return info


def everyday_probe() -> list[str]:
    rng = random.Random(2)
    return [everyday.train_caption(data.sample_scene(rng, "train"), rng)[0] for _ in range(64)] + list(GOLDEN_CAPTIONS)


def paraphrase_eval(demo: tuple[list[dict[str, Any]], F32], embed: Any) -> Json:
    """R-precision of the paraphrase set over a package's demo index (`demo_index`: its items and
    embeddings as the service indexes them), with `embed` (texts -> normalised embeddings)."""
    items, img = demo
    queries = everyday.paraphrase_set(items)
    sims = embed([q["text"] for q in queries]) @ img.T
    out = everyday.r_precision(sims, queries, [it["metadata"] for it in items])
    digest = hashlib.sha256(json.dumps([q["text"] for q in queries], ensure_ascii=False).encode()).hexdigest()
    return {"set": "koclip_kit.everyday.paraphrase_set (EVAL_FRAMES, seed 23)", "sha256": digest, **out}


def composition_loss(student: Student, tok: Tok, rng: random.Random, max_length: int, n: int = 32) -> torch.Tensor:
    """Additive composition of colour and shape, from seen pairs only: a "colour shape" caption
    should land where "colour 도형" + "shape" - "" does (no gradient through the target). Pairs
    never seen (data.HELD_OUT) are never drawn; the term teaches the tower to combine the two
    words the same way for every pair, which is what carries over to the pairs it never saw."""
    rows: list[tuple[str, str, str]] = []
    while len(rows) < n:
        colour, shape = rng.choice(data.COLOUR_NAMES), rng.choice(data.SHAPE_NAMES)
        if (colour, shape) in data.HELD_OUT:
            continue
        mod = rng.choice(everyday.COLOUR_FORMS[colour][0])
        noun = rng.choice(everyday.SHAPE_FORMS[shape])
        rows.append((f"{mod} {noun}", f"{mod} 도형", noun))
    texts = [r[0] for r in rows]
    ids, mask = tok.batch(texts, max_length)
    pair = student(torch.tensor(ids), torch.tensor(mask))
    with torch.no_grad():
        parts = [r[1] for r in rows] + [r[2] for r in rows] + [""]
        p_ids, p_mask = tok.batch(parts, max_length)
        e = student(torch.tensor(p_ids), torch.tensor(p_mask))
        target = F.normalize(e[:n] + e[n : 2 * n] - e[-1:], dim=-1)
    return (1 - (pair * target).sum(-1)).mean()


def train_text(
    student: Student,
    tok: Tok,
    scenes: list[data.Scene],
    emb: F32,
    *,
    logit_scale: float,
    max_length: int,
    batch_size: int,
    steps: int | None,
    minutes: float | None,
    lr: float,
    seed: int,
    log: Any,
    composition: float = 0.0,
) -> tuple[Json, list[Json]]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    aux = AuxHeads(student.config.hidden_size, True)
    params = list(student.parameters()) + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    img = torch.from_numpy(emb)
    scale = torch.tensor(logit_scale)
    attrs = [s.attrs() for s in scenes]
    total, warm = steps, 100
    started = time.time()
    loss_log: list[Json] = []
    step = 0
    student.train()
    while total is None or step < total:
        if total is None and step == 20:
            assert minutes is not None
            per = (time.time() - started) / 20
            total = max(100, int(minutes * 60 / per))
            log(f"{per:.3f} s/step -> {total} steps in {minutes} min")
        frac = step / total if total else 0.0
        cur = lr * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur
        idx = rng.sample(range(len(scenes)), batch_size)
        caps = [everyday.train_caption(scenes[i], rng) for i in idx]
        ids, mask = tok.batch([c[0] for c in caps], max_length)
        match = torch.tensor([[data.satisfies(attrs[j], m) for j in idx] for _, m, _ in caps], dtype=torch.float32)
        hidden = student.text_model(torch.tensor(ids), torch.tensor(mask))
        t = F.normalize(student.text_projection(hidden), dim=-1)
        loss_c = contrastive_loss(t, img[idx], scale, match)
        heads = aux(hidden)
        labels = {k: torch.tensor([AUX[k].index(m[k]) if k in m else len(AUX[k]) for _, m, _ in caps]) for k in AUX}
        loss_a = mean_loss([F.cross_entropy(heads[k], labels[k]) for k in AUX])
        # a caption with a slip should land where the same caption without it does (the clean
        # one's embedding, without gradient, is the target)
        slipped = [i for i, c in enumerate(caps) if c[0] != c[2]]
        loss_s = torch.zeros(())
        if slipped:
            with torch.no_grad():
                c_ids, c_mask = tok.batch([caps[i][2] for i in slipped], max_length)
                clean = student(torch.tensor(c_ids), torch.tensor(c_mask))
            loss_s = (1 - (t[slipped] * clean).sum(-1)).mean()
        loss_k = composition_loss(student, tok, rng, max_length) if composition else torch.zeros(())
        loss: Any = loss_c + loss_a * 0.5 + loss_s + loss_k * composition  # Tensor.backward is untyped in 1.13
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(params, 5.0)
        opt.step()
        step += 1
        if step % 50 == 0 or step == total:
            rec = {
                "step": step,
                "loss": round(loss.item(), 4),
                "contrastive": round(loss_c.item(), 4),
                "aux_text": round(loss_a.item(), 4),
                "slips": round(loss_s.item(), 4),
                "composition": round(loss_k.item(), 4),
                "lr": round(cur, 6),
                "seconds": round(time.time() - started, 1),
            }
            loss_log.append(rec)
            log(json.dumps(rec))
    student.eval()
    return {"steps": step, "seconds": round(time.time() - started, 1)}, loss_log


def lit(
    package_dir: str,
    target: str,
    *,
    steps: int | None = None,
    minutes: float | None = 50.0,
    pool: int = 24000,
    batch_size: int = 256,
    lr: float = 5e-4,
    seed: int = 0,
    cache_dir: str | None = "build",
    composition: float = 0.0,
    require_targets: bool = False,
    quiet: bool = False,
) -> Json:
    """Writes `target`: the package at `package_dir` with a text tower (and tokenizer) trained
    here; returns its manifest. Any failure leaves `target` as it was."""
    started = time.time()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    def log(msg: str) -> None:
        if not quiet:
            print(
                f"[lit] {time.time() - started:7.1f}s rss {peak_rss_mb():6.0f} MB  {msg}", file=sys.stderr, flush=True
            )

    everyday.check_disjoint()
    teacher = Teacher(package_dir)
    tm = teacher.manifest
    max_length = teacher.max_length
    out = staging_dir(target, teacher.id)
    tmp = tempfile.mkdtemp(prefix="koclip-lit-")
    try:
        # the vocabulary and the scene pool do not follow `seed` (it draws the training batches), so
        # a run from a lit package (more training, another seed) keeps its tokenizer and cached pool
        corpus = everyday.corpus(20000, 0)
        vocab = build_jamo_vocab(corpus)
        with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(vocab, max_length, decompose=True), f, ensure_ascii=False)
        with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_config(max_length), f, indent=1)
        tok = Tok(out)
        log(f"tokenizer: {tok.vocab_size} pieces (words, syllables and every Hangul jamo; NFD)")
        scenes, emb = scene_pool(teacher, pool, 0, cache_dir, log)
        arch = tm["text"]["architecture"]
        cfg = TextConfig(
            vocab_size=tok.vocab_size,
            hidden_size=int(arch["hidden_size"]),
            num_hidden_layers=int(arch["num_hidden_layers"]),
            num_attention_heads=int(arch["num_attention_heads"]),
            intermediate_size=int(arch["intermediate_size"]),
            max_position_embeddings=max_length,
            position_id_offset=0,
            pad_token_id=tok.pad,
        )
        torch.manual_seed(seed)
        student = Student(cfg, int(tm["projection_dim"]))
        init = init_from_package(student, teacher, tok, log)
        summary, loss_log = train_text(
            student,
            tok,
            scenes,
            emb,
            logit_scale=float(tm["logit_scale"]),
            max_length=max_length,
            batch_size=batch_size,
            steps=steps,
            minutes=minutes,
            lr=lr,
            seed=seed,
            log=log,
            composition=composition,
        )
        text32, text8 = (os.path.join(out, f) for f in (TEXT_FILES["fp32"], TEXT_FILES["int8"]))
        export_text_module(student, text32)
        stats = quantize_text(text32, text8)
        copied = copy_teacher_files(teacher, out)
        write_text_goldens(
            out,
            lambda t: tok.encode(t, max_length),
            max_length,
            torch_embed(student, tok, GOLDEN_CAPTIONS, max_length),
            tokens_from="tokenizers (Python) on the package's tokenizer.json, cross-checked with "
            "@huggingface/tokenizers at export",
            text_from="PyTorch text tower (fp32) at export (koclip_kit.lit)",
        )
        demo = demo_index(package_dir)
        probe = [q["text"] for q in everyday.paraphrase_set(demo[0])]
        check_tokenizer_js(tok, os.path.join(out, "tokenizer.json"), GOLDEN_STRINGS + probe, max_length, tmp)
        ptexts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + probe
        ref = torch_embed(student, tok, ptexts, max_length)
        parity = {
            "text_fp32_min_cosine": round(
                float(cosines(ref, onnx_text(text32, tok, ptexts, max_length, tmp)).min()), 6
            ),
            "text_int8_min_cosine": round(float(cosines(ref, onnx_text(text8, tok, ptexts, max_length, tmp)).min()), 6),
        }
        if parity["text_fp32_min_cosine"] < FP32_MIN_COSINE or parity["text_int8_min_cosine"] < INT8_MIN_COSINE:
            raise KitError(f"ONNX parity below tolerance: {parity}")
        log(f"parity {parity}")

        def int8(texts: list[str]) -> F32:
            return onnx_text(text8, tok, texts, max_length, tmp)

        def fp32(texts: list[str]) -> F32:
            return onnx_text(text32, tok, texts, max_length, tmp)

        eval_seed, n = teacher.synthetic_split()
        g_scenes = gallery(n, eval_seed)
        g_img = teacher.embed_scenes(g_scenes)
        evaluation: Json = {
            "split": f"test (balanced synthetic, seed {eval_seed})",
            "parity": parity,
            "prompt_template": tm.get("prompt_template"),
            "image_tower": f"the package's {tm['image']['file']} (onnxruntime), unchanged",
            "onnx_fp32": evaluate(fp32, g_img, g_scenes, eval_seed),
            "onnx_int8": evaluate(int8, g_img, g_scenes, eval_seed),
        }
        evaluation["targets_int8"] = targets(evaluation["onnx_int8"])
        para = {
            "onnx_int8": paraphrase_eval(demo, int8),
            "onnx_fp32": paraphrase_eval(demo, fp32),
            "previous_text_tower_fp32": paraphrase_eval(demo, teacher.embed),
        }
        evaluation["paraphrases"] = para
        evaluation["targets_int8"][f"paraphrase_r_precision>={R_PRECISION_TARGET}"] = (
            para["onnx_int8"]["r_precision"] >= R_PRECISION_TARGET
        )
        log(f"targets {evaluation['targets_int8']}")
        log(f"paraphrases int8 {json.dumps(para['onnx_int8'], ensure_ascii=False)}")
        log(f"paraphrases previous {para['previous_text_tower_fp32']['r_precision']}")
        if require_targets and not all(evaluation["targets_int8"].values()):
            raise KitError(f"targets not met: {evaluation['targets_int8']}")
        evaluation["seconds"] = round(time.time() - started, 1)
        training = {
            "method": "locked-image text tuning (koclip_kit.lit): text tower and tokenizer trained against the "
            "package's fixed image tower",
            "previous_text_tower_sha256": file_sha256(teacher.fp32),
            "image_tower_training": previous_training(tm),
            "corpus": "koclip_kit.everyday.train_caption: 30% koclip_kit.data templates, 70% everyday frames; "
            f"{everyday.P_TYPO:.0%} typos, {everyday.P_SPACE:.0%} spacing slips",
            "loss": "contrastive (attribute-aware targets, the package's logit scale) + 0.5 x auxiliary text heads "
            "+ slips (1 - cosine to the clean caption's embedding) + composition_weight x composition (1 - cosine of "
            "'colour shape' to 'colour 도형' + 'shape' - '', seen pairs only)",
            "init": init,
            "scene_pool": pool,
            "batch_size": batch_size,
            "lr": lr,
            "composition_weight": composition,
            "seed": seed,
            "logit_scale": tm["logit_scale"],
            **summary,
            "loss_log": loss_log[-5:],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": "cpu",
            "seconds_total": round(time.time() - started, 1),
        }
        manifest: Json = {
            **{k: v for k, v in tm.items() if k not in ("files", "training", "evaluation")},
            "description": "Embedded default: KoCLIP architecture at a small size (RoBERTa text tower, small "
            "convolutional image tower), trained by scripts/model on synthetic Korean shape captions; text tower "
            "retrained on everyday Korean against the same image tower (koclip_kit.lit).",
            "tokenizer": tok.manifest_entry(),
            "text": {
                **{k: v for k, v in tm["text"].items() if k not in ("files", "external_data", "architecture")},
                "files": dict(TEXT_FILES),
                "architecture": {
                    "type": "roberta",
                    **{k: v for k, v in vars(cfg).items()},
                    "pooler": "tanh(dense(h[:,0]))",
                    "int8": stats,
                },
            },
            "training": training,
            "evaluation": evaluation,
        }
        if "golden" in tm:
            manifest["golden"] = {**tm["golden"], "tokens": "golden/tokens.json", "text": "golden/text.json"}
        if tm.get("demo") and tm["demo"].get("index") not in copied:
            raise KitError("the package's demo set was not copied")
        manifest["files"] = list_files(out)
        with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2)
            f.write("\n")
        manifest = check_staged(out, manifest, package_dir)
        swap_into_place(out, target)
        return manifest
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def previous_training(manifest: Json) -> Json:
    """The package's training record without its loss logs: how the image tower (kept) was trained."""
    t = manifest.get("training", {})
    return t.get("image_tower_training") or {k: v for k, v in t.items() if k not in ("loss_log", "log_tail")}


def demo_index(package_dir: str) -> tuple[list[dict[str, Any]], F32]:
    """The package's demo set: its items (id, metadata) and their image embeddings."""
    with open(os.path.join(package_dir, "demo", "index.json"), encoding="utf-8") as f:
        items: list[dict[str, Any]] = json.load(f)["items"]
    img = np.fromfile(os.path.join(package_dir, "demo", "embeddings.f32"), dtype="<f4").reshape(len(items), -1)
    return items, img
