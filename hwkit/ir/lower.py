"""``lower``: QONNX model -> HwGraph, as a named list of small pure passes.

Model passes (``ModelWrapper -> ModelWrapper``, :mod:`hwkit.ir.passes`) normalise the export;
``translate`` turns it into layers (:mod:`hwkit.ir.translate`); graph passes
(``HwGraph -> HwGraph``, below) re-derive types and find shared weight memories."""
from __future__ import annotations

import copy

import numpy as np

from hwkit.ir.graph import MVU, HwGraph
from hwkit.ir.passes import MODEL_PASSES
from hwkit.ir.translate import Translator
from hwkit.ir.typing import infer_layer


def translate(model, max_acc_bits: int = 32) -> HwGraph:
    return Translator(model, max_acc_bits).run()


def clone(graph: HwGraph) -> HwGraph:
    """A copy that passes may edit: layers and streams are deep-copied, meta is shared (read-only)."""
    layers = []
    for layer in graph.layers:
        layer = copy.deepcopy(layer)
        layer.__dict__.pop("_sim", None)  # simulator caches depend on the parameters
        layers.append(layer)
    return HwGraph(graph.name, copy.deepcopy(graph.streams), layers, list(graph.inputs), list(graph.outputs),
                   dict(graph.meta))


def infer_types(graph: HwGraph, max_acc_bits: int = 32) -> HwGraph:
    """Recompute every derived stream type (and MVU accumulators) from the input type forward."""
    g = clone(graph)
    for layer in g.hardware_layers():
        g.streams[layer.outputs[0]].dtype = infer_layer(layer, g.streams, max_acc_bits)
    return g


def _adjoint(g: HwGraph, early: MVU, late: MVU) -> np.ndarray:
    """early's weights as the adjoint operator: W^T for vectors; for convolutions (same kernel on
    both), the kernel flipped with input and output channels swapped, in im2col (kh, kw, c) order."""
    from hwkit.ir.graph import SlidingWindow

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
    g = clone(graph)
    mvus = [l for l in g.layers if isinstance(l, MVU)]
    for i, late in enumerate(mvus):
        for early in mvus[:i]:
            if early.transposed_of is None and late.wtype == early.wtype \
                    and late.weights.size == early.weights.size \
                    and np.array_equal(late.weights, _adjoint(g, early, late)):
                late.transposed_of = early.name
                break
    return g


GRAPH_PASSES = [infer_types, mark_transposed]


def lower(model_or_path, max_acc_bits: int = 32) -> HwGraph:
    """Lower a QONNX model (path, ModelWrapper or ModelProto) to an HwGraph.

    Raises :class:`hwkit.errors.UnsupportedModelError` naming the node and op type for anything
    without an exact integer lowering."""
    from hwkit.ir.passes import load

    model = load(model_or_path)
    for p in MODEL_PASSES:
        model = p(model)
    graph = translate(model, max_acc_bits)
    graph = infer_types(graph, max_acc_bits)
    graph = mark_transposed(graph)
    graph.meta["model"] = model
    return graph
