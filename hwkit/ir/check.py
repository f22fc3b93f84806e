"""``check_graph``: the invariants every HwGraph keeps, checked after every pass and on load.

Topological order, one producer per stream, every read stream produced or a graph input, stream
types containing the values their producer can emit, folding dividing the dimensions it splits,
and a K^T unit naming an earlier MVU whose weights it holds as the adjoint."""
from __future__ import annotations

import numpy as np

from hwkit.errors import GraphError
from hwkit.ir.graph import MVU, FloatTail, HwGraph, SlidingWindow, SymmetricBlock, Threshold
from hwkit.ir.typing import output_range


def flatten(graph: HwGraph) -> tuple[list, dict]:
    """Layers with SymmetricBlocks opened into their bodies, and every stream they use."""
    layers, streams = [], dict(graph.streams)
    for layer in graph.layers:
        if isinstance(layer, SymmetricBlock):
            streams.update(layer.streams)
            layers.extend(layer.body)
        else:
            layers.append(layer)
    return layers, streams


def adjoint_taps(k: np.ndarray, kt: np.ndarray) -> int | None:
    """T when ``kt`` is the adjoint of ``k`` over T window taps, else None. K is (O, T*C) in im2col
    order (tap-major, channel fastest); its adjoint (conv_transpose) is (C, T*O) with
    kt[c, t*O + o] = k[o, (T-1-t)*C + c]: taps flipped, channels swapped. T=1 is the plain transpose."""
    o, kw = k.shape
    c, ktw = kt.shape
    if kw % c or ktw != (kw // c) * o:
        return None
    t = kw // c
    adj = k.reshape(o, t, c)[:, ::-1, :].transpose(2, 1, 0).reshape(c, t * o)
    return t if np.array_equal(adj, kt) else None


def _fail(graph: HwGraph, why: str):
    raise GraphError(f"graph '{graph.name}': {why}")


def check_graph(graph: HwGraph) -> HwGraph:
    """Raise :class:`hwkit.errors.GraphError` (one line) on the first broken invariant; return
    ``graph`` unchanged so passes can be chained as ``check_graph(p(g))``."""
    layers, streams = flatten(graph)
    for s in graph.inputs:
        if s not in streams:
            _fail(graph, f"input stream '{s}' has no Stream record")
    available = set(graph.inputs)
    producer: dict = {}
    names: set = set()
    for layer in layers:
        if layer.name in names:
            _fail(graph, f"two layers are named '{layer.name}'")
        names.add(layer.name)
        for s in layer.inputs:
            if s not in available:
                why = "comes later (layers out of topological order)" if any(s in l.outputs for l in layers) \
                    else "is neither produced nor a graph input"
                _fail(graph, f"layer '{layer.name}' reads stream '{s}', which {why}")
        for s in layer.outputs:
            if s in graph.inputs:
                _fail(graph, f"layer '{layer.name}' writes the graph input '{s}'")
            if s in producer:
                _fail(graph, f"stream '{s}' has two producers, '{producer[s].name}' and '{layer.name}'")
            if s not in streams and not isinstance(layer, FloatTail):
                _fail(graph, f"layer '{layer.name}' writes stream '{s}', which has no Stream record")
            producer[s] = layer
            available.add(s)
    for s in graph.outputs:
        if s not in available:
            _fail(graph, f"output stream '{s}' is never produced")
    for layer in layers:
        if not isinstance(layer, FloatTail):
            _check_types(graph, layer, streams)
            _check_folding(graph, layer, streams, producer)
    _check_transposed(graph, layers)
    return graph


def _check_types(graph, layer, streams):
    rng = output_range(layer, streams)
    if rng is None:
        return
    lo, hi = rng
    t = streams[layer.outputs[0]].dtype
    if lo < t.min or hi > t.max:
        _fail(graph, f"layer '{layer.name}' ({layer.kind}) emits values in [{lo}, {hi}] but its output stream "
                     f"'{layer.outputs[0]}' is {t} [{t.min}, {t.max}]")
    if isinstance(layer, MVU) and layer.acc is not None and (lo < layer.acc.min or hi > layer.acc.max):
        _fail(graph, f"layer '{layer.name}' accumulates values in [{lo}, {hi}], outside its accumulator {layer.acc}")
    if isinstance(layer, Threshold) and t.bipolar and layer.thresholds.shape[1] != 1:
        _fail(graph, f"layer '{layer.name}' has {layer.thresholds.shape[1]} thresholds per channel for a bipolar "
                     f"output (needs 1)")


def _check_folding(graph, layer, streams, producer):
    f = getattr(layer, "folding", None)
    if f is None:
        return
    if f.pe < 1 or f.simd < 1:
        _fail(graph, f"layer '{layer.name}' has folding PE={f.pe} SIMD={f.simd}; both must be >= 1")
    if isinstance(layer, MVU):
        src = producer.get(layer.inputs[0])
        conv_c = streams[src.inputs[0]].channels if isinstance(src, SlidingWindow) else None
        if layer.mh % f.pe or layer.mw % f.simd or (conv_c and conv_c % f.simd):
            _fail(graph, f"folding PE={f.pe} SIMD={f.simd} of layer '{layer.name}' does not divide its "
                         f"{layer.mh}x{layer.mw} matrix{f' / {conv_c} channels' if conv_c else ''}")
    elif isinstance(layer, Threshold):
        c = streams[layer.inputs[0]].channels
        if c % f.pe:
            _fail(graph, f"folding PE={f.pe} of layer '{layer.name}' does not divide its {c} channels")


def _check_transposed(graph, layers):
    seen: dict = {}
    for layer in layers:
        if isinstance(layer, MVU) and layer.transposed_of is not None:
            k = seen.get(layer.transposed_of)
            if k is None:
                _fail(graph, f"layer '{layer.name}' reads '{layer.transposed_of}' as K^T, which is not an earlier MVU")
            if k.wtype != layer.wtype or adjoint_taps(k.weights, layer.weights) is None:
                _fail(graph, f"layer '{layer.name}' ({layer.mh}x{layer.mw}, {layer.wtype}) is marked as K^T of "
                             f"'{k.name}' ({k.mh}x{k.mw}, {k.wtype}) but does not hold its adjoint weights")
        if isinstance(layer, MVU):
            seen[layer.name] = layer
