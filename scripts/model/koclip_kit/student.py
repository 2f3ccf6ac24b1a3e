"""The student of distillation (koclip_kit.distill): its shape, a RoBERTa text model (koclip_kit.model,
Hugging Face parameter names) with a projection to the teacher's dim, its word-embedding
initialisation from the teacher's table, and its training to reproduce the teacher's normalised
embeddings (cosine + an in-batch relational term; AdamW, warm-up, cosine decay; seeded)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.clip_grad import clip_grad_norm_

from .common import F32, Json
from .convert import Tok
from .errors import InputError
from .model import RobertaModel, TextConfig

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
