"""BERT-style WordPiece tokenizer: vocabulary builder, tokenizer.json writer and an encoder.

The encoder here mirrors Hugging Face's BertNormalizer (no lower-casing; accent stripping when the
tokenizer.json asks for it) + BertPreTokenizer + WordPiece, so that training needs no extra
library. The build cross-checks it against the maintained JavaScript implementation
(@huggingface/tokenizers) on every run (scripts/model/onnx-run.mjs), and the TypeScript tests check
the golden ids again.
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections import Counter
from typing import Any

from .korean import PARTICLES

SPECIALS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]  # KoCLIP's ids 0..4
CLS_ID, PAD_ID, SEP_ID, UNK_ID, MASK_ID = range(5)
MAX_CHARS_PER_WORD = 100


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_whitespace(ch: str) -> bool:
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def normalize(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def pre_tokenize(text: str) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    for ch in text:
        if _is_whitespace(ch):
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punctuation(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def build_vocab(captions: list[str]) -> list[str]:
    """Specials, ASCII characters, every corpus character (plain and ##), word stems and
    ##particles (a word that is a known stem + particle is split, not stored whole)."""
    counts = Counter(w for c in captions for w in pre_tokenize(normalize(c)))
    words = set(counts)
    pieces: list[str] = []
    seen = set()

    def add(tok: str) -> None:
        if tok not in seen:
            seen.add(tok)
            pieces.append(tok)

    for tok in SPECIALS:
        add(tok)
    ascii_chars = [c for c in string.printable if not c.isspace()]
    for c in ascii_chars:
        add(c)
    for c in string.ascii_letters + string.digits:
        add("##" + c)
    chars = sorted({ch for w in words for ch in w})
    for ch in chars:
        add(ch)
        add("##" + ch)
    stems = set()
    for w in sorted(words):
        for p in sorted(PARTICLES, key=len, reverse=True):
            if w.endswith(p) and len(w) > len(p) and w[: -len(p)] in words:
                stems.add(w[: -len(p)])
                add("##" + p)
                break
        else:
            stems.add(w)
    for w in sorted(stems, key=lambda s: (-counts.get(s, 0), s)):
        add(w)
    return pieces


# Hangul as decomposed jamo (NFD of a syllable is two or three conjoining jamo), the compatibility
# and halfwidth jamo people type alone (ㅋㅋ, ㅠㅠ) and the archaic/extended blocks: with every one
# in the vocabulary, plain and as a ## continuation, no Hangul text becomes [UNK]
HANGUL_JAMO_RANGES = [
    (0x1100, 0x11FF),
    (0x3131, 0x318E),
    (0xA960, 0xA97C),
    (0xD7B0, 0xD7C6),
    (0xD7CB, 0xD7FB),
    (0xFFA0, 0xFFDC),
]
JAMO_MAX_CHARS_PER_WORD = 300  # a word is counted in jamo after NFD: about 100 syllables


def build_jamo_vocab(captions: list[str]) -> list[str]:
    """The vocabulary of a decomposing tokenizer (`tokenizer_json(..., decompose=True)`: NFD, so a
    Hangul syllable is its jamo): build_vocab's pieces over the NFD text (whole words, stems and
    ##particles), then every corpus syllable as a piece of its own (plain and ##), then every
    Hangul jamo (plain and ##). WordPiece takes the longest piece it has, so a known word is one
    token, an unknown word of known syllables is its syllables, and anything else Hangul is jamo,
    never [UNK]."""
    nfd = [unicodedata.normalize("NFD", c) for c in captions]
    pieces = build_vocab(nfd)
    seen = set(pieces)

    def add(tok: str) -> None:
        if tok not in seen:
            seen.add(tok)
            pieces.append(tok)

    syllables = sorted({ch for c in captions for ch in c if 0xAC00 <= ord(ch) <= 0xD7A3})
    for ch in syllables:
        d = unicodedata.normalize("NFD", ch)
        add(d)
        add("##" + d)
    for lo, hi in HANGUL_JAMO_RANGES:
        for cp in range(lo, hi + 1):
            if unicodedata.category(chr(cp)) == "Lo":
                add(chr(cp))
                add("##" + chr(cp))
    return pieces


def strip_accents(text: str) -> str:
    """BertNormalizer's strip_accents: NFD, then nonspacing marks dropped (Hangul becomes jamo)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


class WordPiece:
    def __init__(self, vocab: list[str], decompose: bool = False, max_chars: int = MAX_CHARS_PER_WORD):
        """`decompose`: the tokenizer strips accents (tokenizer_json(..., decompose=True))."""
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.tokens = list(vocab)
        self.decompose, self.max_chars = decompose, max_chars

    def _word(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [UNK_ID]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [UNK_ID]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_length: int) -> list[int]:
        """[CLS] + pieces cut to max_length - 2 + [SEP] (the package's tokenisation rule)."""
        norm = strip_accents(normalize(text)) if self.decompose else normalize(text)
        ids = [i for w in pre_tokenize(norm) for i in self._word(w)]
        return [CLS_ID, *ids[: max_length - 2], SEP_ID]

    def batch(self, texts: list[str], max_length: int) -> tuple[list[list[int]], list[list[int]]]:
        enc = [self.encode(t, max_length) for t in texts]
        width = max(len(e) for e in enc)
        ids = [e + [PAD_ID] * (width - len(e)) for e in enc]
        mask = [[1] * len(e) + [0] * (width - len(e)) for e in enc]
        return ids, mask


def tokenizer_json(vocab: list[str], max_length: int, decompose: bool = False) -> dict[str, Any]:
    """Hugging Face tokenizer.json for `vocab` (BertNormalizer, BertPreTokenizer, WordPiece,
    [CLS] A [SEP]); `max_length` is recorded in tokenizer_config.json, not here. `decompose`:
    the normalizer strips accents, which is NFD and then dropping nonspacing marks: Hangul becomes
    its jamo (category Lo, kept), Latin loses its accents (café -> cafe); for build_jamo_vocab."""

    def special(tok: str) -> dict[str, Any]:
        return {
            "id": vocab.index(tok),
            "content": tok,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }

    def tmpl(tok: str) -> dict[str, Any]:
        return {"SpecialToken": {"id": tok, "type_id": 0}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(t) for t in SPECIALS],
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": decompose,
            "lowercase": False,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tmpl("[CLS]"), {"Sequence": {"id": "A", "type_id": 0}}, tmpl("[SEP]")],
            "pair": [
                tmpl("[CLS]"),
                {"Sequence": {"id": "A", "type_id": 0}},
                tmpl("[SEP]"),
                {"Sequence": {"id": "B", "type_id": 0}},
                tmpl("[SEP]"),
            ],
            "special_tokens": {t: {"id": t, "ids": [vocab.index(t)], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": JAMO_MAX_CHARS_PER_WORD if decompose else MAX_CHARS_PER_WORD,
            "vocab": {t: i for i, t in enumerate(vocab)},
        },
    }


def tokenizer_config(max_length: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": False,
        "model_max_length": max_length,
        "cls_token": "[CLS]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
        "mask_token": "[MASK]",
    }


def load(path: str) -> WordPiece:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    vocab = doc["model"]["vocab"]
    return WordPiece(
        [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])],
        decompose=bool((doc.get("normalizer") or {}).get("strip_accents")),
        max_chars=int(doc["model"].get("max_input_chars_per_word", MAX_CHARS_PER_WORD)),
    )
