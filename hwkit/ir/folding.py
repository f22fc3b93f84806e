"""``fold``: the one folding pass. PE output channels and SIMD input elements per MVU, for a target
number of cycles per sample.

Each MVU gets the fewest PE*SIMD lanes that finish a sample (pixels * MH/PE * MW/SIMD cycles) within
the target, preferring SIMD equal to the width arriving from upstream (no width converter), then PE
close to SIMD, then the smaller SIMD; a target no folding meets gets full parallelism. SIMD divides
a convolution's input channels (the window generator emits whole channel groups). A K^T unit takes
its K's folding swapped, since both read the same memory words; forcing only K^T's folding forces
K's. A VVU (depthwise) gets the fewest PE channels (dividing C, SIMD 1) within the target.
Thresholds take their MVU's or VVU's PE. The default target is the largest MVU's multiply-accumulates
per sample / 64 (at least 1)."""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional

from hwkit.errors import ConfigError, UnsupportedModelError
from hwkit.ir.check import check_graph
from hwkit.ir.graph import MVU, Folding, HwGraph, SlidingWindow, Threshold, adjoint_taps


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _true_transpose(by_name: dict, layer) -> bool:
    """``layer`` reads an earlier MVU's memory as K^T (its weights are that MVU's adjoint)."""
    if not isinstance(layer, MVU) or layer.transposed_of is None:
        return False
    k = by_name.get(layer.transposed_of)
    return isinstance(k, MVU) and k.wtype == layer.wtype and adjoint_taps(k.weights, layer.weights) is not None


