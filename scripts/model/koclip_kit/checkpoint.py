"""Reading real KoCLIP checkpoints one tower at a time (koclip_kit.convert).

Two formats, both read lazily so that only the tower being converted is in memory:

1. `flax_model.msgpack` + a `hybrid-clip` config.json: jaketae/koclip's FlaxHybridCLIP, a
   FlaxPreTrainedModel whose module (`FlaxHybridCLIPModule`, written after transformers'
   examples/research_projects/jax-projects/hybrid_clip) has in setup():
     text_model        = the text config's Flax module class (FlaxRobertaModule for klue/roberta-large)
     vision_model      = the vision config's module class (FlaxCLIPVisionModule for koclip-base,
                         FlaxViTModule for koclip-large)
     visual_projection = nn.Dense(projection_dim, use_bias=False)
     text_projection   = nn.Dense(projection_dim, use_bias=False)
     logit_scale       = self.param("logit_scale", ones, [])
   and uses `pooler_output` of both towers (RoBERTa: tanh(dense(h[:, 0])); CLIP: post_layernorm of
   the class token; ViT: tanh(dense(layernorm(h)[:, 0]))). save_pretrained writes
   `flax.serialization.to_bytes(params)`, so the file's tree is (transformers' Flax module trees):
     text_model/embeddings/{word,position,token_type}_embeddings/embedding, .../LayerNorm/{scale,bias}
     text_model/encoder/layer/<i>/attention/self/{query,key,value}/{kernel,bias}
     text_model/encoder/layer/<i>/attention/output/{dense,LayerNorm}, intermediate/dense,
         output/{dense,LayerNorm};  text_model/pooler/dense/{kernel,bias}
     CLIP: vision_model/vision_model/embeddings/{class_embedding, patch_embedding/kernel [p,p,3,H],
         position_embedding/embedding}, vision_model/vision_model/{pre_layrnorm,post_layernorm},
         vision_model/vision_model/encoder/layers/<i>/{self_attn/{q,k,v,out}_proj, layer_norm1,
         mlp/{fc1,fc2}, layer_norm2}   (FlaxCLIPVisionModule wraps FlaxCLIPVisionTransformer
         as `vision_model`, hence the doubled level)
     ViT: vision_model/embeddings/{cls_token [1,1,H], position_embeddings [1,N+1,H],
         patch_embeddings/projection/{kernel,bias}}, vision_model/encoder/layer/<i>/{attention/
         attention/{query,key,value}, attention/output/dense, intermediate/dense, output/dense,
         layernorm_before, layernorm_after}, vision_model/{layernorm, pooler/dense}
     visual_projection/kernel [Hv, D], text_projection/kernel [Ht, D], logit_scale []
   Arrays are msgpack ext records (code 1: msgpack of (shape, dtype name, bytes); code 3: a
   numpy scalar the same way). The file is walked by a small streaming msgpack reader (_Msgpack)
   that keeps only the arrays of the tower being read (one pass per tower; the rest is skipped
   with a seek), reading each straight into its numpy array.
   Flax's layouts: Dense kernel [in, out] (what koclip_kit.towers wants), Conv kernel
   [kh, kw, in, out] (-> [out, in, kh, kw]), `scale`/`embedding` -> `weight`.
2. `model.safetensors` (read with safe_open, tensor by tensor) or `pytorch_model.bin` (torch.load,
   whole file) + a `vision-text-dual-encoder` config.json: transformers' VisionTextDualEncoderModel,
   whose names are the target names already; nn.Linear weights are transposed to [in, out].
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import Array
from .errors import KitError
from .towers import TextArch, VisionArch

MSGPACK = "flax_model.msgpack"
SAFETENSORS = "model.safetensors"
TORCH_BIN = "pytorch_model.bin"


@dataclass(frozen=True)
class CheckpointConfig:
    format: str  # "flax" | "safetensors" | "torch"
    weights: str  # path of the weights file
    model_type: str  # "hybrid-clip" | "vision-text-dual-encoder"
    projection_dim: int
    text: TextArch
    vision: VisionArch
    raw: dict[str, Any]


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise KitError(f"config.json: {where} has no {key!r}")
    return d[key]


def _text_arch(c: dict[str, Any]) -> TextArch:
    mt = c.get("model_type")
    if mt not in ("roberta", "bert", "xlm-roberta"):
        raise KitError(f"config.json: text_config.model_type {mt!r} is not a RoBERTa/BERT text model")
    w = "text_config"
    return TextArch(
        vocab_size=int(_need(c, "vocab_size", w)),
        hidden_size=int(_need(c, "hidden_size", w)),
        num_hidden_layers=int(_need(c, "num_hidden_layers", w)),
        num_attention_heads=int(_need(c, "num_attention_heads", w)),
        intermediate_size=int(_need(c, "intermediate_size", w)),
        max_position_embeddings=int(_need(c, "max_position_embeddings", w)),
        type_vocab_size=int(c.get("type_vocab_size", 1)),
        layer_norm_eps=float(c.get("layer_norm_eps", 1e-12)),
        hidden_act=str(c.get("hidden_act", "gelu")),
        pad_token_id=int(c.get("pad_token_id", 1)),
    )


def _vision_arch(c: dict[str, Any]) -> VisionArch:
    mt = c.get("model_type")
    if mt == "clip" and isinstance(c.get("vision_config"), dict):  # a whole CLIP config: its vision part
        c, mt = c["vision_config"], "clip_vision_model"
    if mt in ("clip_vision_model", "clip"):
        kind, eps, act = "clip", 1e-5, "quick_gelu"
    elif mt == "vit":
        kind, eps, act = "vit", 1e-12, "gelu"
    else:
        raise KitError(f"config.json: vision_config.model_type {mt!r} is neither CLIP vision nor ViT")
    w = "vision_config"
    return VisionArch(
        kind=kind,
        image_size=int(_need(c, "image_size", w)),
        patch_size=int(_need(c, "patch_size", w)),
        num_channels=int(c.get("num_channels", 3)),
        hidden_size=int(_need(c, "hidden_size", w)),
        num_hidden_layers=int(_need(c, "num_hidden_layers", w)),
        num_attention_heads=int(_need(c, "num_attention_heads", w)),
        intermediate_size=int(_need(c, "intermediate_size", w)),
        layer_norm_eps=float(c.get("layer_norm_eps", eps)),
        hidden_act=str(c.get("hidden_act", act)),
        qkv_bias=bool(c.get("qkv_bias", True)),
    )


def read_config(folder: str) -> CheckpointConfig:
    """Config and weights file of a checkpoint folder; KitError when either is missing or unknown."""
    path = os.path.join(folder, "config.json")
    if not os.path.isdir(folder):
        raise KitError(f"no such checkpoint folder: {folder}")
    if not os.path.isfile(path):
        raise KitError(f"{folder} has no config.json")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as err:
        raise KitError(f"{path} is not valid JSON: {err}") from None
    mt = raw.get("model_type")
    candidates = {
        "hybrid-clip": [("flax", MSGPACK)],
        "vision-text-dual-encoder": [("safetensors", SAFETENSORS), ("torch", TORCH_BIN)],
    }
    if mt not in candidates:
        raise KitError(
            f"{path}: model_type {mt!r} is not 'hybrid-clip' (Flax KoCLIP) or 'vision-text-dual-encoder' (PyTorch port)"
        )
    found = [(f, os.path.join(folder, n)) for f, n in candidates[mt] if os.path.isfile(os.path.join(folder, n))]
    if found:
        fmt, weights = found[0]
    else:
        names = " or ".join(n for _, n in candidates[mt])
        raise KitError(f"{folder}: a {mt} config.json needs {names} beside it")
    for key in ("text_config", "vision_config"):
        if not isinstance(raw.get(key), dict):
            raise KitError(f"{path}: no {key} object")
    return CheckpointConfig(
        format=fmt,
        weights=weights,
        model_type=mt,
        projection_dim=int(raw.get("projection_dim", 512)),
        text=_text_arch(raw["text_config"]),
        vision=_vision_arch(raw["vision_config"]),
        raw=raw,
    )


# ---------------------------------------------------------------- Flax msgpack

_EXT_NDARRAY, _EXT_NPSCALAR = 1, 3


class _Msgpack:
    """A small streaming msgpack walker over a file: maps, strings, numbers and flax's ext
    records. An array that is not wanted is skipped with a seek; a wanted one is read straight
    into a new numpy array (no intermediate bytes), so memory holds only the wanted arrays.
    (msgpack's own Unpacker keeps the whole top-level object, here the whole file, in its buffer
    until the object is complete.)"""

    def __init__(self, f: Any, path: str, want: Callable[[str], bool]):
        self.f, self.path, self.want = f, path, want
        self.size = os.fstat(f.fileno()).st_size

    def _truncated(self) -> KitError:
        return KitError(f"{self.path} is truncated (the msgpack data ends inside the parameter tree)")

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise self._truncated()
        return bytes(b)

    def _uint(self, n: int) -> int:
        return int.from_bytes(self.read(n), "big")

    def value(self, path: str) -> Any:
        b = self.read(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, path)
        if 0x90 <= b <= 0x9F:
            return [self.value(path) for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return self.read(b & 0x1F).decode("utf-8")
        simple: dict[int, Any] = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b]
        if b in (0xC4, 0xC5, 0xC6):
            return self.read(self._uint(1 << (b - 0xC4)))
        if b in (0xC7, 0xC8, 0xC9):
            n = self._uint(1 << (b - 0xC7))
            return self._ext(self.read(1)[0], n, path)
        if b in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8):
            return self._ext(self.read(1)[0], 1 << (b - 0xD4), path)
        if b == 0xCA:
            return float(np.frombuffer(self.read(4), ">f4")[0])
        if b == 0xCB:
            return float(np.frombuffer(self.read(8), ">f8")[0])
        if 0xCC <= b <= 0xCF:
            return self._uint(1 << (b - 0xCC))
        if 0xD0 <= b <= 0xD3:
            return int.from_bytes(self.read(1 << (b - 0xD0)), "big", signed=True)
        if b in (0xD9, 0xDA, 0xDB):
            return self.read(self._uint(1 << (b - 0xD9))).decode("utf-8")
        if b in (0xDC, 0xDD):
            return [self.value(path) for _ in range(self._uint(2 if b == 0xDC else 4))]
        if b in (0xDE, 0xDF):
            return self._map(self._uint(2 if b == 0xDE else 4), path)
        raise KitError(f"{self.path}: not a Flax msgpack checkpoint (byte 0x{b:02x} at {self.f.tell() - 1})")

    def _map(self, n: int, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(n):
            k = self.value(path)
            out[str(k)] = self.value(f"{path}/{k}" if path else str(k))
        return out

    def _ext(self, code: int, n: int, path: str) -> Any:
        start = self.f.tell()
        end = start + n
        if end > self.size:
            raise self._truncated()
        if code not in (_EXT_NDARRAY, _EXT_NPSCALAR) or not self.want(path):
            self.f.seek(end)
            return _Skipped(path) if code in (_EXT_NDARRAY, _EXT_NPSCALAR) else None
        # payload: msgpack (shape, dtype name, bytes)
        if self.read(1)[0] != 0x93:
            raise KitError(f"{self.path}: {path} is not a flax ndarray record")
        shape = self.value(path)
        dtype = self.value(path)
        b = self.read(1)[0]
        if b not in (0xC4, 0xC5, 0xC6) or not isinstance(shape, list) or not isinstance(dtype, str):
            raise KitError(f"{self.path}: {path} is not a flax ndarray record")
        nbytes = self._uint(1 << (b - 0xC4))
        if self.f.tell() + nbytes != end:
            raise KitError(f"{self.path}: {path} has an inconsistent ndarray record")
        if dtype == "bfloat16":
            u16 = np.fromfile(self.f, dtype=np.uint16, count=nbytes // 2)
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        else:
            dt = np.dtype(dtype)
            arr = np.fromfile(self.f, dtype=dt, count=nbytes // dt.itemsize)
        if arr.nbytes != nbytes and dtype != "bfloat16":
            raise self._truncated()
        return arr.reshape(shape)


@dataclass(frozen=True)
class _Skipped:
    path: str


def _walk_msgpack(path: str, want: Callable[[str], bool]) -> dict[str, Any]:
    """The tree of a Flax msgpack file; arrays whose path `want` rejects are _Skipped."""
    with open(path, "rb") as f:
        walker = _Msgpack(f, path, want)
        tree = walker.value("")
        if f.tell() != walker.size:
            raise KitError(f"{path} has trailing data after the parameter tree (not a Flax checkpoint?)")
    if not isinstance(tree, dict):
        raise KitError(f"{path} is not a Flax checkpoint (top level is {type(tree).__name__}, not a map)")
    return tree


def _flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        if tree.get("__msgpack_chunked_array__"):
            raise KitError(f"{prefix}: chunked arrays (> 1 GiB) are not supported")
        for k, v in tree.items():
            yield from _flatten(v, f"{prefix}/{k}" if prefix else str(k))
    else:
        yield prefix, tree


def _flax_name(path: str, ndim: int) -> tuple[str, str]:
    """Flax path -> (target name, layout transform: "" | "conv")."""
    parts = path.split("/")
    if parts[:2] == ["vision_model", "vision_model"]:  # FlaxCLIPVisionModule's wrapper level
        parts = parts[1:]
    leaf = parts[-1]
    transform = ""
    if leaf == "kernel":
        leaf, transform = "weight", ("conv" if ndim == 4 else "")
    elif leaf in ("scale", "embedding"):
        leaf = "weight"
    return ".".join([*parts[:-1], leaf]), transform


class FlaxReader:
    def __init__(self, path: str):
        self.path = path
        tree = _walk_msgpack(path, lambda _: False)  # structure only: every array is skipped
        self.paths = {p for p, v in _flatten(tree) if isinstance(v, _Skipped)}

    def tensors(self, prefixes: tuple[str, ...]) -> dict[str, tuple[Array, str]]:
        """target name -> (array, transform) for the arrays under the Flax path prefixes."""
        tree = _walk_msgpack(self.path, lambda p: p.startswith(prefixes))
        out: dict[str, tuple[Array, str]] = {}
        for p, v in _flatten(tree):
            if isinstance(v, np.ndarray):
                name, tf = _flax_name(p, v.ndim)
                out[name] = (v, tf)
        return out

    def all_names(self) -> set[str]:
        return {_flax_name(p, 0)[0] for p in self.paths}


# ---------------------------------------------------------------- PyTorch (safetensors / .bin)


class TorchReader:
    def __init__(self, path: str, fmt: str):
        self.path, self.fmt = path, fmt
        self._bin: dict[str, Any] | None = None
        if fmt == "safetensors":
            try:
                with _safe_open(path, framework="np") as f:
                    self.keys = list(f.keys())
            except Exception as err:  # safetensors raises its own SafetensorError
                raise KitError(f"{path} is not a readable safetensors file: {err}") from None
            # a truncated file still has its header: check that the data section is complete
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(n))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
            if os.path.getsize(path) < 8 + n + end:
                raise KitError(f"{path} is truncated ({os.path.getsize(path)} bytes, header needs {8 + n + end})")
        else:
            import pickle
            import zipfile

            import torch

            try:
                self._bin = torch.load(path, map_location="cpu")
            except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as err:
                raise KitError(f"{path} is not a readable PyTorch checkpoint (truncated?): {err}") from None
            if not isinstance(self._bin, dict):
                raise KitError(f"{path} holds a {type(self._bin).__name__}, not a state dict")
            self.keys = list(self._bin)

    def all_names(self) -> set[str]:
        return {_torch_name(k) for k in self.keys}

    def tensors(self, prefixes: tuple[str, ...]) -> dict[str, tuple[Array, str]]:
        out: dict[str, tuple[Array, str]] = {}
        names = [k for k in self.keys if k.startswith(prefixes)]
        if self.fmt == "safetensors":
            with _safe_open(self.path, framework="np") as f:
                for k in names:
                    out[_torch_name(k)] = (f.get_tensor(k), "torch")
        else:
            assert self._bin is not None
            for k in names:
                out[_torch_name(k)] = (self._bin.pop(k).float().numpy(), "torch")
        return out


def _safe_open(path: str, framework: str) -> Any:
    from safetensors import safe_open

    opener: Any = safe_open
    return opener(path, framework=framework)


def _torch_name(k: str) -> str:
    """VisionTextDualEncoderModel holds a whole CLIPVisionModel (transformers 4.x), whose
    CLIPVisionTransformer is its `vision_model`: `vision_model.vision_model.*` -> `vision_model.*`."""
    return (
        k.replace("vision_model.vision_model.", "vision_model.", 1) if k.startswith("vision_model.vision_model.") else k
    )


def reader(cfg: CheckpointConfig) -> FlaxReader | TorchReader:
    if cfg.format == "flax":
        return FlaxReader(cfg.weights)
    return TorchReader(cfg.weights, cfg.format)
