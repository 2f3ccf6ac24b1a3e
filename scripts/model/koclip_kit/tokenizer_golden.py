"""The golden tokenizer table: ids from Python `tokenizers` (the seed's library) for a seeded corpus
of awkward text, which the TypeScript tokenizer (src/core/tokenizer.ts) must reproduce exactly.

- `strings(count, seed)`: a deterministic corpus (random.Random(seed)) of Hangul syllables and jamo
  (conjoining, compatibility, half-width) in NFC and NFD, Hanja (BMP, Extension A-G, compatibility
  ideographs), emoji (ZWJ sequences, flags, skin tones, keycaps) and other astral characters,
  mixed scripts, control, format and zero-width characters, whitespace variants, combining marks,
  the special tokens written in text, very long inputs (past any max_length), and a sweep of every
  BMP code point and the astral CJK and emoji planes in chunks.
- `wide_tokenizer_json()`: a second BERT WordPiece tokenizer with a klue/roberta-base-sized
  vocabulary (~30k: every Hangul syllable plain and `##`, jamo, ASCII, Latin-1, kana, common Hanja,
  the kit's caption words), written by `tokenizers`' BertWordPieceTokenizer with klue's settings
  (lowercase off, accents kept). There is no model hub here, so klue's own vocabulary cannot be used.
- `table(...)`: one JSON line of header, then one `[text, ids_tokenizer_1, ids_tokenizer_2]` line per
  string, ids by the package rule (no special tokens, cut to max_length - 2, `[CLS] ... [SEP]`).

- `tables_ts()`: the character classes of the library's BertNormalizer and BertPreTokenizer, asked
  code point by code point, as src/core/bert-unicode.ts (the TypeScript side's tables).

`python -m koclip_kit tokenizer-golden --out test/fixtures/tokenizer` writes golden.jsonl.gz,
wide-tokenizer.json.gz and src/core/bert-unicode.ts; tests/test_tokenizer_golden.py regenerates
them and compares.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import unicodedata
from typing import Any

from . import data

FORMAT = "koclip-tokenizer-golden/1"
DEFAULT_COUNT = 10000
DEFAULT_SEED = 23
TINY = "models/koclip-tiny/tokenizer.json"
TINY_MAX_LENGTH = 64
WIDE_MAX_LENGTH = 96  # KoCLIP's own max_length (convert --max-length)
SPECIALS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]  # KoCLIP's and klue's ids 0..4

R = tuple[int, int]
HANGUL: R = (0xAC00, 0xD7A3)
JAMO: list[R] = [(0x1100, 0x11FF), (0xA960, 0xA97C), (0xD7B0, 0xD7FB)]
COMPAT_JAMO: list[R] = [(0x3131, 0x318E), (0xFFA0, 0xFFDC)]
HANJA: list[R] = [
    (0x4E00, 0x9FFF),  # BMP
    (0x3400, 0x4DBF),  # Extension A
    (0x20000, 0x2A6DF),  # B
    (0x2A700, 0x2B73F),  # C
    (0x2B740, 0x2B81F),  # D
    (0x2B820, 0x2CEAF),  # E (BERT's table starts it at 0x2B820, the Rust library at 0x2B920)
    (0x2CEB0, 0x2EBEF),  # F
    (0x30000, 0x3134F),  # G
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x2F800, 0x2FA1F),  # compatibility supplement
    (0x2E80, 0x2FDF),  # radicals
]
EMOJI: list[R] = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF)]
ASTRAL: list[R] = [
    (0x1D400, 0x1D7FF),  # mathematical alphanumerics
    (0x10330, 0x1034A),  # Gothic
    (0x13000, 0x1343F),  # Egyptian hieroglyphs and their format controls
    (0x1F000, 0x1F0FF),  # mahjong, dominoes, cards
    (0xE0000, 0xE007F),  # tags
    (0xF0000, 0xF00FF),  # supplementary private use
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x2FFF0, 0x2FFFF),  # unassigned
    (0x10FFF0, 0x10FFFF),
]
SCRIPTS: list[R] = [
    (0x41, 0x5A),
    (0x61, 0x7A),
    (0x30, 0x39),
    (0x21, 0x2F),
    (0x3A, 0x40),
    (0x5B, 0x60),
    (0x7B, 0x7E),
    (0xA1, 0xFF),  # Latin-1
    (0x100, 0x24F),  # Latin extended
    (0x370, 0x3FF),  # Greek
    (0x400, 0x4FF),  # Cyrillic
    (0x590, 0x5FF),  # Hebrew
    (0x600, 0x6FF),  # Arabic
    (0x900, 0x97F),  # Devanagari
    (0xE00, 0xE7F),  # Thai
    (0x3040, 0x30FF),  # kana
    (0xFF61, 0xFF9F),  # half-width kana
    (0xFF01, 0xFF5E),  # full-width ASCII
    (0x2000, 0x206F),  # general punctuation
    (0x2E00, 0x2E7F),  # supplemental punctuation (some newer than the Rust library's tables)
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFE10, 0xFE6F),  # vertical, small and CJK compatibility forms
    (0x2100, 0x23FF),  # letterlike, arrows, maths, technical
    (0x2460, 0x24FF),  # enclosed alphanumerics
    (0x3200, 0x32FF),  # enclosed CJK
]
MARKS: list[R] = [(0x300, 0x36F), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F), (0x302A, 0x302F)]
CONTROLS = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0xAD,  # soft hyphen
    0x61C,
    0x180E,
    *range(0x200B, 0x2010),  # ZWSP, ZWNJ, ZWJ, LRM, RLM
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2070),
    0xFEFF,  # BOM
    *range(0xFFF9, 0xFFFE),  # interlinear annotation, object replacement, U+FFFD
    0xE000,
    0xF8FF,
]
SPACES = [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029]
SPACES += [0x202F, 0x205F, 0x3000, 0x180E, 0x200B, 0xFEFF]
ZWJ_SEQUENCES = ["👨\u200d👩\u200d👧\u200d👦", "👩\u200d💻", "🏳\ufe0f\u200d🌈", "❤\ufe0f\u200d🔥", "🧑🏽\u200d🚀"]
KEYCAPS = ["1\ufe0f\u20e3", "#\ufe0f\u20e3", "*\u20e3"]
SKIN = [0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF]
HANDS = [0x1F44B, 0x1F44D, 0x1F64F, 0x1F9D1, 0x1F476]
SWEEP_CHUNK = 30  # "가X " words: at most 60 tokens, inside koclip-tiny's max_length
LATIN_WORDS = ["cat", "Dog", "KoCLIP", "CLIP", "café", "naïve", "Straße", "Привет", "こんにちは", "123", "4.5"]


def _pick(rng: random.Random, ranges: list[R]) -> str:
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def _flag(rng: random.Random) -> str:
    return "".join(chr(0x1F1E6 + rng.randrange(26)) for _ in range(2))


def _emoji(rng: random.Random) -> str:
    match rng.randrange(6):
        case 0:
            return rng.choice(ZWJ_SEQUENCES)
        case 1:
            return _flag(rng)
        case 2:
            return chr(rng.choice(HANDS)) + chr(rng.choice(SKIN))
        case 3:
            return rng.choice(KEYCAPS)
        case 4:
            return _pick(rng, EMOJI) + "\ufe0f"
        case _:
            return _pick(rng, EMOJI)


def _hangul_word(rng: random.Random, words: list[str]) -> str:
    if rng.random() < 0.6:
        return rng.choice(words)
    return "".join(chr(rng.randint(*HANGUL)) for _ in range(rng.randint(1, 5)))


def _piece(rng: random.Random, words: list[str]) -> str:
    """One run of text of a random kind."""
    k = rng.randrange(16)
    if k <= 3:
        return _hangul_word(rng, words)
    if k == 4:
        return unicodedata.normalize("NFD", _hangul_word(rng, words))
    if k == 5:
        return "".join(_pick(rng, JAMO if rng.random() < 0.5 else COMPAT_JAMO) for _ in range(rng.randint(1, 4)))
    if k == 6:
        return "".join(_pick(rng, HANJA) for _ in range(rng.randint(1, 4)))
    if k == 7:
        return _emoji(rng)
    if k == 8:
        return _pick(rng, ASTRAL) * rng.randint(1, 2)
    if k == 9:
        return "".join(_pick(rng, SCRIPTS) for _ in range(rng.randint(1, 6)))
    if k == 10:
        return rng.choice(
            ["cat", "Dog", "KoCLIP", "CLIP", "café", "naïve", "Straße", "Привет", "こんにちは", "123", "4.5"]
        )
    if k == 11:
        return chr(rng.choice(CONTROLS))
    if k == 12:
        return chr(rng.choice(SPACES)) * rng.randint(1, 3)
    if k == 13:
        base = rng.choice("aeoun원별가ㄱ") if rng.random() < 0.7 else ""
        return base + "".join(_pick(rng, MARKS) for _ in range(rng.randint(1, 3)))
    if k == 14:
        return rng.choice(SPECIALS) if rng.random() < 0.8 else rng.choice(["[cls]", "[MASK", "[ MASK ]", "[[SEP]]"])
    return rng.choice([".", ",", "!", "?", "~", "·", "…", "「", "」", "(", ")", "'", '"', "-", "/"])


def _joiner(rng: random.Random) -> str:
    return rng.choice(["", " ", " ", " ", "\t", "\n", "\u3000", "\u00a0", "\u200b"])


def _random_string(rng: random.Random, words: list[str]) -> str:
    n = rng.choice([1, 1, 2, 2, 3, 3, 4, 5])
    return "".join(_piece(rng, words) + _joiner(rng) for _ in range(n))


def _long_string(rng: random.Random, words: list[str]) -> str:
    """Past any max_length: many words, or one word over max_input_chars_per_word."""
    if rng.random() < 0.3:
        return rng.choice(words) * rng.randint(30, 60)
    return " ".join(_random_string(rng, words) for _ in range(rng.randint(25, 50)))


def _sweep() -> list[str]:
    """Every BMP code point (surrogates aside; Hangul, CJK, private use and Yi sampled) and the astral
    CJK, emoji and tag planes' starts, each in a word of its own after a syllable the wide vocabulary
    knows: whether a character is dropped, a space, punctuation or CJK shows in that word's ids."""
    uniform = [HANGUL, (0x4E00, 0x9FFF), (0xE000, 0xF8FF), (0xA000, 0xA48F)]  # one class each: sampled
    cps = [
        cp
        for cp in range(0x10000)
        if not 0xD800 <= cp <= 0xDFFF and not any(lo < cp < hi and cp % 61 for lo, hi in uniform)
    ]
    astral = [(0x10D00, 0x10FFF), (0x11000, 0x111FF), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D170, 0x1D17F)]
    for lo, hi in [*HANJA[2:8], (0x1F000, 0x1FAFF), (0xE0000, 0xE01EF), (0x2F800, 0x2FA1F), *astral]:
        cps += range(lo, min(hi, lo + 0xFF) + 1)
    cps += range(0x2B800, 0x2B940)  # both ends of Extension E as BERT and Rust see them
    out = []
    for i in range(0, len(cps), SWEEP_CHUNK):
        out.append(" ".join("가" + chr(cp) for cp in cps[i : i + SWEEP_CHUNK]))
    return out


