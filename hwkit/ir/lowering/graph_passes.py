"""Graph passes (``HwGraph -> HwGraph``) run after the translation, each returning a new graph;
:func:`hwkit.ir.lower.lower_with_model` runs :func:`hwkit.ir.check.check_graph` after each.

Per layer they have the ``match``/``rewrite`` shape (:class:`TypeAccumulators`,
:class:`MarkTransposed`); :func:`infer_types` and :func:`mark_transposed` sweep a whole graph."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from hwkit.ir.graph import MVU, HwGraph, SlidingWindow
from hwkit.ir.typing import infer_layer


def accumulates(layer) -> bool:
    """A layer whose output stream is its accumulator (``acc``): an MVU, or any kind shaped like one."""
    return hasattr(layer, "acc")


class TypeAccumulators:
    """Every stream type (and an MVU's accumulator) follows from its input types and integer
    parameters: recomputed from the input forward, so no type outlives the parameters it came from."""

    name = "type_accumulators"

    def match(self, ctx, layer) -> bool:
        return layer.kind != "FloatTail"

    def rewrite(self, ctx, layer):
        streams, max_acc_bits = ctx
        t = infer_layer(layer, streams, max_acc_bits)
        out = layer.outputs[0]
        if streams[out].dtype != t:
            streams[out] = replace(streams[out], dtype=t)
        return replace(layer, acc=t) if accumulates(layer) and layer.acc != t else layer


def infer_types(graph: HwGraph, max_acc_bits: int = 32) -> HwGraph:
    """Recompute every derived stream type (and MVU accumulators) from the input type forward."""
    p, streams = TypeAccumulators(), dict(graph.streams)
    layers = tuple(p.rewrite((streams, max_acc_bits), l) if p.match(None, l) else l for l in graph.layers)
    return replace(graph, streams=streams, layers=layers)


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


class MarkTransposed:
    """An MVU whose integer weights equal an earlier unmarked MVU's adjoint reads that memory (the
    stable block's K and K^T): backends then store one weight memory for both."""

    name = "mark_transposed"

    def _partner(self, graph: HwGraph, late: MVU):
        for early in graph.layers:
            if early is late:
                return None
            if isinstance(early, MVU) and early.transposed_of is None and late.wtype == early.wtype \
                    and late.weights.size == early.weights.size \
                    and np.array_equal(late.weights, _adjoint(graph, early, late)):
                return early
        return None

    def match(self, graph: HwGraph, layer) -> bool:
        return isinstance(layer, MVU) and layer.transposed_of is None and self._partner(graph, layer) is not None

    def rewrite(self, graph: HwGraph, layer):
        return replace(layer, transposed_of=self._partner(graph, layer).name)


def mark_transposed(graph: HwGraph) -> HwGraph:
    """An MVU whose integer weights equal an earlier MVU's transposed reads that memory (K and K^T).
    Earlier layers are compared as the graph came in (a layer marked in this sweep still counts as
    unmarked for later ones, as it did)."""
    p = MarkTransposed()
    marked = [p.rewrite(graph, l) for l in graph.layers if p.match(graph, l)]
    return graph.replace_layers(*marked) if marked else graph


GRAPH_PASSES = [infer_types, mark_transposed]
