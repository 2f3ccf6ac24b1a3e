"""koclip_kit.model: the position ids the text tower feeds its position embeddings."""

from __future__ import annotations

import pytest
import torch

from koclip_kit.model import RobertaEmbeddings, TextConfig


def _positions_seen(offset: int, length: int) -> tuple[list[int], int]:
    c = TextConfig(vocab_size=16, hidden_size=8, max_position_embeddings=6, position_id_offset=offset)
    emb = RobertaEmbeddings(c)
    seen: list[torch.Tensor] = []
    emb.position_embeddings.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    emb(torch.zeros(2, length, dtype=torch.int64))
    return seen[0][0].tolist(), emb.position_embeddings.num_embeddings


def test_koclip_positions_start_at_zero() -> None:
    """KoCLIP (Flax) passes arange(T): offset 0, a table of max_position_embeddings rows."""
    assert _positions_seen(0, 4) == ([0, 1, 2, 3], 6)


@pytest.mark.parametrize("offset", [1, 2])
def test_offset_shifts_positions_and_grows_the_table(offset: int) -> None:
    """A RoBERTa-style offset (pad_id + 1 = 2) shifts every id; the full length still fits."""
    positions, rows = _positions_seen(offset, 6)
    assert positions == [p + offset for p in range(6)]
    assert rows == 6 + offset
