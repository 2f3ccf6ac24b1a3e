"""koclip_kit.tokenizer: BERT normalisation and pre-tokenisation, WordPiece, vocabulary builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from koclip_kit import tokenizer as T
from koclip_kit.tokenizer import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID, WordPiece

# ids 0..4 are KoCLIP's specials; the rest are numbered in list order
VOCAB = [*T.SPECIALS, "빨간", "원", "##이", "별", "!", "a", "##b", "##c", "큰"]
ID = {t: i for i, t in enumerate(VOCAB)}


@pytest.fixture
def wp() -> WordPiece:
    return WordPiece(VOCAB)


def test_specials_have_koclip_ids() -> None:
    assert (CLS_ID, PAD_ID, SEP_ID, UNK_ID, MASK_ID) == (0, 1, 2, 3, 4)
    assert T.SPECIALS == ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("빨간 원", [0, 5, 6, 2]),
        ("큰 빨간 별", [0, 13, 5, 8, 2]),
        ("", [0, 2]),
        ("별!", [0, 8, 9, 2]),  # punctuation is its own word
        ("  빨간\t원\n", [0, 5, 6, 2]),  # any whitespace run separates words
        ("빨간\u00a0원", [0, 5, 6, 2]),  # no-break space (Zs) is whitespace
        ("빨\x00간", [0, 5, 2]),  # NUL and other control characters are dropped
    ],
)
def test_exact_ids(wp: WordPiece, text: str, ids: list[int]) -> None:
    assert wp.encode(text, 64) == ids


def test_continuation_pieces_use_the_hash_prefix(wp: WordPiece) -> None:
    assert wp.encode("원이", 64) == [CLS_ID, ID["원"], ID["##이"], SEP_ID]
    assert wp.encode("abc", 64) == [CLS_ID, ID["a"], ID["##b"], ID["##c"], SEP_ID]
    # greedy longest match from the left; "b" exists only as a continuation
    assert wp.encode("ab a", 64) == [CLS_ID, ID["a"], ID["##b"], ID["a"], SEP_ID]


def test_unknown_words_become_one_unk(wp: WordPiece) -> None:
    assert wp.encode("고양이", 64) == [CLS_ID, UNK_ID, SEP_ID]
    # a word that cannot be covered completely is UNK as a whole, not in part
    assert wp.encode("ba", 64) == [CLS_ID, UNK_ID, SEP_ID]
    assert wp.encode("원x 별", 64) == [CLS_ID, UNK_ID, ID["별"], SEP_ID]
    # over MAX_CHARS_PER_WORD characters: UNK even when the pieces exist
    assert wp.encode("a" + "b" * T.MAX_CHARS_PER_WORD, 64) == [CLS_ID, UNK_ID, SEP_ID]


def test_cjk_ideographs_are_split_into_words(wp: WordPiece) -> None:
    assert T.normalize("빨간漢원") == "빨간 漢 원"
    assert wp.encode("빨간漢", 64) == [CLS_ID, ID["빨간"], UNK_ID, SEP_ID]


def test_truncation_keeps_cls_and_sep(wp: WordPiece) -> None:
    assert wp.encode("빨간 원 별 큰", 4) == [CLS_ID, ID["빨간"], ID["원"], SEP_ID]
    assert len(wp.encode("큰 " * 100, 64)) == 64


def test_batch_pads_right_with_mask(wp: WordPiece) -> None:
    ids, mask = wp.batch(["빨간 원", "별"], 64)
    assert ids == [[0, 5, 6, 2], [0, 8, 2, PAD_ID]]
    assert mask == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_build_vocab_splits_known_stem_and_particle() -> None:
    vocab = T.build_vocab(["빨간 원이 있다", "원"])
    assert vocab[:5] == T.SPECIALS
    assert "##이" in vocab and "원" in vocab
    assert "원이" not in vocab  # stored as 원 + ##이, not whole
    wp = WordPiece(vocab)
    assert wp.encode("원이", 64) == [CLS_ID, vocab.index("원"), vocab.index("##이"), SEP_ID]


def test_tokenizer_json_round_trip(tmp_path: Path) -> None:
    vocab = T.build_vocab(["큰 빨간 원이 두 개 있다.", "별 3개"])
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(T.tokenizer_json(vocab, 64), ensure_ascii=False), encoding="utf-8")
    loaded = T.load(str(path))
    assert loaded.tokens == vocab
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert [t["id"] for t in doc["added_tokens"]] == [0, 1, 2, 3, 4]
    assert doc["model"]["unk_token"] == "[UNK]" and doc["model"]["continuing_subword_prefix"] == "##"
    assert doc["normalizer"]["lowercase"] is False


def test_matches_the_shipped_golden_tokens(repo: Path) -> None:
    """The committed koclip-tiny package's golden ids (cross-checked against @huggingface/tokenizers
    when it was exported) must still come out of this encoder."""
    pkg = repo / "models" / "koclip-tiny"
    if not (pkg / "golden" / "tokens.json").exists():
        pytest.skip("models/koclip-tiny/golden/tokens.json is not in this checkout")
    golden = json.loads((pkg / "golden" / "tokens.json").read_text(encoding="utf-8"))
    wp = T.load(str(pkg / "tokenizer.json"))
    assert golden["cases"]
    for case in golden["cases"]:
        assert wp.encode(case["text"], golden["max_length"]) == case["input_ids"], case["text"]
