"""Cycle model of an HwGraph from its folding, and a pass that picks folding for a target.

Each layer streams one sample in ``cycles`` clock cycles (FINN's model: an MVU with PE output and
SIMD input lanes needs (MH/PE)*(MW/SIMD) cycles per pixel). The pipeline's initiation interval is
the slowest layer; latency is estimated as the sum of layer cycles (fill of the whole pipeline).
FIFOs: 2 words by default; the short branch of a residual add buffers what arrives while the long
branch computes.
"""
from __future__ import annotations

import math

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import MVU, Add, FloatTail, Folding, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Threshold


def _pixels(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def layer_cycles(graph: HwGraph, layer) -> int:
    ins = graph.streams[layer.inputs[0]]
    out = graph.streams[layer.outputs[0]] if layer.outputs[0] in graph.streams else None
    if isinstance(layer, MVU):
        f = layer.folding
        return _pixels(ins.shape) * (layer.mh // f.pe) * (layer.mw // f.simd)
    if isinstance(layer, SlidingWindow):
        simd = _consumer_simd(graph, layer)
        return _pixels(out.shape) * out.shape[-1] // simd
    if isinstance(layer, Threshold):
        pe = max(1, layer.folding.pe)
        return _pixels(ins.shape) * math.ceil(ins.channels / pe)
    if isinstance(layer, ShiftRound):
        return _pixels(ins.shape) * math.ceil(ins.channels / _producer_pe(graph, layer))
    if isinstance(layer, (Pool, Add)):
        return int(np.prod(ins.shape))
    if isinstance(layer, Reshape):
        return 0 if layer.perm is None else int(np.prod(ins.shape))
    return 0


def _consumer_simd(graph, layer) -> int:
    for c in graph.consumers(layer.outputs[0]):
        if isinstance(c, MVU):
            return c.folding.simd
    return 1


def _producer_pe(graph, layer) -> int:
    p = graph.producer(layer.inputs[0])
    return p.folding.pe if isinstance(p, MVU) else 1


def cycles(graph: HwGraph) -> dict:
    """{'layers': {name: cycles per sample}, 'ii': max, 'latency': estimate, 'fifo_depths': {stream: words}}"""
    per = {l.name: layer_cycles(graph, l) for l in graph.layers if not isinstance(l, FloatTail)}
    ii = max(per.values(), default=0)
    # arrival time of each stream's first complete sample, to size residual FIFOs
    ready = {graph.inputs[0]: 0}
    for l in graph.hardware_layers():
        ready[l.outputs[0]] = max(ready.get(s, 0) for s in l.inputs) + per[l.name]
    depths = {}
    for s in graph.streams:
        depths[s] = 2
    for l in graph.hardware_layers():
        if isinstance(l, Add):
            late = max(ready[s] for s in l.inputs)
            for s in l.inputs:
                lag = late - ready[s]
                if lag > 0:
                    words = int(np.prod(graph.streams[s].shape))
                    depths[s] = max(2, min(words, words * lag // max(1, ii) + 2))
    return {"layers": per, "ii": ii, "latency": sum(per.values()), "fifo_depths": depths}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def choose_folding(graph: HwGraph, target_cycles: int) -> HwGraph:
    """Smallest PE*SIMD per MVU (PE | MH, SIMD | MW) meeting ``target_cycles`` per sample; a layer
    that cannot meet it gets full parallelism. Thresholds take their MVU's PE. Pure pass."""
    from dataclasses import replace

    if target_cycles < 1:
        raise ConfigError(f"target cycles per sample must be >= 1, got {target_cycles}")
    new = {}
    for l in graph.layers:
        if isinstance(l, MVU):
            pix = _pixels(graph.streams[l.inputs[0]].shape)
            best = None
            for pe in _divisors(l.mh):
                for simd in _divisors(l.mw):
                    c = pix * (l.mh // pe) * (l.mw // simd)
                    key = (max(c, target_cycles), pe * simd, -simd)
                    if best is None or key < best[0]:
                        best = (key, pe, simd)
            new[l.name] = replace(l, folding=Folding(pe=best[1], simd=best[2]))
    for l in graph.layers:
        if isinstance(l, Threshold):
            p = new.get(getattr(graph.producer(l.inputs[0]), "name", None))
            if isinstance(p, MVU):
                new[l.name] = replace(l, folding=Folding(pe=p.folding.pe, simd=1))
    return graph.replace_layers(*new.values())