def _pick(mh, mw, px, target, prefer_simd, conv_c):
    simds = [s for s in divisors(mw) if conv_c is None or conv_c % s == 0]
    best = None
    for simd in simds:
        for pe in divisors(mh):
            cyc = px * (mh // pe) * (mw // simd)
            if cyc > target:
                continue
            key = (pe * simd, 0 if simd == prefer_simd else 1, abs(pe - simd), simd)
            if best is None or key < best[0]:
                best = (key, pe, simd)
    if best is None:   # target unreachable: fully parallel within the allowed SIMD
        return mh, max(simds)
    return best[1], best[2]


def _pick_vvu(layer, streams, target, overrides, keep) -> tuple[int, int]:
    c, work = layer.mh, streams[layer.outputs[0]].pixels * layer.mh * layer.taps
    if layer.name in overrides:
        pe, simd = overrides[layer.name]
    elif keep and layer.folding.pe != 1:
        pe, simd = layer.folding.pe, 1
    else:
        pe, simd = next((p for p in divisors(c) if work // p <= target), c), 1
    if pe < 1 or c % pe or simd != 1:
        raise UnsupportedModelError(f"folding PE={pe} SIMD={simd} of layer '{layer.name}' (VVU) must have PE "
                                    f"dividing its {c} channels and SIMD 1")
    return pe, simd


def choose(graph: HwGraph, target_cycles: Optional[int] = None, overrides: Optional[Mapping] = None,
           keep: bool = False) -> dict:
    """{MVU name: (pe, simd)} as :func:`fold` sets it. ``keep``: an MVU whose folding is already set
    (not 1x1) keeps it (a backend re-planning a folded graph)."""
    layers, streams = graph.layers, graph.streams
    by_name = {l.name: l for l in layers}
    overrides = {k: (int(v[0]), int(v[1])) for k, v in dict(overrides or {}).items()}
    mvus = [l for l in layers if isinstance(l, MVU)]
    vvus = [l for l in layers if l.kind == "VVU"]
    for layer in mvus:
        if _true_transpose(by_name, layer) and layer.name in overrides and layer.transposed_of not in overrides:
            kpe, ksimd = overrides[layer.name]
            overrides[layer.transposed_of] = (ksimd, kpe)
    if target_cycles is None:
        target_cycles = max([l.mh * l.mw * streams[l.outputs[0]].pixels for l in mvus + vvus] + [64]) // 64
    if target_cycles < 1:
        raise ConfigError(f"target cycles per sample must be >= 1, got {target_cycles}")
    out: dict = {}
    arriving: dict = {}
    for layer in layers:
        if isinstance(layer, MVU):
            px = streams[layer.outputs[0]].pixels
            prod = next((p for p in layers if layer.inputs[0] in p.outputs), None)
            conv_c = streams[prod.inputs[0]].channels if isinstance(prod, SlidingWindow) else None
            if layer.name in overrides:
                pe, simd = overrides[layer.name]
            elif _true_transpose(by_name, layer) and layer.transposed_of in out:
                kpe, ksimd = out[layer.transposed_of]
                pe, simd = ksimd, kpe
            elif keep and (layer.folding.pe, layer.folding.simd) != (1, 1):
                pe, simd = layer.folding.pe, layer.folding.simd
            else:
                pe, simd = _pick(layer.mh, layer.mw, px, target_cycles, arriving.get(layer.inputs[0]), conv_c)
            if pe < 1 or simd < 1 or layer.mh % pe or layer.mw % simd or (conv_c and conv_c % simd):
                raise UnsupportedModelError(
                    f"folding PE={pe} SIMD={simd} of layer '{layer.name}' does not divide its {layer.mh}x{layer.mw} "
                    f"matrix{f' / {conv_c} channels' if conv_c else ''}")
            out[layer.name] = (pe, simd)
            arriving[layer.outputs[0]] = pe
        elif layer.kind == "VVU":
            out[layer.name] = pe = _pick_vvu(layer, streams, target_cycles, overrides, keep)
            arriving[layer.outputs[0]] = pe[0]
        elif layer.inputs and layer.inputs[0] in arriving:
            arriving[layer.outputs[0]] = arriving[layer.inputs[0]]
    for layer in mvus:  # a K memory read as K^T by a later unit must have been folded compatibly
        if _true_transpose(by_name, layer):
            kpe, ksimd = out[layer.transposed_of]
            if out[layer.name] != (ksimd, kpe):
                raise UnsupportedModelError(
                    f"layer '{layer.name}' reads '{layer.transposed_of}' as K^T: its folding must be "
                    f"PE={ksimd} SIMD={kpe}, got PE={out[layer.name][0]} SIMD={out[layer.name][1]}")
    return out


def apply_folding(graph: HwGraph, folding: Mapping) -> HwGraph:
    """A graph with PE/SIMD set on every MVU named in ``folding`` and each Threshold read from an MVU
    given that MVU's PE. Checked."""
    def mvu_fold(layer):
        if (isinstance(layer, MVU) or layer.kind == "VVU") and layer.name in folding:
            pe, simd = folding[layer.name]
            return replace(layer, folding=Folding(int(pe), int(simd)))
        return layer

    g = replace(graph, layers=tuple(mvu_fold(l) for l in graph.layers))
    producer = {s: l for l in g.layers for s in l.outputs}
    ths = []
    for layer in g.layers:
        src = producer.get(layer.inputs[0]) if layer.inputs else None
        if isinstance(layer, Threshold) and (isinstance(src, MVU) or getattr(src, "kind", "") == "VVU"):
            ths.append(replace(layer, folding=Folding(src.folding.pe, 1)))
    return check_graph(g.replace_layers(*ths) if ths else g)


def folding_of(graph: HwGraph) -> dict:
    """{MVU name: (pe, simd)} as the graph carries it."""
    return {l.name: (l.folding.pe, l.folding.simd) for l in graph.layers if isinstance(l, MVU) or l.kind == "VVU"}


def fold(graph: HwGraph, *, target_cycles: Optional[int] = None, overrides: Optional[Mapping] = None,
         keep: bool = False) -> HwGraph:
    """A new graph with Folding set on every MVU for ``target_cycles`` per sample (see the module
    doc) and on each Threshold after an MVU. ``overrides``: {MVU name: (pe, simd)} forced."""
    return apply_folding(graph, choose(graph, target_cycles, overrides, keep))
