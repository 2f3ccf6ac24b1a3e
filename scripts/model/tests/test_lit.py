"""koclip_kit.lit's start: the package's ONNX text tower read back into PyTorch is the same tower, and
a wrong shape is refused rather than loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from koclip_kit.common import cosines
from koclip_kit.errors import KitError
from koclip_kit.lit import load_onnx_text_tower
from koclip_kit.model import TextConfig
from koclip_kit.student import Student, torch_embed
from koclip_kit.teacher import Teacher


def tower(teacher: Teacher, **change: int) -> Student:
    arch = teacher.manifest["text"]["architecture"]
    cfg = TextConfig(
        vocab_size=teacher.tok.vocab_size,
        hidden_size=int(arch["hidden_size"]),
        num_hidden_layers=int(arch["num_hidden_layers"]),
        num_attention_heads=int(arch["num_attention_heads"]),
        intermediate_size=int(arch["intermediate_size"]),
        max_position_embeddings=teacher.max_length,
        pad_token_id=teacher.tok.pad,
    )
    for k, v in change.items():
        setattr(cfg, k, v)
    return Student(cfg, int(teacher.manifest["projection_dim"]))


def test_the_onnx_text_tower_loads_back_exactly(repo: Path) -> None:
    teacher = Teacher(str(repo / "models/koclip-tiny"))
    student = tower(teacher)
    load_onnx_text_tower(student, teacher.fp32)
    texts = ["빨간 원", "노란 별 두 개", "흰 배경에 큰 파란 세모가 세 개 있다.", "red circle"]
    got = torch_embed(student.eval(), teacher.tok, texts, teacher.max_length)
    assert cosines(teacher.embed(texts), got).min() >= 0.9999


def test_a_tower_of_another_shape_is_refused(repo: Path) -> None:
    teacher = Teacher(str(repo / "models/koclip-tiny"))
    with pytest.raises(KitError, match="shape"):
        load_onnx_text_tower(tower(teacher, vocab_size=teacher.tok.vocab_size + 1), teacher.fp32)
