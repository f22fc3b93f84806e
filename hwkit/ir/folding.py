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
from typing import Callable, Mapping, Optional

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


# a block RAM weighs as much as this many LUTs when a folding trades lanes for weight memory: what a
# part offers of each (ECP5-85F 83,640 LUT4 / 208 DP16KD; xc7z020 53,200 LUT6 / 280 RAMB18)
BLOCK_LUTS = 400


def weight_memory_luts(depth: int, width: int, family: str) -> float:
    """A weight table's cost in LUTs: its block RAMs at :data:`BLOCK_LUTS` each, or its LUT ROM, by the
    rule the RTL plan places it with (:func:`hwkit.estimate.memory.rom_home`)."""
    from hwkit.estimate.memory import ROM_LUTS_PER_BIT, bram_blocks, rom_home

    if rom_home(depth, width, family) == "bram":
        return BLOCK_LUTS * bram_blocks(depth, width, family)
    return depth * width * ROM_LUTS_PER_BIT


def lane_luts(wbits: int, xbits: int) -> float:
    """LUTs of one PE x SIMD lane (product and its share of the adder tree), roughly."""
    return 2.0 if wbits <= 1 and xbits <= 1 else float(wbits * xbits + wbits + xbits)


def _pick(mh, mw, px, target, prefer_simd, conv_c, mem=None):
    """``mem``: (weight bits, input bits, family) to weigh each folding's lanes against the block RAMs
    its weight table fills (a 2048 x 392 table packs 44 DP16KD, a 1568 x 512 one 57); None: fewest
    lanes."""
    simds = [s for s in divisors(mw) if conv_c is None or conv_c % s == 0]
    best = None
    for simd in simds:
        for pe in divisors(mh):
            cyc = px * (mh // pe) * (mw // simd)
            if cyc > target:
                continue
            lanes = pe * simd
            if mem is not None:
                wb, xb, family = mem
                lanes = lanes * lane_luts(wb, xb) + weight_memory_luts((mh // pe) * (mw // simd), pe * simd * wb,
                                                                       family)
            key = (lanes, 0 if simd == prefer_simd else 1, abs(pe - simd), simd)
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
           keep: bool = False, family: Optional[str] = None) -> dict:
    """{MVU name: (pe, simd)} as :func:`fold` sets it. ``keep``: an MVU whose folding is already set
    (not 1x1) keeps it (a backend re-planning a folded graph). ``family``: weigh lanes against the
    block RAMs of each weight table on that FPGA family (else: fewest lanes)."""
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
                mem = None
                if family is not None:
                    xt = streams[layer.inputs[0]].dtype
                    mem = (layer.wtype.bits, xt.bits, family)
                pe, simd = _pick(layer.mh, layer.mw, px, target_cycles, arriving.get(layer.inputs[0]), conv_c, mem)
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
         keep: bool = False, family: Optional[str] = None) -> HwGraph:
    """A new graph with Folding set on every MVU for ``target_cycles`` per sample (see the module
    doc) and on each Threshold after an MVU. ``overrides``: {MVU name: (pe, simd)} forced."""
    return apply_folding(graph, choose(graph, target_cycles, overrides, keep, family))


def reachable_cycles(graph: HwGraph) -> list[int]:
    """Every cycles-per-sample value some MVU of ``graph`` reaches with some folding, ascending."""
    out = {1}
    for layer in graph.layers:
        if isinstance(layer, MVU):
            px = graph.streams[layer.outputs[0]].pixels
            out.update(px * (layer.mh // pe) * (layer.mw // simd)
                       for pe in divisors(layer.mh) for simd in divisors(layer.mw))
    return sorted(out)


def ladder(cands: list, step: float = 2 ** 0.5) -> list[int]:
    """Indices into ascending ``cands`` from the slowest down, each rung at least ``step`` times faster
    than the one before; the fastest candidate is always a rung."""
    out, last = [len(cands) - 1], cands[-1]
    for i in range(len(cands) - 2, -1, -1):
        if cands[i] * step <= last or i == 0:
            out.append(i)
            last = cands[i]
    return out


def fastest(graph: HwGraph, fits: Callable[[HwGraph], bool], *, family: Optional[str] = None,
            overrides: Optional[Mapping] = None, patience: int = 3) -> tuple[HwGraph, bool]:
    """(folded graph, fits) for the fewest cycles per sample whose folding ``fits`` accepts (the
    estimator's check with a margin); when nothing fits, the slowest folding and False.

    Fitting is not monotonic in the target: block RAM packing and the tables that move to LUTs as they
    widen let a faster folding fit where a slower one does not (LFC W1A2 on the 85F: 170 DP16KD at 2,048
    cycles, 189 at 1,024, 162 at 512). So a ladder of targets ~1.4x apart is tried from the slowest
    down, until ``patience`` rungs in a row fail (lanes, hence LUTs, only grow further down; when the
    first ``patience`` rungs fail, nothing fits: the slowest folding and False); then a bisection
    between the fastest rung that fits and the next faster rung finds the fewest cycles."""
    cands = reachable_cycles(graph)
    tried: dict = {}

    def attempt(i: int):
        if i not in tried:
            g = fold(graph, target_cycles=cands[i], overrides=overrides, family=family)
            tried[i] = (g, bool(fits(g)))
        return tried[i]

    rungs = ladder(cands)
    best, fails = None, 0
    for i in rungs:   # the slowest too may fail where a faster rung fits (its buffers pack worse)
        if attempt(i)[1]:
            best, fails = i, 0
        else:
            fails += 1
            if fails >= patience:
                break
    if best is None:
        return tried[rungs[0]][0], False
    lo = max((i for i in tried if i < best), default=best)   # the next faster rung tried: it failed
    hi = best
    while lo + 1 < hi:   # invariant: cands[hi] fits, cands[lo] did not (or lo is where the ladder stopped)
        mid = (lo + hi) // 2
        if attempt(mid)[1]:
            hi = mid
        else:
            lo = mid
    return tried[hi][0], True
