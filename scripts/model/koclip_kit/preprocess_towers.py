"""The towers koclip_kit.preprocess_effects embeds with: koclip-tiny's trained image tower
(image-fp32.onnx through onnxruntime), and transformers' own classes at the real koclip-base /
koclip-large sizes (koclip_kit.fixtures' configs) with RANDOM weights (torch seed 0): the vision
towers (CLIPVisionModel's post-LayerNorm class token, ViTModel's pooler) and a
klue/roberta-large-sized RobertaModel with KoCLIP's position ids arange(T), each followed by a
random projection without bias and L2 normalisation."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .common import F32
from .repo import REPO

TINY_PACKAGE = os.path.join(REPO, "models", "koclip-tiny")

Embed = Callable[[F32], F32]


def image_towers(names: Sequence[str], shape: str = "full") -> dict[str, Embed]:
    """`tiny` (trained, onnxruntime) and `base` / `large` (random weights, transformers)."""
    out: dict[str, Embed] = {}
    for name in names:
        if name == "tiny":
            out[name] = _onnx(os.path.join(TINY_PACKAGE, "image-fp32.onnx"), "image_embeds")
        elif name in ("base", "large"):
            out[name] = _random_vision(name, shape)
        else:
            raise ValueError(f"tower must be tiny, base or large, not {name!r}")
    return out


def _onnx(path: str, output: str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return lambda *xs: sess.run([output], dict(zip(names, xs, strict=True)))[0]


def _random_vision(arch: str, shape: str) -> Embed:
    import torch
    from transformers import CLIPVisionModel, ViTModel

    from .fixtures import configs

    _, vc, dim = configs(arch, shape)
    torch.manual_seed(0)
    model = (CLIPVisionModel(vc) if arch == "base" else ViTModel(vc)).eval()
    proj = torch.nn.Linear(vc.hidden_size, dim, bias=False)

    def embed(px: F32) -> F32:
        with torch.no_grad():
            outs = [
                proj(model(pixel_values=torch.from_numpy(px[i : i + 8])).pooler_output) for i in range(0, len(px), 8)
            ]
        return torch.nn.functional.normalize(torch.cat(outs), dim=-1).numpy()

    return embed


def random_roberta(vocab_size: int, shape: str) -> Callable[[list[list[int]]], F32]:
    """klue/roberta-large's shape (koclip_kit.fixtures), random weights, KoCLIP's position ids arange(T)."""
    import torch
    from transformers import RobertaModel

    from .fixtures import configs

    tc, _, dim = configs("base", shape)
    tc.vocab_size = vocab_size
    torch.manual_seed(0)
    model = RobertaModel(tc).eval()
    proj = torch.nn.Linear(tc.hidden_size, dim, bias=False)

    def embed(ids: list[list[int]]) -> F32:
        x = torch.tensor(ids)
        with torch.no_grad():
            h = model(input_ids=x, token_type_ids=torch.zeros_like(x), position_ids=torch.arange(x.shape[1])[None])
            return torch.nn.functional.normalize(proj(h.pooler_output), dim=-1).numpy()

    return embed
