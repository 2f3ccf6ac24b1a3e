"""koclip_kit.onnx_export's int8 quantiser: the weight quantisers and the rewritten graph, run
by a small numpy interpreter of the ONNX operators the rewrite uses (onnxruntime has no Python
package here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from koclip_kit.common import Array
from koclip_kit.onnx_export import (
    EMBEDDING_QMAX,
    WEIGHT_QMAX,
    quantize_columns,
    quantize_rows,
    quantize_text,
    write_external_data,
)


def _weights(k: int, n: int, seed: int = 0) -> Array:
    """Columns whose magnitudes differ tenfold (per-column scales must matter)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((k, n)) * np.geomspace(0.2, 2.0, n)).astype(np.float32)


# ---------------------------------------------------------------- weight quantisers


def test_columns_round_trip_within_half_a_step() -> None:
    w = _weights(64, 16)
    q, scale = quantize_columns(w)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert scale.dtype == np.float32 and scale.shape == (16,)
    assert np.abs(q).max() == WEIGHT_QMAX  # each column's largest weight uses the full range
    err = np.abs(q * scale - w)
    assert (err <= scale / 2 * (1 + 1e-5)).all()


def test_rows_round_trip_within_half_a_step() -> None:
    table = _weights(16, 64).T.copy()  # rows of very different magnitudes
    q, scale = quantize_rows(table)
    assert q.dtype == np.int8 and scale.shape == (64, 1)
    assert np.abs(q).max() == EMBEDDING_QMAX
    assert (np.abs(q * scale - table) <= scale / 2 * (1 + 1e-5)).all()


def test_zero_columns_and_rows_stay_exact_zero() -> None:
    w = _weights(8, 4)
    w[:, 2] = 0
    q, scale = quantize_columns(w)
    assert scale[2] == 1.0 and (q[:, 2] == 0).all()
    assert np.isfinite(q * scale).all()
    table = _weights(6, 8)
    table[1] = 0  # the padding token's row of word_embeddings
    qr, sr = quantize_rows(table)
    assert sr[1, 0] == 1.0 and (qr[1] == 0).all() and (qr[1] * sr[1] == 0).all()


def _avx2_u8s8(a_u8: Array, w_s8: Array) -> Array:
    """onnxruntime's uint8 x int8 GEMM on x86 without VNNI: vpmaddubsw adds adjacent u8*s8
    products in saturating int16, then the pairs are summed in int32."""
    prod = a_u8.astype(np.int32)[:, :, None] * w_s8.astype(np.int32)[None, :, :]  # [M, K, N]
    pairs = np.clip(prod[:, 0::2] + prod[:, 1::2], -32768, 32767)
    return pairs.sum(1)


def test_weights_cannot_saturate_int16_pair_sums() -> None:
    """With full-range int8 weights the pair sums overflow int16 (int8 tower off on AVX2-only CPUs);
    the 7-bit range never does, for any activation."""
    q, _ = quantize_columns(_weights(64, 16))
    a = np.full((2, 64), 255, dtype=np.uint8)
    a[1, ::3] = 0
    exact = a.astype(np.int32) @ q.astype(np.int32)
    assert (_avx2_u8s8(a, q) == exact).all()
    full = np.clip(np.round(q.astype(np.float32) * 127 / WEIGHT_QMAX), -127, 127).astype(np.int8)
    assert (_avx2_u8s8(a, full) != a.astype(np.int32) @ full.astype(np.int32)).any()


# ---------------------------------------------------------------- the rewritten graph


def _run(model: Any, feeds: dict[str, Array], names: list[str] | None = None) -> dict[str, Array]:
    """Evaluates a graph of the operators below (enough for the original and the quantised one)."""
    env: dict[str, Array] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        x = [env[n] for n in node.input if n]
        op = node.op_type
        out: list[Any]
        if op == "MatMul":
            out = [x[0] @ x[1]]
        elif op == "Gemm":
            b = x[1].T if a.get("transB", 0) else x[1]
            out = [x[0] @ b + (x[2] if len(x) > 2 else 0)]
        elif op == "Gather":
            out = [np.take(x[0], x[1], axis=a.get("axis", 0))]
        elif op == "DynamicQuantizeLinear":  # ONNX spec, round half to even
            lo, hi = min(0.0, float(x[0].min())), max(0.0, float(x[0].max()))
            scale = np.float32((hi - lo) / 255)
            zp = np.uint8(np.clip(np.round(-lo / scale), 0, 255))
            q = np.clip(np.round(x[0] / scale) + zp, 0, 255).astype(np.uint8)
            out = [q, scale, zp]
        elif op == "MatMulInteger":
            a_zp = x[2].astype(np.int32) if len(x) > 2 else 0
            out = [(x[0].astype(np.int32) - a_zp) @ x[1].astype(np.int32)]
        elif op == "Cast":
            assert a["to"] == TensorProto.FLOAT
            out = [x[0].astype(np.float32)]
        elif op == "Mul":
            out = [(x[0] * x[1]).astype(np.float32)]
        elif op == "Add":
            out = [x[0] + x[1]]
        else:
            raise AssertionError(f"operator {op} not expected in the test graph")
        env.update(zip(node.output, out, strict=True))
    return {n: env[n] for n in names or [o.name for o in model.graph.output]}


