"""Cycle model of an HwGraph from its folding (the folding itself is chosen by hwkit.ir.fold): the
one place that says how many cycles a sample (II) and a sample's trip (latency) take, from each
kind's own rules (``reads``, ``out_lanes``, ``cycles``, ``blocks_sample`` in :mod:`hwkit.kinds`).

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
FIFOs: 2 words by default; at a join (a layer with several inputs, e.g. a residual add) the short
branch buffers what arrives while the long branch computes.
"""
from __future__ import annotations

import numpy as np

from hwkit.ir.graph import HwGraph
from hwkit.kinds import kind_of


def lanes(graph: HwGraph) -> dict:
    """Elements per beat of every stream (see the module doc)."""
    e: dict = {}
    for layer in graph.hardware_layers():
        kind = kind_of(layer)
        first = layer.inputs[0]
        if first not in e:  # a graph input: the width its first reader asks for
            e[first] = kind.reads(graph, layer, 1)
        e[layer.outputs[0]] = kind.out_lanes(graph, layer, e[first])
    return e


def layer_cycles(graph: HwGraph, layer, widths: dict | None = None) -> int:
    kind = kind_of(layer)
    if not kind.HARDWARE:
        return 0
    return kind.cycles(graph, layer, lanes(graph) if widths is None else widths)


def cycles(graph: HwGraph) -> dict:
    """{'layers': {name: cycles per sample}, 'ii': slowest layer, 'latency': first input beat to last
    output beat of one sample (module doc), 'fifo_depths': {stream: words}}"""
    widths = lanes(graph)
    per = {l.name: layer_cycles(graph, l, widths) for l in graph.hardware_layers()}
    ii = max(per.values(), default=0)
    # arrival time of each stream's first complete sample (every layer's cycles), to size join FIFOs
    ready = {graph.inputs[0]: 0}
    done = {graph.inputs[0]: 0}  # the same with streaming layers adding nothing: the latency
    for l in graph.hardware_layers():
        ready[l.outputs[0]] = max(ready.get(s, 0) for s in l.inputs) + per[l.name]
        done[l.outputs[0]] = max(done.get(s, 0) for s in l.inputs) + (per[l.name] if kind_of(l).blocks_sample else 0)
    depths = {s: 2 for s in graph.streams}
    for l in graph.hardware_layers():
        if len(l.inputs) > 1:
            late = max(ready[s] for s in l.inputs)
            for s in l.inputs:
                lag = late - ready[s]
                if lag > 0:
                    words = int(np.prod(graph.streams[s].shape))
                    depths[s] = max(2, min(words, words * lag // max(1, ii) + 2))
    latency = max((done[o] for o in graph.outputs if o in done), default=0)
    return {"layers": per, "ii": ii, "latency": latency, "fifo_depths": depths}
