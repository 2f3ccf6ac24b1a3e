"""ONNX files written without holding the model twice in memory (koclip_kit.convert).

torch.onnx.export with its parameters would keep three copies of a tower at once (the module's
tensors, the exporter's ModelProto and its serialised bytes): 4.3 GB for klue/roberta-large. So
the graph is exported without parameters (`export_params=False`: they become graph inputs named
by their state-dict names) and the file is written as the serialised graph followed by one small
ModelProto per initializer. Protobuf merges repeated occurrences of a message field, so the
concatenation parses as one ModelProto whose graph holds every initializer (onnx.load and
onnxruntime read it like any other file). Peak memory: the module's tensors plus one tensor.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .common import Array
from .onnx_export import OPSET, quantize_graph

GRAPH_INPUTS = ("input_ids", "attention_mask", "pixel_values")


def export_graph(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    """The module's graph without its parameters (parameters are graph inputs by name)."""
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            args,
            buf,
            export_params=False,
            input_names=input_names,
            output_names=output_names,
            opset_version=OPSET,
            # folding would turn expressions of parameters into new, nameless graph inputs
            do_constant_folding=False,
            dynamic_axes=dynamic_axes,
        )
    return onnx.load_from_string(buf.getvalue())


def params(module: torch.nn.Module, graph_model: onnx.ModelProto) -> dict[str, Array]:
    """The module's parameters that are inputs of the exported graph, as arrays sharing the
    tensors' memory. (The exporter replaces a parameter equal to an earlier one, such as a
    second all-zero LayerNorm bias, by an Identity node of the first.)"""
    inputs = {i.name for i in graph_model.graph.input}
    return {n: p.detach().numpy() for n, p in module.named_parameters() if n in inputs}


def write(path: str, graph_model: onnx.ModelProto, tensors: Iterable[tuple[str, Array]]) -> None:
    """Writes `graph_model` with `tensors` as its initializers; the graph keeps only the inputs
    that are no parameters (the exported inputs: input_ids, attention_mask, pixel_values)."""
    items = list(tensors)
    m = onnx.ModelProto()
    m.CopyFrom(graph_model)
    keep = [i for i in m.graph.input if i.name in GRAPH_INPUTS]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    del m.graph.initializer[:]
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
        for name, arr in items:
            chunk = onnx.ModelProto()
            chunk.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
            f.write(chunk.SerializeToString())


def quantized(
    graph_model: onnx.ModelProto, consts: Mapping[str, Array]
) -> tuple[onnx.ModelProto, list[tuple[str, Array]], dict[str, int]]:
    """The int8 text tower: (graph, initializers, counts) of koclip_kit.onnx_export.quantize_graph."""
    m = onnx.ModelProto()
    m.CopyFrom(graph_model)
    nodes, new, replaced, stats = quantize_graph(list(m.graph.node), consts)
    still_used = {i for n in nodes for i in n.input}
    kept = [(n, a) for n, a in consts.items() if n not in replaced or n in still_used]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m, kept + new, stats


def _fp16_tensor(t: TensorProto) -> TensorProto:
    if t.data_type != TensorProto.FLOAT:
        return t
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)


def fp16(graph_model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of a float32 graph with float32 I/O kept (Cast after the inputs and before
    the outputs); initializers are cast by `fp16_tensors` while writing."""
    m = onnx.ModelProto()
    m.CopyFrom(graph_model)
    g = m.graph
    rename: dict[str, str] = {}
    pre: list[Any] = []
    for i in g.input:
        if i.type.tensor_type.elem_type == TensorProto.FLOAT:
            rename[i.name] = i.name + "_fp16"
            pre.append(helper.make_node("Cast", [i.name], [i.name + "_fp16"], to=TensorProto.FLOAT16))
    outs = {o.name for o in g.output if o.type.tensor_type.elem_type == TensorProto.FLOAT}
    nodes: list[Any] = []
    for node in g.node:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
        for k, name in enumerate(node.output):
            if name in outs:
                node.output[k] = name + "_fp16"
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(_fp16_tensor(a.t))
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
        nodes.append(node)
    post = [helper.make_node("Cast", [o + "_fp16"], [o], to=TensorProto.FLOAT) for o in sorted(outs)]
    del g.node[:]
    g.node.extend(pre + nodes + post)
    del g.value_info[:]
    return m


def fp16_tensors(tensors: Mapping[str, Array]) -> Iterable[tuple[str, Array]]:
    for name, arr in tensors.items():
        yield name, arr.astype(np.float16) if arr.dtype == np.float32 else arr
