"""The teacher side of distillation (koclip_kit.distill): the corpus (one caption per line, or the
kit's synthetic captions), a model package as teacher (its tokenizer through `tokenizers` and its
own fp32 text tower through onnxruntime, so koclip-tiny and every converted package can teach),
and the student's tokenizer: the teacher's, or its WordPiece vocabulary pruned to the corpus."""

from __future__ import annotations

import json
import os
import random
import shutil
from typing import Any

import numpy as np
import torch

from . import data
from .common import F32, Json
from .convert import Tok
from .errors import InputError, KitError

FORMAT = "koclip-model/1"


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


SCENE_CHUNK = 240  # scenes rendered and embedded at once (~145 MB of pixels)


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

    def synthetic_split(self) -> tuple[int, int]:
        """(seed, gallery size) of the synthetic test split the package was evaluated on (3, 2400
        when its manifest does not say)."""
        ev = self.manifest.get("evaluation", {})
        split = str(ev.get("split", ""))
        seed = int(split.rstrip(")").split()[-1]) if "seed" in split else 3
        n = int((ev.get("onnx_int8") or ev.get("onnx_fp32") or {}).get("gallery_images", 2400))
        return seed, n

    def embed_scenes(self, scenes: list[data.Scene], log: Any = None) -> F32:
        """The package's fp32 image tower (onnxruntime) on rendered scenes, SCENE_CHUNK at a time."""
        image = self.session(os.path.join(self.folder, self.manifest["image"]["file"]))
        parts = []
        for i in range(0, len(scenes), SCENE_CHUNK):
            parts.append(
                image.run(["image_embeds"], {"pixel_values": data.pixel_batch(scenes[i : i + SCENE_CHUNK])})[0]
            )
            if log is not None and (i // SCENE_CHUNK) % 20 == 0:
                log(f"{min(i + SCENE_CHUNK, len(scenes))}/{len(scenes)} images embedded")
        return np.concatenate(parts).astype(np.float32)

    def release(self) -> None:
        """Frees the text tower's onnxruntime session (embed opens a new one when called again)."""
        self._session = None

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
