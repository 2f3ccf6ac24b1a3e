"""PyTorch towers of the real KoCLIP architectures, for the converter (koclip_kit.convert).

Parameter names are Hugging Face's PyTorch names (RobertaModel, CLIPVisionTransformer, ViTModel
inside VisionTextDualEncoderModel: `text_model.encoder.layer.0.attention.self.query.weight`,
`vision_model.encoder.layers.0.self_attn.q_proj.weight`, ...) with one layout change: every dense
weight is stored [in, out] (Flax's `kernel` layout; PyTorch's nn.Linear is [out, in]) so that the
ONNX graph is `MatMul(x, W)` on the parameter itself. The graph is exported without parameters
(`export_params=False`) and the weights are streamed into the file afterwards (onnx_stream), so
nothing here may transform a parameter inside forward() except by ops the runtime does anyway.

Parameters are created with torch.empty (no initialisation, pages untouched) and replaced by the
checkpoint's tensors before use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(torch.mul(x, 1.702))


def _act(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "gelu":  # erf GELU (transformers' "gelu", Flax's nn.gelu(approximate=False))
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "quick_gelu":
        return _quick_gelu
    if name == "relu":
        return F.relu
    raise ValueError(f"unsupported hidden_act {name!r}")


def _p(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.empty(*shape), requires_grad=False)


class Dense(nn.Module):
    """y = x @ weight (+ bias); weight is [in, out]."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = _p(d_in, d_out)
        self.bias = _p(d_out) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight)
        return y + self.bias if self.bias is not None else y


class LayerNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight, self.bias, self.eps, self.d = _p(d), _p(d), eps, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.d,), self.weight, self.bias, self.eps)


class Embedding(nn.Module):
    def __init__(self, n: int, d: int):
        super().__init__()
        self.weight = _p(n, d)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


def _heads(x: torch.Tensor, h: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.reshape(b, t, h, d // h).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


# ---------------------------------------------------------------- text: RoBERTa (BERT post-LN)


@dataclass(frozen=True)
class TextArch:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str
    pad_token_id: int


class _Named(nn.Module):
    """A container whose children are set by attribute (mirrors HF's module paths)."""

    def __getattr__(self, name: str) -> Any:
        return super().__getattr__(name)


class RobertaLayer(nn.Module):
    def __init__(self, a: TextArch):
        super().__init__()
        h, i, eps = a.hidden_size, a.intermediate_size, a.layer_norm_eps
        self.heads = a.num_attention_heads
        self.attention = _Named()
        self.attention.self = _Named()
        self.attention.self.query = Dense(h, h)
        self.attention.self.key = Dense(h, h)
        self.attention.self.value = Dense(h, h)
        self.attention.output = _Named()
        self.attention.output.dense = Dense(h, h)
        self.attention.output.LayerNorm = LayerNorm(h, eps)
        self.intermediate = _Named()
        self.intermediate.dense = Dense(h, i)
        self.output = _Named()
        self.output.dense = Dense(i, h)
        self.output.LayerNorm = LayerNorm(h, eps)
        self.act = _act(a.hidden_act)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        s = self.attention.self
        q, k, v = (_heads(m(x), self.heads) for m in (s.query, s.key, s.value))
        scores = torch.div(torch.matmul(q, k.transpose(-1, -2)), math.sqrt(q.shape[-1])) + bias
        ctx = _merge(torch.matmul(scores.softmax(-1), v))
        a = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + x)
        return self.output.LayerNorm(self.output.dense(self.act(self.intermediate.dense(a))) + a)


class RobertaText(nn.Module):
    """input_ids, attention_mask -> pooled [B, H] = tanh(dense(h[:, 0])) (RoBERTa's pooler);
    position ids are arange(T) + position_id_offset."""

    def __init__(self, a: TextArch, position_id_offset: int):
        super().__init__()
        h = a.hidden_size
        self.offset = position_id_offset
        self.embeddings = _Named()
        self.embeddings.word_embeddings = Embedding(a.vocab_size, h)
        self.embeddings.position_embeddings = Embedding(a.max_position_embeddings, h)
        self.embeddings.token_type_embeddings = Embedding(a.type_vocab_size, h)
        self.embeddings.LayerNorm = LayerNorm(h, a.layer_norm_eps)
        self.encoder = _Named()
        self.encoder.layer = nn.ModuleList([RobertaLayer(a) for _ in range(a.num_hidden_layers)])
        self.pooler = _Named()
        self.pooler.dense = Dense(h, h)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        pos = torch.arange(input_ids.shape[1], dtype=torch.int64).unsqueeze(0) + self.offset
        x = e.word_embeddings(input_ids) + e.position_embeddings(pos) + e.token_type_embeddings.weight[0]
        x = e.LayerNorm(x)
        bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -1e9
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return torch.tanh(self.pooler.dense(x[:, 0]))


# ---------------------------------------------------------------- image: CLIP ViT and ViT


@dataclass(frozen=True)
class VisionArch:
    kind: str  # "clip" (CLIPVisionTransformer) or "vit" (ViTModel with pooler)
    image_size: int
    patch_size: int
    num_channels: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    layer_norm_eps: float
    hidden_act: str
    qkv_bias: bool = True

    @property
    def num_positions(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


class ClipLayer(nn.Module):
    def __init__(self, a: VisionArch):
        super().__init__()
        h, eps = a.hidden_size, a.layer_norm_eps
        self.heads = a.num_attention_heads
        self.self_attn = _Named()
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, n, Dense(h, h))
        self.layer_norm1 = LayerNorm(h, eps)
        self.mlp = _Named()
        self.mlp.fc1 = Dense(h, a.intermediate_size)
        self.mlp.fc2 = Dense(a.intermediate_size, h)
        self.layer_norm2 = LayerNorm(h, eps)
        self.act = _act(a.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.self_attn
        y = self.layer_norm1(x)
        q, k, v = (_heads(m(y), self.heads) for m in (s.q_proj, s.k_proj, s.v_proj))
        q = q * (q.shape[-1] ** -0.5)
        x = x + s.out_proj(_merge(torch.matmul(torch.matmul(q, k.transpose(-1, -2)).softmax(-1), v)))
        return x + self.mlp.fc2(self.act(self.mlp.fc1(self.layer_norm2(x))))


class ViTLayer(nn.Module):
    def __init__(self, a: VisionArch):
        super().__init__()
        h, i, eps = a.hidden_size, a.intermediate_size, a.layer_norm_eps
        self.heads = a.num_attention_heads
        self.attention = _Named()
        self.attention.attention = _Named()
        for n in ("query", "key", "value"):
            setattr(self.attention.attention, n, Dense(h, h, bias=a.qkv_bias))
        self.attention.output = _Named()
        self.attention.output.dense = Dense(h, h)
        self.intermediate = _Named()
        self.intermediate.dense = Dense(h, i)
        self.output = _Named()
        self.output.dense = Dense(i, h)
        self.layernorm_before = LayerNorm(h, eps)
        self.layernorm_after = LayerNorm(h, eps)
        self.act = _act(a.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.attention.attention
        y = self.layernorm_before(x)
        q, k, v = (_heads(m(y), self.heads) for m in (s.query, s.key, s.value))
        scores = torch.div(torch.matmul(q, k.transpose(-1, -2)), math.sqrt(q.shape[-1]))
        x = x + self.attention.output.dense(_merge(torch.matmul(scores.softmax(-1), v)))
        return x + self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x))))