@pytest.fixture
def tower(tmp_path: Path) -> tuple[Any, Any, dict[str, Array]]:
    """A text-tower-shaped graph: embedding Gather -> MatMul -> Gemm(+bias, transB); returns the
    original model, its quantised copy and the fp32 weights."""
    rng = np.random.default_rng(1)
    w = {
        "emb": rng.standard_normal((50, 32)).astype(np.float32),
        "w1": _weights(32, 24, seed=2),
        "w2": _weights(24, 16, seed=3).T.copy(),  # Gemm with transB: [N, K]
        "b2": rng.standard_normal(16).astype(np.float32),
    }
    w["emb"][1] = 0  # padding row
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["h0"], axis=0),
        helper.make_node("MatMul", ["h0", "w1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tower",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 16])],
        [numpy_helper.from_array(v, k) for k, v in w.items()],
    )
    src, dst = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    stats = quantize_text(str(src), str(dst))
    assert stats == {"matmul": 1, "gemm": 1, "gather": 1}
    return onnx.load(str(src)), onnx.load(str(dst)), w


def test_quantised_graph_replaces_fp32_weights(tower: tuple[Any, Any, dict[str, Array]]) -> None:
    _, q, _ = tower
    ops = [n.op_type for n in q.graph.node]
    assert "MatMul" not in ops and "Gemm" not in ops
    assert ops.count("MatMulInteger") == 2 and ops.count("DynamicQuantizeLinear") == 2
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    assert not {"emb", "w1", "w2"} & set(inits)  # fp32 copies dropped
    assert "b2" in inits  # the bias stays fp32
    for node in q.graph.node:
        if node.op_type == "MatMulInteger":
            wq = inits[node.input[1]]
            assert wq.dtype == np.int8 and np.abs(wq).max() <= WEIGHT_QMAX


def test_quantised_matmul_is_close_to_fp32(tower: tuple[Any, Any, dict[str, Array]]) -> None:
    ref, q, w = tower
    ids = np.array([0, 1, 5, 17, 49, 1], dtype=np.int64)
    want = _run(ref, {"ids": ids})["y"]
    np.testing.assert_allclose(want, (w["emb"][ids] @ w["w1"]) @ w["w2"].T + w["b2"], rtol=1e-5, atol=1e-5)
    got = _run(q, {"ids": ids})["y"]
    assert got.shape == want.shape and got.dtype == np.float32
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() > 0.999, cos
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_padding_row_embeds_as_exact_zero(tower: tuple[Any, Any, dict[str, Array]]) -> None:
    _, q, w = tower
    rows = _run(q, {"ids": np.array([1, 2], dtype=np.int64)}, ["h0"])["h0"]  # the rewritten Gather's output
    assert (rows[0] == 0).all()
    scale = np.abs(w["emb"][2]).max() / EMBEDDING_QMAX
    assert np.abs(rows[1] - w["emb"][2]).max() <= scale / 2 * (1 + 1e-5)


# ---------------------------------------------------------------- external data (edge towers)


def test_external_data_keeps_every_weight_and_the_results(
    tower: tuple[Any, Any, dict[str, Array]], tmp_path: Path
) -> None:
    _, q, _ = tower
    path = tmp_path / "edge" / "text-int8.onnx"
    path.parent.mkdir()
    onnx.save(q, str(path))
    inline_bytes = path.stat().st_size
    assert write_external_data(str(path)) == "text-int8.onnx.data"
    data = path.parent / "text-int8.onnx.data"
    graph = onnx.load(str(path), load_external_data=False)
    external = [i for i in graph.graph.initializer if i.data_location == TensorProto.EXTERNAL]
    # every initializer of 1 KiB or more left the graph for the data file, named by its bare name
    sizes = {i.name: numpy_helper.to_array(i).nbytes for i in q.graph.initializer}
    assert {i.name for i in external} == {n for n, b in sizes.items() if b >= 1024} != set()
    assert all({e.key: e.value for e in i.external_data}["location"] == data.name for i in external)
    assert data.stat().st_size >= sum(sizes[i.name] for i in external)
    assert path.stat().st_size < inline_bytes - sum(sizes[i.name] for i in external) + 512
    ids = np.array([0, 1, 5, 17, 49, 1], dtype=np.int64)
    np.testing.assert_array_equal(_run(onnx.load(str(path)), {"ids": ids})["y"], _run(q, {"ids": ids})["y"])
    # again on the split file: the same two files, not a data file appended to
    before = (path.read_bytes(), data.read_bytes())
    write_external_data(str(path))
    assert (path.read_bytes(), data.read_bytes()) == before
