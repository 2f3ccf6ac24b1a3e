"""KoCLIP-architecture dual encoder at a small size (PyTorch).

Parameter names mirror Hugging Face's VisionTextDualEncoder / RoBERTa modules
(`text_model.embeddings.word_embeddings.weight`, `text_model.encoder.layer.0.attention.self.query`,
`text_model.pooler.dense`, `text_projection`, `visual_projection`, `logit_scale`) so converted
real checkpoints can load into the same text classes. The embedded default uses a small
convolutional image tower (CLIP has ResNet towers too): ViTs trained from scratch on a CPU budget
did not learn shape; the serving code depends only on the ONNX I/O contract
(docs/model-package.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TextConfig:
    vocab_size: int = 512
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 64
    position_id_offset: int = 0  # KoCLIP (Flax) passes arange(T); RoBERTa would be pad_id + 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1
    hidden_act: str = "gelu"


@dataclass
class VisionConfig:
    kind: str = "conv"
    image_size: int = 224
    widths: list[int] = field(default_factory=lambda: [24, 32, 48, 96, 160])
    hidden_size: int = 256


@dataclass
class ModelConfig:
    text: TextConfig = field(default_factory=TextConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    projection_dim: int = 256
    logit_scale_init: float = 1.0  # KoCLIP's initial value (CLIP uses 2.6592)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ModelConfig:
        return ModelConfig(
            TextConfig(**d["text"]), VisionConfig(**d["vision"]), d["projection_dim"], d["logit_scale_init"]
        )


# ---------------------------------------------------------------- text tower (RoBERTa)


class RobertaEmbeddings(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings + c.position_id_offset, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(1, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(0.0)
        self.offset = c.position_id_offset

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        position_ids = torch.arange(t, device=input_ids.device).unsqueeze(0) + self.offset
        # token_type_ids are all zero in KoCLIP
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(position_ids)
            + self.token_type_embeddings.weight[0]
        )
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.div(torch.matmul(q, k.transpose(-1, -2)), math.sqrt(self.head_dim)) + bias
        ctx = torch.matmul(scores.softmax(-1), v)
        return ctx.transpose(1, 2).reshape(b, t, -1)


class DenseLayerNorm(nn.Module):
    def __init__(self, d_in: int, d_out: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseLayerNorm(c.hidden_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLayerNorm(c.intermediate_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        h = self.attention(x, bias)
        return self.output(self.intermediate(h), h)


class Encoder(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(h[:, 0]))  # RoBERTa's pooler: tanh(dense(h[:, 0]))


class RobertaModel(nn.Module):
    def __init__(self, c: TextConfig):
        super().__init__()
        self.config = c
        self.embeddings = RobertaEmbeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        return self.pooler(self.encoder(self.embeddings(input_ids), bias))


# ---------------------------------------------------------------- image tower (small CNN)


def _conv(c_in: int, c_out: int, k: int, s: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ConvVisionModel(nn.Module):
    """2x average pool, conv stem to stride 4, stride-2 stages to a 7x7 map, then global
    average, global max and a coarse 7x7 map (so count and position survive pooling) into a
    dense `pooler` and a final LayerNorm."""

    def __init__(self, c: VisionConfig):
        super().__init__()
        w = c.widths
        self.stem = nn.Sequential(nn.AvgPool2d(2), _conv(3, w[0], 3, 1), _conv(w[0], w[1], 3, 2))
        self.stages = nn.Sequential(
            _conv(w[1], w[2], 3, 2),
            _conv(w[2], w[3], 3, 1),
            _conv(w[3], w[3], 3, 2),
            _conv(w[3], w[4], 3, 1),
            _conv(w[4], w[4], 3, 2),
        )
        self.spatial = nn.Conv2d(w[4], 8, 1)
        grid = c.image_size // 32
        self.pooler = nn.Sequential(
            nn.Linear(2 * w[4] + 8 * grid * grid, 512), nn.ReLU(inplace=True), nn.Linear(512, c.hidden_size)
        )
        self.post_layernorm = nn.LayerNorm(c.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        f = self.stages(self.stem(pixel_values))
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3)), self.spatial(f).flatten(1)], 1)
        return self.post_layernorm(self.pooler(pooled))


# ---------------------------------------------------------------- dual encoder


class KoCLIP(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.config = c
        self.text_model = RobertaModel(c.text)
        self.vision_model = ConvVisionModel(c.vision)
        self.text_projection = nn.Linear(c.text.hidden_size, c.projection_dim, bias=False)
        self.visual_projection = nn.Linear(c.vision.hidden_size, c.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(c.logit_scale_init))

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.text_model(input_ids, attention_mask))

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(self.vision_model(pixel_values))


class TextTower(nn.Module):
    """ONNX export wrapper: (input_ids, attention_mask) -> L2-normalised text_embeds."""

    def __init__(self, m: KoCLIP):
        super().__init__()
        self.m = m

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.m.text_features(input_ids, attention_mask), dim=-1)


class ImageTower(nn.Module):
    """ONNX export wrapper: pixel_values -> L2-normalised image_embeds."""

    def __init__(self, m: KoCLIP):
        super().__init__()
        self.m = m

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.m.image_features(pixel_values), dim=-1)