class Vision(nn.Module):
    """pixel_values [B,3,S,S] -> pooled [B, H]: CLIP = post_layernorm(h[:, 0]); ViT =
    tanh(pooler.dense(layernorm(h)[:, 0]))."""

    def __init__(self, a: VisionArch):
        super().__init__()
        self.kind, self.patch = a.kind, a.patch_size
        h, eps = a.hidden_size, a.layer_norm_eps
        self.embeddings = _Named()
        self.encoder = _Named()
        if a.kind == "clip":
            self.embeddings.class_embedding = _p(h)
            self.embeddings.patch_embedding = _Named()
            self.embeddings.patch_embedding.weight = _p(h, a.num_channels, a.patch_size, a.patch_size)
            self.embeddings.position_embedding = Embedding(a.num_positions, h)
            self.pre_layrnorm = LayerNorm(h, eps)
            self.encoder.layers = nn.ModuleList([ClipLayer(a) for _ in range(a.num_hidden_layers)])
            self.post_layernorm = LayerNorm(h, eps)
        elif a.kind == "vit":
            self.embeddings.cls_token = _p(1, 1, h)
            self.embeddings.position_embeddings = _p(1, a.num_positions, h)
            self.embeddings.patch_embeddings = _Named()
            self.embeddings.patch_embeddings.projection = _Named()
            proj = self.embeddings.patch_embeddings.projection
            proj.weight = _p(h, a.num_channels, a.patch_size, a.patch_size)
            proj.bias = _p(h)
            self.encoder.layer = nn.ModuleList([ViTLayer(a) for _ in range(a.num_hidden_layers)])
            self.layernorm = LayerNorm(h, eps)
            self.pooler = _Named()
            self.pooler.dense = Dense(h, h)
        else:
            raise ValueError(f"unsupported vision kind {a.kind!r}")

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        b = pixel_values.shape[0]
        if self.kind == "clip":
            x = F.conv2d(pixel_values, e.patch_embedding.weight, stride=self.patch).flatten(2).transpose(1, 2)
            cls = e.class_embedding.reshape(1, 1, -1).expand(b, 1, -1)
            x = torch.cat([cls, x], dim=1) + e.position_embedding.weight.unsqueeze(0)
            x = self.pre_layrnorm(x)
            for layer in self.encoder.layers:
                x = layer(x)
            return self.post_layernorm(x[:, 0])
        p = e.patch_embeddings.projection
        x = F.conv2d(pixel_values, p.weight, p.bias, stride=self.patch).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(b, 1, -1), x], dim=1) + e.position_embeddings
        for layer in self.encoder.layer:
            x = layer(x)
        return torch.tanh(self.pooler.dense(self.layernorm(x)[:, 0]))


class TextTower(nn.Module):
    """The ONNX text tower: L2-normalised text_projection(pooled)."""

    def __init__(self, a: TextArch, projection_dim: int, position_id_offset: int):
        super().__init__()
        self.text_model = RobertaText(a, position_id_offset)
        self.text_projection = Dense(a.hidden_size, projection_dim, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(self.text_model(input_ids, attention_mask)), dim=-1)


class ImageTower(nn.Module):
    """The ONNX image tower: L2-normalised visual_projection(pooled)."""

    def __init__(self, a: VisionArch, projection_dim: int):
        super().__init__()
        self.vision_model = Vision(a)
        self.visual_projection = Dense(a.hidden_size, projection_dim, bias=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual_projection(self.vision_model(pixel_values)), dim=-1)


def dense_weights(m: nn.Module) -> set[str]:
    """Names of the [in, out] dense weights of `m` (transposed from PyTorch's nn.Linear layout)."""
    return {f"{name}.weight" if name else "weight" for name, mod in m.named_modules() if isinstance(mod, Dense)}
