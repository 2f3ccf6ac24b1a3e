"""Random-weight KoCLIP checkpoints written by the real libraries, and those libraries' forward
passes: the converter's oracle (tests/test_convert.py, `python -m koclip_kit make-fixture`).

- flax: transformers' FlaxRobertaModel + FlaxCLIPVisionModel (base) or FlaxViTModel (large),
  their `params` assembled into the hybrid-clip tree (text_model, vision_model,
  text_projection/kernel, visual_projection/kernel, logit_scale) and written with
  flax.serialization.to_bytes, beside a `hybrid-clip` config.json (the shape of
  FlaxHybridCLIP's HybridCLIPConfig.to_dict()).
- torch: transformers' VisionTextDualEncoderModel, written by save_pretrained (pytorch_model.bin
  or model.safetensors) with its own config.json.
The tokenizer files are the kit's synthetic Korean WordPiece vocabulary (vocab.txt +
tokenizer_config.json for flax, tokenizer.json written by `tokenizers` for torch).

Needs requirements-convert.txt (transformers 4.44, jax, flax); imported only by what uses it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from . import data, tokenizer
from .common import F32, Array, cosines

SHAPES: dict[str, dict[str, Any]] = {
    # tiny dims, real architectures (CI)
    "small": {
        "text": {
            "vocab_size": 600,
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
            "max_position_embeddings": 130,
        },
        "base": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
        "large": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
        "projection_dim": 32,
    },
    # klue/roberta-large + CLIP ViT-B/32 (koclip-base) or google/vit-large-patch16-224 (koclip-large)
    "full": {
        "text": {
            "vocab_size": 32000,
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
            "max_position_embeddings": 514,
        },
        "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
        "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
        "projection_dim": 512,
    },
}


def configs(arch: str, size: str, projection_dim: int | None = None) -> tuple[Any, Any, int]:
    """Text and vision configs of a shape; `projection_dim` overrides the shape's (small towers
    with KoCLIP's real 512, where a score's numbers are measured)."""
    from transformers import CLIPVisionConfig, RobertaConfig, ViTConfig

    s = {**SHAPES[size], **({"projection_dim": projection_dim} if projection_dim else {})}
    text = RobertaConfig(
        **s["text"],
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        hidden_act="gelu",
    )
    if arch == "base":
        vision = CLIPVisionConfig(
            **s["base"],
            image_size=224,
            patch_size=32,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
            projection_dim=s["projection_dim"],
        )
    elif arch == "large":
        vision = ViTConfig(**s["large"], image_size=224, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-12)
    else:
        raise ValueError(f"arch must be base or large, not {arch!r}")
    return text, vision, int(s["projection_dim"])


def write_tokenizer(out: str, as_json: bool) -> None:
    vocab = tokenizer.build_vocab(data.corpus(2000, 1))
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": False, "model_max_length": 512}, f)
    vpath = os.path.join(out, "vocab.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    if as_json:
        from tokenizers.implementations import BertWordPieceTokenizer

        BertWordPieceTokenizer(vpath, lowercase=False, strip_accents=False).save(os.path.join(out, "tokenizer.json"))
        os.remove(vpath)


def make_flax(
    out: str, arch: str, size: str, seed: int = 0, projection_dim: int | None = None, logit_scale: float = 1.0
) -> None:
    import jax
    import jax.numpy as jnp
    from flax.serialization import to_bytes
    from transformers import FlaxCLIPVisionModel, FlaxRobertaModel, FlaxViTModel

    tc, vc, dim = configs(arch, size, projection_dim)
    os.makedirs(out, exist_ok=True)
    text = FlaxRobertaModel(tc, seed=seed)
    vision = (FlaxCLIPVisionModel if arch == "base" else FlaxViTModel)(vc, seed=seed + 1)
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed + 2))
    params = {
        "text_model": text.params,
        "vision_model": vision.params,
        "text_projection": {"kernel": jax.random.normal(k1, (tc.hidden_size, dim)) * 0.05},
        "visual_projection": {"kernel": jax.random.normal(k2, (vc.hidden_size, dim)) * 0.05},
        "logit_scale": jnp.array(logit_scale),  # KoCLIP's initial value unless given
    }
    del text, vision
    with open(os.path.join(out, "flax_model.msgpack"), "wb") as f:
        f.write(to_bytes(params))
    del params
    cfg = {
        "model_type": "hybrid-clip",
        "architectures": ["FlaxHybridCLIP"],
        "projection_dim": dim,
        "text_config": tc.to_dict(),
        "vision_config": vc.to_dict(),
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_tokenizer(out, as_json=False)


def make_torch(
    out: str,
    arch: str,
    size: str,
    safetensors: bool,
    seed: int = 0,
    projection_dim: int | None = None,
    logit_scale: float | None = None,
) -> None:
    import torch
    from transformers import VisionTextDualEncoderConfig, VisionTextDualEncoderModel

    tc, vc, dim = configs(arch, size, projection_dim)
    torch.manual_seed(seed)
    scale = {} if logit_scale is None else {"logit_scale_init_value": logit_scale}
    cfg = VisionTextDualEncoderConfig.from_vision_text_configs(vc, tc, projection_dim=dim, **scale)
    model = VisionTextDualEncoderModel(config=cfg)
    model.save_pretrained(out, safe_serialization=safetensors)
    write_tokenizer(out, as_json=True)


def _normalize(x: Array) -> F32:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class FlaxOracle:
    """FlaxHybridCLIP's forward pass, from transformers' Flax modules on the file's parameters:
    pooler_output of each tower, the projection kernel, L2 normalisation; position ids arange(T)."""

    def __init__(self, folder: str):
        from flax.serialization import msgpack_restore
        from transformers import (
            CLIPVisionConfig,
            FlaxCLIPVisionModel,
            FlaxRobertaModel,
            FlaxViTModel,
            RobertaConfig,
            ViTConfig,
        )

        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(folder, "flax_model.msgpack"), "rb") as f:
            self.params = msgpack_restore(f.read())
        self.text = FlaxRobertaModel(RobertaConfig(**cfg["text_config"]), _do_init=False)
        vcfg = cfg["vision_config"]
        if vcfg["model_type"] == "vit":
            self.vision: Any = FlaxViTModel(ViTConfig(**vcfg), _do_init=False)
        else:
            self.vision = FlaxCLIPVisionModel(CLIPVisionConfig(**vcfg), _do_init=False)

    def text_embeds(self, ids: Array, mask: Array) -> F32:
        pos = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
        out = self.text(
            ids, mask, token_type_ids=np.zeros_like(ids), position_ids=pos, params=self.params["text_model"]
        )
        return _normalize(np.asarray(out.pooler_output) @ np.asarray(self.params["text_projection"]["kernel"]))

    def image_embeds(self, px: F32) -> F32:
        out = self.vision(px, params=self.params["vision_model"])
        return _normalize(np.asarray(out.pooler_output) @ np.asarray(self.params["visual_projection"]["kernel"]))


class TorchOracle:
    """VisionTextDualEncoderModel.get_text_features / get_image_features, L2-normalised; RoBERTa's
    own position ids (padding_idx + 1 offset) unless `position_id_offset` is given."""

    def __init__(self, folder: str, position_id_offset: int | None = None):
        from transformers import VisionTextDualEncoderModel

        self.model = VisionTextDualEncoderModel.from_pretrained(folder).eval()
        self.offset = position_id_offset

    def text_embeds(self, ids: Array, mask: Array) -> F32:
        import torch

        kw = {}
        if self.offset is not None:
            kw["position_ids"] = torch.arange(ids.shape[1]).unsqueeze(0) + self.offset
        with torch.no_grad():
            e = self.model.get_text_features(torch.tensor(ids), torch.tensor(mask), **kw)
        return _normalize(e.numpy())

    def image_embeds(self, px: F32) -> F32:
        import torch

        with torch.no_grad():
            return _normalize(self.model.get_image_features(torch.from_numpy(px)).numpy())


def make(
    out: str,
    fmt: str,
    arch: str,
    size: str,
    seed: int = 0,
    projection_dim: int | None = None,
    logit_scale: float | None = None,
) -> float:
    """Writes one checkpoint folder; returns seconds taken. `logit_scale` is the raw scalar (None:
    each library's initial value, 1.0 for Flax KoCLIP, 2.6592 for the PyTorch port)."""
    t = time.time()
    if fmt == "flax":
        make_flax(out, arch, size, seed, projection_dim, 1.0 if logit_scale is None else logit_scale)
    elif fmt in ("safetensors", "bin"):
        make_torch(out, arch, size, fmt == "safetensors", seed, projection_dim, logit_scale)
    else:
        raise ValueError(f"format must be flax, safetensors or bin, not {fmt!r}")
    return time.time() - t


def oracle(checkpoint: str, package: str, tmp: str) -> dict[str, float]:
    """Minimum cosine of each ONNX tower of `package` (onnxruntime-node) against the library's
    own forward pass of `checkpoint` on the same inputs (golden and evaluation texts; golden
    pixels and random pixels)."""
    from .convert import Tok, onnx_image, onnx_text
    from .package import GOLDEN_CAPTIONS, GOLDEN_STRINGS

    with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    tok = Tok(package)
    max_length = int(m["text"]["max_length"])
    texts = GOLDEN_CAPTIONS + GOLDEN_STRINGS + data.corpus(24, 5)[:24]
    ids, mask = (np.array(x, dtype=np.int64) for x in tok.batch(texts, max_length))
    size = int(m["image"]["size"])
    with open(os.path.join(package, m["golden"]["image"]), encoding="utf-8") as f:
        golden = json.load(f)
    gpx = [np.fromfile(os.path.join(package, c["pixels"]), dtype="<f4").reshape(3, size, size) for c in golden["cases"]]
    rnd = np.random.default_rng(1).normal(size=(3, 3, size, size)).astype(np.float32)
    px = np.concatenate([np.stack(gpx), rnd])
    if os.path.isfile(os.path.join(checkpoint, "flax_model.msgpack")):
        ref: Any = FlaxOracle(checkpoint)
    else:
        ref = TorchOracle(checkpoint, None if m["text"]["position_id_offset"] == 2 else m["text"]["position_id_offset"])
    t_ref, i_ref = ref.text_embeds(ids, mask), ref.image_embeds(px)
    del ref
    out = {}
    for variant, rel in m["text"]["files"].items():
        out[f"text_{variant}_min_cosine"] = float(
            cosines(t_ref, onnx_text(os.path.join(package, rel), tok, texts, max_length, tmp)).min()
        )
    for variant, rel in m["image"].get("files", {"fp32": m["image"]["file"]}).items():
        out[f"image_{variant}_min_cosine"] = float(
            cosines(i_ref, onnx_image(os.path.join(package, rel), px, tmp)).min()
        )
    return {k: round(v, 6) for k, v in out.items()}
