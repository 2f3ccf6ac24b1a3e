"""ONNX export of both towers and the kit's own int8 quantiser for the text tower.

onnxruntime's Python quantiser is not available here, so the kit rewrites the graph itself,
the way onnxruntime's dynamic quantisation does: every MatMul/Gemm with a constant weight
becomes DynamicQuantizeLinear (uint8 activations) + MatMulInteger with per-output-column int8
weights (7-bit range, see WEIGHT_QMAX), and embedding tables become int8 rows with a per-row scale.

Edge text towers are written with their initializers as ONNX external data (`write_external_data`):
onnxruntime-web then copies each weight straight into its tensor, where a graph holding its
weights inside the protobuf is parsed from a copy of the whole file in wasm memory, so the wasm
memory after load drops from about 3x the file to about 1.5x (docs/benchmarks.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .common import Array
from .model import ImageTower, KoCLIP, TextTower

OPSET = 17


def export_text(model: KoCLIP, path: str) -> None:
    export_text_module(TextTower(model), path)


def export_text_module(tower: torch.nn.Module, path: str) -> None:
    """A text tower module (input_ids, attention_mask) -> text_embeds, with its parameters."""
    ids = torch.tensor([[0, 5, 6, 2, 1], [0, 7, 2, 1, 1]], dtype=torch.int64)
    mask = ids.ne(1).to(torch.int64)
    torch.onnx.export(
        tower.eval(),
        (ids, mask),
        path,
        input_names=["input_ids", "attention_mask"],
        output_names=["text_embeds"],
        opset_version=OPSET,
        do_constant_folding=True,
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "text_embeds": {0: "batch"},
        },
    )


def export_image(model: KoCLIP, path: str) -> None:
    size = model.config.vision.image_size
    px = torch.zeros(2, 3, size, size)
    torch.onnx.export(
        ImageTower(model).eval(),
        (px,),
        path,
        input_names=["pixel_values"],
        output_names=["image_embeds"],
        opset_version=OPSET,
        do_constant_folding=True,
        dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
    )


# MatMul weights use 7 bits (-64..64), as onnxruntime's own `reduce_range` does: on x86 CPUs
# without VNNI, onnxruntime's uint8 x int8 MatMulInteger kernel (vpmaddubsw) adds two u8*s8
# products in int16, which saturates once 2 * 255 * |w| > 32767. With |w| <= 64 (32640) the
# integer result is exact on every CPU; with the full int8 range an AVX2-only machine gave text
# int8/fp32 cosines of ~0.97 instead of ~0.9999.
WEIGHT_QMAX = 64
EMBEDDING_QMAX = 127  # embedding rows are only gathered and scaled, never multiplied in integers


def quantize_columns(w: Array) -> tuple[Array, Array]:
    """[K, N] MatMul weight -> int8 in -WEIGHT_QMAX..WEIGHT_QMAX and one float32 scale per output
    column (w ~= q * scale); an all-zero column gets scale 1."""
    scale = np.abs(w).max(axis=0) / WEIGHT_QMAX
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_rows(table: Array) -> tuple[Array, Array]:
    """[V, D] embedding table -> int8 rows and a float32 [V, 1] scale per row (table ~= q * scale);
    an all-zero row (the padding token's) gets scale 1."""
    scale = np.abs(table).max(axis=1, keepdims=True) / EMBEDDING_QMAX
    scale[scale == 0] = 1.0
    q = np.clip(np.round(table / scale), -EMBEDDING_QMAX, EMBEDDING_QMAX).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_graph(
    graph_nodes: list[Any], consts: Mapping[str, Array], min_embedding_elems: int = 1000
) -> tuple[list[Any], list[tuple[str, Array]], set[str], dict[str, int]]:
    """The int8 rewrite of a graph's nodes (onnx.NodeProto) whose constant inputs are `consts`:
    (new nodes, new initializers, names of the float32 constants that were replaced, counts)."""
    replaced: set[str] = set()
    new_inits: list[tuple[str, Array]] = []
    nodes: list[Any] = []
    stats = {"matmul": 0, "gemm": 0, "gather": 0}

    def const(name: str, arr: Array) -> str:
        new_inits.append((name, arr))
        return name

    def int_matmul(a: str, w: Array, out: str, base: str) -> list[Any]:
        q, s = quantize_columns(w)
        wq, ws = const(base + "_wq", q), const(base + "_ws", s)
        return [
            helper.make_node(
                "DynamicQuantizeLinear", [a], [base + "_aq", base + "_as", base + "_azp"], name=base + "_dql"
            ),
            helper.make_node("MatMulInteger", [base + "_aq", wq, base + "_azp"], [base + "_yi"], name=base + "_mmi"),
            helper.make_node("Cast", [base + "_yi"], [base + "_yf"], to=TensorProto.FLOAT, name=base + "_cast"),
            helper.make_node("Mul", [base + "_as", ws], [base + "_s"], name=base + "_scale"),
            helper.make_node("Mul", [base + "_yf", base + "_s"], [out], name=base + "_mul"),
        ]

    for k, node in enumerate(graph_nodes):
        base = f"q{k}"
        if node.op_type == "MatMul" and node.input[1] in consts:
            w = consts[node.input[1]]
            if w.ndim == 2:
                nodes += int_matmul(node.input[0], w, node.output[0], base)
                replaced.add(node.input[1])
                stats["matmul"] += 1
                continue
        if node.op_type == "Gemm" and node.input[1] in consts:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transA", 0) == 0 and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0:
                w = consts[node.input[1]]
                if attrs.get("transB", 0):
                    w = w.T
                has_bias = len(node.input) > 2 and node.input[2]
                out = base + "_nobias" if has_bias else node.output[0]
                nodes += int_matmul(node.input[0], np.ascontiguousarray(w), out, base)
                if has_bias:
                    nodes.append(helper.make_node("Add", [out, node.input[2]], [node.output[0]], name=base + "_bias"))
                replaced.add(node.input[1])
                stats["gemm"] += 1
                continue
        if node.op_type == "Gather" and node.input[0] in consts:
            table = consts[node.input[0]]
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if table.ndim == 2 and table.size >= min_embedding_elems and attrs.get("axis", 0) == 0:
                q, scale = quantize_rows(table)
                tq, ts = const(base + "_tq", q), const(base + "_ts", scale)
                idx = node.input[1]
                nodes += [
                    helper.make_node("Gather", [tq, idx], [base + "_rows"], axis=0, name=base + "_gq"),
                    helper.make_node(
                        "Cast", [base + "_rows"], [base + "_rowsf"], to=TensorProto.FLOAT, name=base + "_cast"
                    ),
                    helper.make_node("Gather", [ts, idx], [base + "_rs"], axis=0, name=base + "_gs"),
                    helper.make_node("Mul", [base + "_rowsf", base + "_rs"], [node.output[0]], name=base + "_mul"),
                ]
                replaced.add(node.input[0])
                stats["gather"] += 1
                continue
        nodes.append(node)
    return nodes, new_inits, replaced, stats


def quantize_text(src: str, dst: str, min_embedding_elems: int = 1000) -> dict[str, int]:
    """Writes an int8 copy of a text tower; returns counts of what was quantised."""
    m = onnx.load(src)
    g = m.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes, new_inits, replaced, stats = quantize_graph(list(g.node), consts, min_embedding_elems)
    still_used = {i for n in nodes for i in n.input}
    keep = [i for i in g.initializer if i.name not in replaced or i.name in still_used]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + [numpy_helper.from_array(a, n) for n, a in new_inits])
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    return stats


EXTERNAL_DATA_SUFFIX = ".data"


def write_external_data(path: str) -> str:
    """Rewrites the ONNX file `path` in place as its graph plus one external data file beside it,
    `<file name>.data`, holding every initializer of 1 KiB or more (onnx's default threshold; the
    graph names the file by its bare name, so the two must stay in one folder). Returns the data
    file's name. The weights are the same bytes, so the tower computes the same results."""
    data_name = os.path.basename(path) + EXTERNAL_DATA_SUFFIX
    data_path = os.path.join(os.path.dirname(path), data_name)
    m = onnx.load(path)  # also loads any external data the file already has
    if os.path.exists(data_path):
        os.remove(data_path)  # onnx appends to an existing data file
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name)
    onnx.checker.check_model(path)
    return data_name
