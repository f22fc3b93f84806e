"""Cycle model of an HwGraph from its folding (the folding itself is chosen by hwkit.ir.fold): the
one place that says how many cycles a layer, a sample (II) and a sample's trip (latency) take.

Streams move E elements per beat: an MVU reads SIMD and writes PE elements per beat; a window
generator emits its MVU's SIMD; pooling works on gcd(E, C) lanes; elementwise layers (Threshold,
ShiftRound, Add, Reshape) keep the width they receive. A layer's cycles per sample:
- MVU: pixels * (MH / PE) * (MW / SIMD) (FINN's model);
- SlidingWindow, Pool: the larger of the beats read and the beats written (input map / lanes,
  windows * taps * C / lanes);
- Threshold, ShiftRound, Add: beats of one sample (elements / lanes); Reshape: none when it keeps
  the element order (a renaming), else one element per cycle.
The generated RTL reports the same per-layer cycles (hwkit.backends.rtl.plan; tests check both).
The initiation interval is the slowest layer. Latency: cycles from a sample's first input beat to
its last output beat along the longest path, where an MVU adds its cycles (every output needs the
whole input, so it finishes its sample only after it has all of it) and every other layer streams
beats through as they come (adds none). Exact in structure for MLPs (default model: 256 modelled,
253 measured in RTL cosim, the difference being register stages the model ignores); for CNNs an
upper bound, since line-buffered convolutions overlap consecutive layers.
FIFOs: 2 words by default; the short branch of a residual add buffers what arrives while the long
branch computes.
"""
from __future__ import annotations

import math

import numpy as np

from hwkit.ir.graph import MVU, Add, FloatTail, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Threshold


def _pixels(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def _in_order(graph: HwGraph, layer) -> bool:
    st = graph.streams[layer.inputs[0]]
    if layer.perm is None:
        return True
    idx = np.arange(int(np.prod(st.shape))).reshape(st.shape)
    return bool(np.array_equal(idx.transpose(layer.perm).reshape(-1), idx.reshape(-1)))


def lanes(graph: HwGraph) -> dict:
    """Elements per beat of every stream (see the module doc)."""
    e: dict = {}
    for layer in graph.hardware_layers():
        first = layer.inputs[0]
        if first not in e:  # a graph input: the width its first reader asks for
            e[first] = _reads(graph, layer, 1)
        if isinstance(layer, MVU):
            e[layer.outputs[0]] = layer.folding.pe
        elif isinstance(layer, (SlidingWindow, Pool)):
            e[layer.outputs[0]] = _reads(graph, layer, e[first])
        else:
            e[layer.outputs[0]] = e[first]
    return e


def _reads(graph: HwGraph, layer, arriving: int) -> int:
    """Lanes ``layer`` reads its (first) input with."""
    c = graph.streams[layer.inputs[0]].channels
    if isinstance(layer, MVU):
        return layer.folding.simd
    if isinstance(layer, SlidingWindow):
        mvu = next((m for m in graph.consumers(layer.outputs[0]) if isinstance(m, MVU)), None)
        return mvu.folding.simd if mvu is not None else math.gcd(arriving, c)
    if isinstance(layer, Pool):
        return math.gcd(arriving, c)
    return arriving


def layer_cycles(graph: HwGraph, layer, widths: dict | None = None) -> int:
    widths = lanes(graph) if widths is None else widths
    ins = graph.streams[layer.inputs[0]]
    n_in = int(np.prod(ins.shape))
    if isinstance(layer, MVU):
        f = layer.folding
        return _pixels(ins.shape) * (layer.mh // f.pe) * (layer.mw // f.simd)
    if isinstance(layer, (SlidingWindow, Pool)):
        e = widths[layer.outputs[0]]
        kh, kw = layer.kernel
        h, w, c = ins.shape
        t, l, b, r = layer.pad
        oh = (h + t + b - kh) // layer.stride[0] + 1
        ow = (w + l + r - kw) // layer.stride[1] + 1
        return max(n_in // e, oh * ow * kh * kw * c // e)
    if isinstance(layer, (Threshold, ShiftRound, Add)):
        return n_in // widths[layer.inputs[0]]
    if isinstance(layer, Reshape):
        return 0 if _in_order(graph, layer) else n_in
    return 0


def cycles(graph: HwGraph) -> dict:
    """{'layers': {name: cycles per sample}, 'ii': slowest layer, 'latency': first input beat to last
    output beat of one sample (module doc), 'fifo_depths': {stream: words}}"""
    widths = lanes(graph)
    per = {l.name: layer_cycles(graph, l, widths) for l in graph.hardware_layers()}
    ii = max(per.values(), default=0)
    # arrival time of each stream's first complete sample (every layer's cycles), to size residual FIFOs
    ready = {graph.inputs[0]: 0}
    done = {graph.inputs[0]: 0}  # the same with streaming layers adding nothing: the latency
    for l in graph.hardware_layers():
        ready[l.outputs[0]] = max(ready.get(s, 0) for s in l.inputs) + per[l.name]
        done[l.outputs[0]] = max(done.get(s, 0) for s in l.inputs) + (per[l.name] if isinstance(l, MVU) else 0)
    depths = {s: 2 for s in graph.streams}
    for l in graph.hardware_layers():
        if isinstance(l, Add):
            late = max(ready[s] for s in l.inputs)
            for s in l.inputs:
                lag = late - ready[s]
                if lag > 0:
                    words = int(np.prod(graph.streams[s].shape))
                    depths[s] = max(2, min(words, words * lag // max(1, ii) + 2))
    latency = max((done[o] for o in graph.outputs if o in done), default=0)
    return {"layers": per, "ii": ii, "latency": latency, "fifo_depths": depths}
