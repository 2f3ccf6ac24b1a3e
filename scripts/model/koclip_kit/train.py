"""Training: KoCLIP's symmetric contrastive loss with attribute-aware targets, plus auxiliary
attribute heads that make shape learnable quickly on a CPU.

The contrastive targets generalise CLIP's identity matrix: caption i and image j are a positive
pair when the image has every attribute the caption mentions (a batch of synthetic scenes holds
many such duplicates, which plain CLIP would push apart as negatives). With unique pairs it is
exactly KoCLIP's loss.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.clip_grad import clip_grad_norm_

from . import data
from .common import Json
from .model import KoCLIP, ModelConfig, TextConfig, VisionConfig
from .tokenizer import PAD_ID, WordPiece

# auxiliary heads: attribute -> list of values ("unspecified" is appended for text heads)
AUX: dict[str, list[Any]] = {
    "colour": data.COLOUR_NAMES,
    "shape": data.SHAPE_NAMES,
    "count": [1, 2, 3],
    "size": data.SIZE_NAMES,
    "position": data.POSITION_NAMES,
    "background": data.BACKGROUND_NAMES,
}


class AuxHeads(nn.Module):
    def __init__(self, dim: int, text: bool) -> None:
        super().__init__()
        extra = 1 if text else 0
        self.heads = nn.ModuleDict({k: nn.Linear(dim, len(v) + extra) for k, v in AUX.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: h(x) for k, h in self.heads.items()}


Batch = dict[str, Any]
"""input_ids, attention_mask, pixel_values, match: tensors; img_labels, txt_labels: attribute -> tensor."""


def make_batch(step: int, seed: int, batch_size: int, tok: WordPiece, max_length: int) -> Batch:
    rng = random.Random(seed * 1_000_003 + step)
    scenes = [data.sample_scene(rng, "train") for _ in range(batch_size)]
    caps = [data.full_caption(s, rng) if rng.random() < 0.35 else data.caption(s, rng) for s in scenes]
    ids, mask = tok.batch([c[0] for c in caps], max_length)
    pix = data.pixel_batch(scenes)
    match = np.array([[data.satisfies(s.attrs(), m) for s in scenes] for _, m in caps], dtype=np.float32)
    img_labels = {k: [AUX[k].index(getattr(s, k)) for s in scenes] for k in AUX}
    txt_labels = {k: [AUX[k].index(m[k]) if k in m else len(AUX[k]) for _, m in caps] for k in AUX}
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "pixel_values": torch.from_numpy(pix),
        "match": torch.from_numpy(match),
        "img_labels": {k: torch.tensor(v) for k, v in img_labels.items()},
        "txt_labels": {k: torch.tensor(v) for k, v in txt_labels.items()},
    }


class Batches(torch.utils.data.IterableDataset[Batch]):
    def __init__(self, start: int, seed: int, batch_size: int, tok: WordPiece, max_length: int) -> None:
        self.start, self.seed, self.bs, self.tok, self.max_length = start, seed, batch_size, tok, max_length

    def __iter__(self) -> Iterator[Batch]:
        step = self.start
        while True:
            yield make_batch(step, self.seed, self.bs, self.tok, self.max_length)
            step += 1


def contrastive_loss(t: torch.Tensor, i: torch.Tensor, scale: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    logits = scale.exp() * t @ i.t()
    t2i = -(match / match.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    i2t = -(match.t() / match.t().sum(1, keepdim=True) * logits.t().log_softmax(1)).sum(1).mean()
    return (t2i + i2t) / 2


def mean_loss(losses: list[torch.Tensor]) -> torch.Tensor:
    """sum(losses) / len(losses), summed left to right."""
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return torch.div(total, len(losses))


def build_model(vocab_size: int, max_length: int, smoke: bool) -> KoCLIP:
    tc = TextConfig(vocab_size=vocab_size, max_position_embeddings=max_length)
    vc = VisionConfig()
    if smoke:
        tc.num_hidden_layers, vc.widths = 1, [8, 8, 16, 16, 32]
    return KoCLIP(ModelConfig(tc, vc))


def train(
    out_dir: str,
    tokenizer_path: str,
    *,
    seed: int,
    batch_size: int,
    steps: int | None,
    minutes: float | None,
    max_length: int,
    device: str,
    smoke: bool,
    log_every: int = 25,
    lr: float = 1e-3,
) -> Json:
    """Trains for `steps` steps or, without them, about `minutes` minutes (the step count is
    planned from the first 20 steps' speed)."""
    if steps is None and minutes is None:
        raise ValueError("train() needs steps or minutes")
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    from .tokenizer import load

    tok = load(tokenizer_path)
    model = build_model(len(tok.tokens), max_length, smoke).to(device)
    d_t, d_i = model.config.text.hidden_size, model.config.vision.hidden_size
    aux_img, aux_txt = AuxHeads(d_i, False).to(device), AuxHeads(d_t, True).to(device)
    params = list(model.named_parameters()) + list(aux_img.named_parameters()) + list(aux_txt.named_parameters())
    decay = [p for n, p in params if p.ndim >= 2]
    no_decay = [p for n, p in params if p.ndim < 2 and n != "logit_scale"]
    # the temperature starts at KoCLIP's 1.0; a larger step lets it reach a useful sharpness
    # within a short CPU run (Adam moves a parameter by about lr per step)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": 0.02, "lr_mult": 1.0},
            {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
            {"params": [model.logit_scale], "weight_decay": 0.0, "lr_mult": 10.0},
        ],
        lr=lr,
    )
    workers: dict[str, Any] = {} if smoke else {"num_workers": 1, "prefetch_factor": 4}
    loader = torch.utils.data.DataLoader(Batches(0, seed, batch_size, tok, max_length), batch_size=None, **workers)
    started = time.time()
    total = steps
    warmup = 10 if smoke else 150
    log = []
    it = iter(loader)
    step = 0
    while True:
        if total is not None and step >= total:
            break
        if total is None and step == 20:
            assert minutes is not None  # no steps given
            per_step = (time.time() - started) / 20
            total = max(40, int(minutes * 60 / per_step))
            print(f"[train] {per_step:.2f} s/step -> {total} steps in {minutes} min", flush=True)
        frac = step / total if total else 0.0
        cur_lr = lr * min(1.0, (step + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur_lr * g["lr_mult"]
        b = next(it)
        ids, mask = b["input_ids"].to(device), b["attention_mask"].to(device)
        pix, match = b["pixel_values"].to(device), b["match"].to(device)
        th = model.text_model(ids, mask)
        ih = model.vision_model(pix)
        t = F.normalize(model.text_projection(th), dim=-1)
        i = F.normalize(model.visual_projection(ih), dim=-1)
        scale = model.logit_scale.clamp(max=math.log(100.0))
        loss_c = contrastive_loss(t, i, scale, match)
        pi, pt = aux_img(ih), aux_txt(th)
        loss_ai = mean_loss([F.cross_entropy(pi[k], b["img_labels"][k].to(device)) for k in AUX])
        loss_at = mean_loss([F.cross_entropy(pt[k], b["txt_labels"][k].to(device)) for k in AUX])
        loss = loss_c + loss_ai + 0.5 * loss_at
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(max=math.log(100.0))
        step += 1
        if step % log_every == 0 or step == total:
            rec = {
                "step": step,
                "loss": round(loss.item(), 4),
                "contrastive": round(loss_c.item(), 4),
                "aux_image": round(loss_ai.item(), 4),
                "aux_text": round(loss_at.item(), 4),
                "logit_scale": round(model.logit_scale.item(), 4),
                "lr": round(cur_lr, 6),
                "seconds": round(time.time() - started, 1),
            }
            log.append(rec)
            print("[train]", json.dumps(rec), flush=True)
        if step % 200 == 0:
            save(model, out_dir, tok, {"steps": step, "partial": True})
    info = {
        "seed": seed,
        "steps": step,
        "batch_size": batch_size,
        "seconds": round(time.time() - started, 1),
        "device": device,
        "lr": lr,
        "smoke": smoke,
        "loss_log": log[-5:],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    save(model, out_dir, tok, info)
    return info


def save(model: KoCLIP, out_dir: str, tok: WordPiece, info: Json) -> None:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "checkpoint.pt")
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict(), "training": info}, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_checkpoint(path: str) -> tuple[KoCLIP, Json]:
    ck = torch.load(path, map_location="cpu")
    model = KoCLIP(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck["training"]


__all__ = ["PAD_ID", "load_checkpoint", "make_batch", "train"]
