"""``check_graph``: the invariants every HwGraph keeps, checked after every pass and on load.

Topological order, one producer per stream, every read stream produced or a graph input, stream
types containing the values their producer can emit, folding dividing the dimensions it splits,
and a K^T unit naming an earlier MVU whose weights it holds as the adjoint."""
from __future__ import annotations

from hwkit.errors import GraphError
from hwkit.ir.graph import MVU, HwGraph, adjoint_taps
from hwkit.ir.typing import output_range
from hwkit.kinds import kind_of


def _fail(graph: HwGraph, why: str):
    raise GraphError(f"graph '{graph.name}': {why}")


def check_graph(graph: HwGraph) -> HwGraph:
    """Raise :class:`hwkit.errors.GraphError` (one line) on the first broken invariant; return
    ``graph`` unchanged so passes can be chained as ``check_graph(p(g))``."""
    layers, streams = graph.layers, graph.streams
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
            if s not in streams and kind_of(layer).HARDWARE:
                _fail(graph, f"layer '{layer.name}' writes stream '{s}', which has no Stream record")
            producer[s] = layer
            available.add(s)
    for s in graph.outputs:
        if s not in available:
            _fail(graph, f"output stream '{s}' is never produced")
    for layer in layers:
        if kind_of(layer).HARDWARE:
            _check_types(graph, layer, streams)
            _check_kind(graph, layer, streams, producer)
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


def _check_kind(graph, layer, streams, producer):
    f = getattr(layer, "folding", None)
    if f is not None and (f.pe < 1 or f.simd < 1):
        _fail(graph, f"layer '{layer.name}' has folding PE={f.pe} SIMD={f.simd}; both must be >= 1")
    why = kind_of(layer).check(layer, streams, producer)
    if why:
        _fail(graph, why)


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
