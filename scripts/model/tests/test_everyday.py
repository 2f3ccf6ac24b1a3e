"""koclip_kit.everyday and the decomposing tokenizer of koclip_kit.lit: the evaluation frames stay out
of training, the paraphrase set is what the issue asks (>= 200 queries, every query satisfiable on
the demo index), the slips are real slips, and no Hangul becomes [UNK]."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from koclip_kit import data, everyday
from koclip_kit.convert import Tok
from koclip_kit.tokenizer import build_jamo_vocab, tokenizer_config, tokenizer_json


def demo_items(repo: Path) -> list[dict[str, Any]]:
    return json.loads((repo / "models/koclip-tiny/demo/index.json").read_text(encoding="utf-8"))["items"]


def test_evaluation_frames_share_nothing_with_training() -> None:
    everyday.check_disjoint()
    assert {f.text for f in everyday.EVAL_FRAMES}.isdisjoint({f.text for f in everyday.TRAIN_FRAMES})


def test_check_disjoint_refuses_a_shared_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(everyday, "EVAL_FRAMES", [*everyday.EVAL_FRAMES, everyday.TRAIN_FRAMES[3]])
    with pytest.raises(ValueError, match="frames in both sets"):
        everyday.check_disjoint(samples=10)


def test_the_paraphrase_set_is_large_and_every_query_has_an_answer(repo: Path) -> None:
    items = demo_items(repo)
    queries = everyday.paraphrase_set(items)
    assert len(queries) >= everyday.MIN_QUERIES
    assert len({q["text"] for q in queries}) >= 0.95 * len(queries)
    for q in queries:
        assert any(data.satisfies(it["metadata"], q["attrs"]) for it in items), q
        assert {"colour", "shape"} <= set(q["attrs"])
    assert {f.text for f in everyday.EVAL_FRAMES} == {q["frame"] for q in queries}
    kinds = {k for q in queries for k in q["noise"]}
    assert kinds == {"typo", "spacing"}


def test_particles_follow_the_last_syllable() -> None:
    frame = everyday.Frame("{S|이} {S|을} {Cn|으로}")
    assert everyday.fill(frame, {"S": "별", "Cn": "빨강"}) == "별이 별을 빨강으로"
    assert everyday.fill(frame, {"S": "세모", "Cn": "갈색"}) == "세모가 세모를 갈색으로"
    assert everyday.Frame("{Z} {C} {S} {Nd}").attrs == frozenset({"size", "colour", "shape", "count"})


def test_a_typo_changes_one_syllable_of_a_longer_word() -> None:
    rng = random.Random(1)
    for _ in range(200):
        text = "빨간 원 두 개"
        typed = everyday.typo(text, rng)
        diff = [i for i, (a, b) in enumerate(zip(text, typed, strict=True)) if a != b]
        assert len(diff) <= 1
        if diff:
            assert diff[0] in (0, 1)  # 빨간 only: 원, 두 and 개 are one-syllable words


def test_the_measure_is_r_precision() -> None:
    metas = [{"colour": "red", "count": 1}, {"colour": "red", "count": 2}, {"colour": "blue", "count": 1}]
    q = [{"text": "빨간", "attrs": {"colour": "red"}, "noise": []}]
    assert everyday.r_precision(np.array([[0.9, 0.1, 0.5]]), q, metas)["r_precision"] == 0.5
    assert everyday.r_precision(np.array([[0.9, 0.8, 0.5]]), q, metas)["r_precision"] == 1.0


def test_no_hangul_becomes_unk(tmp_path: Path) -> None:
    vocab = build_jamo_vocab(everyday.corpus(400, 0))
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer_json(vocab, 64, decompose=True)), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(64)), encoding="utf-8")
    tok = Tok(str(tmp_path))
    rng = random.Random(3)
    syllables = "".join(chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(3000))
    words = [syllables[i : i + 3] for i in range(0, len(syllables), 3)]
    jamo = [chr(c) for c in range(0x3131, 0x318F)] + [chr(c) for c in range(0x1100, 0x1160)]
    for text in [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)] + jamo + ["ㅋㅋㅋ", "뷁 똠얌꿍"]:
        ids = tok.encode(text, 1000)
        assert tok.unk not in ids, (text, ids)
    # a known word is one piece; an unseen one falls back to syllables, then jamo
    assert len(tok.encode("동그라미", 64)) == 3
    assert [tok.tok.id_to_token(i) for i in tok.encode("뷁", 64)[1:-1]] == [
        unicodedata.normalize("NFD", "뷁")[0],
        "##" + unicodedata.normalize("NFD", "뷁")[1],
        "##" + unicodedata.normalize("NFD", "뷁")[2],
    ]