def caption_words() -> list[str]:
    return sorted({w for c in data.corpus(2000, 1) for w in c.split()})


def strings(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[str]:
    """`count` random strings (1 in 100 long), then the code point sweep."""
    rng = random.Random(seed)
    words = caption_words()
    out = [_long_string(rng, words) if i % 100 == 99 else _random_string(rng, words) for i in range(count)]
    return out + _sweep()


def wide_vocab() -> list[str]:
    """A klue/roberta-base-sized BERT vocabulary: specials, ASCII, Latin-1, every Hangul syllable and
    compatibility jamo, kana (plain and ##), 8192 Hanja, the kit's caption words."""
    vocab: list[str] = list(SPECIALS)
    seen = set(vocab)

    def add(tok: str) -> None:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    cont = [*range(0x21, 0x7F), *range(0xA1, 0x100), *range(HANGUL[0], HANGUL[1] + 1), *range(0x3131, 0x318F)]
    cont += [*range(0x3041, 0x3097), *range(0x30A1, 0x30FB), *range(0x1100, 0x1200), *range(0x400, 0x460)]
    for cp in cont:
        add(chr(cp))
        add("##" + chr(cp))
    for cp in [*range(0x4E00, 0x6E00), *range(0xF900, 0xFA00), *range(0x20000, 0x20100)]:
        add(chr(cp))
    for w in caption_words():
        add(w)
    for w in ["cat", "dog", "Dog", "clip", "##ip", "##LIP", "Ko", "##CL", "café", "##é", "Straße"]:
        add(w)
    return vocab


def wide_tokenizer_json() -> str:
    from tokenizers.implementations import BertWordPieceTokenizer

    vocab = {t: i for i, t in enumerate(wide_vocab())}
    tok = BertWordPieceTokenizer(vocab, clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=False)
    return str(tok.to_str())


def encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """The package rule over `tokenizers`: no special tokens, cut to max_length - 2, [CLS] ... [SEP]."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    return [[cls_id, *e.ids[: max_length - 2], sep_id] for e in encodings]


def table(repo: str, wide_json: str, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[Any]:
    """Header, then [text, tiny ids, wide ids] rows."""
    from tokenizers import Tokenizer

    texts = strings(count, seed)
    tiny = Tokenizer.from_file(os.path.join(repo, TINY))
    wide = Tokenizer.from_str(wide_json)
    tiny_ids = encode(tiny, texts, TINY_MAX_LENGTH)
    wide_ids = encode(wide, texts, WIDE_MAX_LENGTH)
    header = {
        "format": FORMAT,
        "generator": "python -m koclip_kit tokenizer-golden (koclip_kit/tokenizer_golden.py)",
        "count": count,
        "seed": seed,
        "strings": len(texts),
        "tokenizers": [
            {"name": "koclip-tiny", "file": TINY, "max_length": TINY_MAX_LENGTH},
            {"name": "wide", "file": "wide-tokenizer.json.gz", "max_length": WIDE_MAX_LENGTH},
        ],
    }
    return [header, *([t, a, b] for t, a, b in zip(texts, tiny_ids, wide_ids, strict=True))]


def dump_lines(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows).encode()


def write(repo: str, out: str, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> tuple[int, int]:
    """Writes out/wide-tokenizer.json.gz and out/golden.jsonl.gz (mtime 0: byte-stable) and the
    character classes the TypeScript side reproduces (src/core/bert-unicode.ts); the two sizes."""
    os.makedirs(out, exist_ok=True)
    wide = wide_tokenizer_json()
    sizes = []
    for name, body in [
        ("wide-tokenizer.json.gz", wide.encode()),
        ("golden.jsonl.gz", dump_lines(table(repo, wide, count, seed))),
    ]:
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(gzip.compress(body, compresslevel=9, mtime=0))
        sizes.append(os.path.getsize(path))
    with open(os.path.join(repo, TABLES_TS), "w", encoding="utf-8") as f:
        f.write(tables_ts())
    return sizes[0], sizes[1]


# ---------------------------------------------------------------- the Rust library's character classes

TABLES_TS = "src/core/bert-unicode.ts"


def _ranges(cps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def bert_classes() -> dict[str, list[tuple[int, int]]]:
    """How Python `tokenizers` (its Rust core and that core's Unicode tables) classes every code point
    (surrogates aside) in BertNormalizer and BertPreTokenizer, found by asking it about each one:
    removed by clean_text, turned into a space by clean_text, padded as a CJK character, dropped or
    decomposed by strip_accents, isolated as punctuation and split on as whitespace by the
    pre-tokenizer."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    accents = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    cjk = BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre = BertPreTokenizer()
    sets: dict[str, list[int]] = {
        "removed": [],
        "space": [],
        "cjk": [],
        "punctuation": [],
        "whitespace": [],
        "accent": [],
        "decomposes": [],
    }
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        cleaned = clean.normalize_str(c)
        if cleaned == "":
            sets["removed"].append(cp)
        elif cleaned == " ":
            sets["space"].append(cp)
        stripped = accents.normalize_str(c)
        if stripped == "":
            sets["accent"].append(cp)
        elif stripped != c:
            sets["decomposes"].append(cp)
        if cjk.normalize_str(c) == f" {c} ":
            sets["cjk"].append(cp)
        words = [w for w, _ in pre.pre_tokenize_str(f"a{c}b")]
        if words == ["a", c, "b"]:
            sets["punctuation"].append(cp)
        elif words == ["a", "b"]:
            sets["whitespace"].append(cp)
    return {k: _ranges(v) for k, v in sets.items()}


def tables_ts() -> str:
    import tokenizers

    lines = [
        "// biome-ignore-all format: generated by the model kit (one range table per line)",
        "// Generated by `python -m koclip_kit tokenizer-golden` (koclip_kit/tokenizer_golden.py): do not edit.",
        f"// How Python `tokenizers` {tokenizers.__version__} (the seed's library) classes each code point in",
        "// BertNormalizer and BertPreTokenizer, asked code point by code point; [first, last] ranges, sorted.",
        "// Used by src/core/bert-text.ts. The kit's tests regenerate it and compare.",
        "",
    ]
    docs = {
        "removed": "Dropped by clean_text (NUL, U+FFFD, control, format, private use).",
        "space": "Turned into U+0020 by clean_text.",
        "cjk": "Padded with spaces by handle_chinese_chars (code points, not UTF-16 units).",
        "punctuation": "Isolated as a word of its own by BertPreTokenizer.",
        "whitespace": "Split on (and dropped) by BertPreTokenizer.",
        "accent": "Dropped by strip_accents (a nonspacing mark in the Rust core's tables).",
        "decomposes": "Changed by strip_accents: canonically decomposed (NFD), then its marks dropped.",
    }
    for name, ranges in bert_classes().items():
        flat = ", ".join(f"0x{a:x}, 0x{b:x}" for a, b in ranges)
        lines += [f"/** {docs[name]} */", f"export const {name.upper()}: readonly number[] = [{flat}];", ""]
    return "\n".join(lines)
