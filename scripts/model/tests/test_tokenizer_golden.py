"""koclip_kit.tokenizer_golden: the committed golden tokenizer table is what Python `tokenizers`
gives today (regenerated here, all of it), so the TypeScript tests check against the seed's library."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

from koclip_kit import tokenizer_golden as G

FIXTURES = Path("test/fixtures/tokenizer")


def test_the_committed_table_is_what_python_tokenizers_gives(repo: Path) -> None:
    wide = G.wide_tokenizer_json()
    committed_wide = gzip.decompress((repo / FIXTURES / "wide-tokenizer.json.gz").read_bytes()).decode()
    assert json.loads(committed_wide) == json.loads(wide)
    committed = [
        json.loads(line) for line in gzip.decompress((repo / FIXTURES / "golden.jsonl.gz").read_bytes()).splitlines()
    ]
    header = committed[0]
    assert header["format"] == G.FORMAT
    fresh = G.table(str(repo), wide, count=header["count"], seed=header["seed"])
    assert fresh[0] == header
    diffs = [(c[0], c[1:], f[1:]) for c, f in zip(committed[1:], fresh[1:], strict=True) if c != f]
    assert len(committed) == len(fresh)
    assert diffs[:3] == []


def test_the_corpus_is_deterministic_broad_and_long() -> None:
    texts = G.strings(300, 7)
    assert texts == G.strings(300, 7)
    assert texts[:300] != G.strings(300, 8)[:300]
    joined = "".join(G.strings())
    assert len(G.strings()) >= 10000
    for cp in [0x20000, 0x2B820, 0x30000, 0xF900, 0x1F1E6, 0x200D, 0xFEFF, 0x00AD, 0x0000, 0x3000, 0x1100, 0x3131]:
        assert chr(cp) in joined, hex(cp)
    assert any(t != unicodedata.normalize("NFC", t) for t in texts)  # NFD Hangul
    assert any(len(t) > 400 for t in G.strings())  # past max_length


def test_the_wide_vocabulary_is_klue_sized_with_koclip_specials() -> None:
    vocab = G.wide_vocab()
    assert vocab[:5] == ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
    assert 30000 <= len(vocab) <= 35000
    assert len(set(vocab)) == len(vocab)


def test_the_typescript_character_classes_are_the_python_librarys(repo: Path) -> None:
    """src/core/bert-unicode.ts (what src/core/bert-text.ts reads) is regenerated and compared."""
    assert (repo / G.TABLES_TS).read_text(encoding="utf-8") == G.tables_ts()
