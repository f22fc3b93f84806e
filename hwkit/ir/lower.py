"""``lower``: QONNX model -> HwGraph, as a named list of small pure passes.

Model passes (``ModelWrapper -> ModelWrapper``, :mod:`hwkit.ir.passes`) normalise the export;
``translate`` turns it into layers (:mod:`hwkit.ir.translate`); graph passes
(``HwGraph -> HwGraph``, below) re-derive types and find shared weight memories. Every graph pass
returns a new graph and is followed by :func:`hwkit.ir.check.check_graph`."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from hwkit.ir.check import check_graph
from hwkit.ir.graph import MVU, HwGraph, SlidingWindow
from hwkit.ir.passes import MODEL_PASSES
from hwkit.ir.translate import Translator
from hwkit.ir.typing import infer_layer


def translate(model, max_acc_bits: int = 32) -> HwGraph:
    return Translator(model, max_acc_bits).run()


def infer_types(graph: HwGraph, max_acc_bits: int = 32) -> HwGraph:
    """Recompute every derived stream type (and MVU accumulators) from the input type forward."""
    streams = dict(graph.streams)
    layers = []
    for layer in graph.layers:
        if layer.kind != "FloatTail":
            t = infer_layer(layer, streams, max_acc_bits)
            out = layer.outputs[0]
            if streams[out].dtype != t:
                streams[out] = replace(streams[out], dtype=t)
            if hasattr(layer, "acc") and layer.acc != t:
                layer = replace(layer, acc=t)
        layers.append(layer)
    return replace(graph, streams=streams, layers=tuple(layers))


def _adjoint(g: HwGraph, early: MVU, late: MVU) -> np.ndarray:
    """early's weights as the adjoint operator: W^T for vectors; for convolutions (same kernel on
    both), the kernel flipped with input and output channels swapped, in im2col (kh, kw, c) order."""
    pe, pl = g.producer(early.inputs[0]), g.producer(late.inputs[0])
    if isinstance(pe, SlidingWindow) and isinstance(pl, SlidingWindow) and pe.kernel == pl.kernel:
        kh, kw = pe.kernel
        O = early.mh
        if early.mw % (kh * kw):
            return early.weights.T
        E = early.weights.reshape(O, kh, kw, -1)[:, ::-1, ::-1, :]
        return E.transpose(3, 1, 2, 0).reshape(-1, kh * kw * O)
    return early.weights.T


def mark_transposed(graph: HwGraph) -> HwGraph:
    """An MVU whose integer weights equal an earlier MVU's transposed reads that memory (K and K^T)."""
    mvus = [l for l in graph.layers if isinstance(l, MVU)]
    marked = []
    for i, late in enumerate(mvus):
        if late.transposed_of is not None:
            continue
        for early in mvus[:i]:
            if early.transposed_of is None and late.wtype == early.wtype \
                    and late.weights.size == early.weights.size \
                    and np.array_equal(late.weights, _adjoint(graph, early, late)):
                marked.append(replace(late, transposed_of=early.name))
                break
    return graph.replace_layers(*marked) if marked else graph


GRAPH_PASSES = [infer_types, mark_transposed]


def clean_model(model_or_path):
    """The normalised QONNX model that :func:`lower` translates (a private ModelWrapper): what
    comparisons against qonnx execution run."""
    from hwkit.ir.passes import load

    model = load(model_or_path)
    for p in MODEL_PASSES:
        model = p(model)
    return model


def lower_with_model(model_or_path, max_acc_bits: int = 32):
    """``(graph, model)``: the HwGraph and the normalised QONNX model it was translated from."""
    model = clean_model(model_or_path)
    graph = check_graph(translate(model, max_acc_bits))
    for p in GRAPH_PASSES:
        graph = check_graph(p(graph, max_acc_bits) if p is infer_types else p(graph))
    return graph, model


def lower(model_or_path, max_acc_bits: int = 32) -> HwGraph:
    """Lower a QONNX model (path, ModelWrapper or ModelProto) to an HwGraph.

    Raises :class:`hwkit.errors.UnsupportedModelError` naming the node and op type for anything
    without an exact integer lowering."""
    return lower_with_model(model_or_path, max_acc_bits)[0]
