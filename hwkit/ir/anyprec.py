"""Lower an any-precision network with shared weights: the per-precision HwGraphs (each the ordinary
lowering of that precision's QONNX) merged into one graph that holds the weights once.

Every MVU becomes a :class:`~hwkit.kinds.mvu_bp.BitPlaneMVU` holding the highest precision's
weights; each lower precision's weights must be exactly their top bit-planes (checked). Each MVU bias
and the ShiftRound or Threshold after it become one threshold table per precision
(:class:`~hwkit.kinds.threshold_sel.PrecisionThreshold`), found by bisection on the requantizer's own
golden execution, so they are exact by construction. The host-side FloatTail is dropped: the merged
graph's output is the last accumulator (argmax is the prediction; its scale differs per precision).
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir.check import check_graph
from hwkit.ir.graph import MVU, FloatTail, HwGraph, ShiftRound, Threshold
from hwkit.ir.types import IntType
from hwkit.kinds import kind_of
from hwkit.kinds.mvu_bp import BitPlaneMVU
from hwkit.kinds.threshold_sel import PrecisionThreshold


def _levels(requant, bias: np.ndarray, acc: IntType, out_type: IntType) -> tuple[np.ndarray, int]:
    """(C, N) thresholds on the bias-free accumulator and the base, for a ShiftRound or Threshold that
    reads ``accumulator + bias``: T[c, n] = the least a with f(a + bias[c]) >= base + n + 1."""
    from hwkit.sim.core import Run
    from hwkit.sim.schedule import Schedule

    run = Run(SimpleNamespace(streams={}), Schedule(), None, acc, out_type)
    f = lambda a: kind_of(requant).execute(requant, [a], run)  # noqa: E731
    if isinstance(requant, Threshold):
        t = requant.thresholds
        return (t - bias[:, None]) if bias is not None else t, requant.base
    base, n = requant.lo, requant.hi - requant.lo
    c = len(bias)
    lo = np.full((c, n), acc.min - int(np.abs(bias).max()) - 1, dtype=np.int64)
    hi = np.full((c, n), acc.max + int(np.abs(bias).max()) + 1, dtype=np.int64)
    want = base + 1 + np.arange(n)[None, :]
    while np.any(hi - lo > 1):   # invariant: f(lo + b) < want <= f(hi + b) (f is non-decreasing)
        mid = (lo + hi) // 2
        ok = f(mid + bias[:, None]) >= want
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return hi, base


def merge_precisions(graphs: dict) -> HwGraph:
    """``{precision: HwGraph}`` (same structure) -> one any-precision HwGraph. UnsupportedModelError
    names the first layer that does not fit the scheme."""
    ks = tuple(sorted(graphs))
    top = graphs[ks[-1]]
    per = {k: [l for l in graphs[k].layers if not isinstance(l, FloatTail)] for k in ks}
    if len({len(v) for v in per.values()}) != 1:
        raise UnsupportedModelError("the per-precision graphs differ in their number of layers")
    out_layers, pending = [], {}
    streams = dict(top.streams)
    for i, layer in enumerate(per[ks[-1]]):
        same = [per[k][i] for k in ks]
        if any(type(l) is not type(layer) or l.inputs != layer.inputs or l.outputs != layer.outputs for l in same):
            raise UnsupportedModelError(f"layer '{layer.name}' differs in kind or wiring between precisions")
        if isinstance(layer, MVU):
            for k, l in zip(ks, same):
                if not np.array_equal(l.weights, layer.weights >> (layer.wtype.bits - k)):
                    raise UnsupportedModelError(f"layer '{layer.name}': the {k}-bit weights are not the top {k} "
                                                f"bit-planes of the {layer.wtype.bits}-bit ones")
            biases = {k: l.bias for k, l in zip(ks, same)}
            if any(b is not None for b in biases.values()):
                pending[layer.outputs[0]] = biases
            out_layers.append(BitPlaneMVU(layer.name, layer.inputs, layer.outputs, weights=layer.weights,
                                          wtype=IntType(layer.wtype.bits, True), precisions=ks, acc=None,
                                          folding=layer.folding))
        elif isinstance(layer, (ShiftRound, Threshold)) and layer.inputs[0] in out_layers[-1].outputs:
            biases = pending.pop(layer.inputs[0], {k: None for k in ks})
            acc_t = out_layers[-1]
            tables = []
            for k, l in zip(ks, same):
                in_t = graphs[k].streams[l.inputs[0]].dtype
                b = biases[k] if biases[k] is not None else np.zeros(acc_t.mh, dtype=np.int64)
                t, base = _levels(l, b, in_t, graphs[k].streams[l.outputs[0]].dtype)
                tables.append((t, base))
            if len({b for _, b in tables}) != 1:
                raise UnsupportedModelError(f"layer '{layer.name}': the precisions' outputs start at different levels")
            n = max(t.shape[1] for t, _ in tables)
            never = max(int(t.max(initial=0)) for t, _ in tables) + 1
            arr = np.stack([np.pad(t, ((0, 0), (0, n - t.shape[1])), constant_values=never) for t, _ in tables])
            out_layers.append(PrecisionThreshold(layer.name, layer.inputs, layer.outputs, thresholds=arr,
                                                 precisions=ks, base=tables[0][1]))
        elif all(l == layer for l in same):
            out_layers.append(layer)
        else:
            raise UnsupportedModelError(f"layer '{layer.name}' ({layer.kind}) differs between precisions")
        for s in layer.outputs:   # a stream type that holds every precision's values
            if isinstance(out_layers[-1], BitPlaneMVU):   # the bias-free accumulator: its own type rule
                dt = kind_of(out_layers[-1]).output_type(out_layers[-1], streams)
            else:
                dt = IntType.for_range(min(graphs[k].streams[s].dtype.min for k in ks),
                                       max(graphs[k].streams[s].dtype.max for k in ks))
            streams[s] = replace(streams[s], dtype=dt)
    if pending:
        raise UnsupportedModelError(f"the bias of MVU output '{next(iter(pending))}' has no requantizer to fold into")
    streams = {s: st for s, st in streams.items() if any(s in l.inputs or s in l.outputs for l in out_layers)}
    for j, l in enumerate(out_layers):
        if isinstance(l, BitPlaneMVU):
            out_layers[j] = replace(l, acc=streams[l.outputs[0]].dtype)
    merged = replace(top, name=f"{top.name}_anyprec", layers=tuple(out_layers), streams=streams, probes={},
                     boundaries={}, float_outputs={})
    return check_graph(merged)


def lower_precisions(paths: dict) -> HwGraph:
    """``{precision: QONNX path}`` -> the merged any-precision HwGraph (each lowered by hwkit.ir.lower)."""
    from hwkit.ir.lower import lower

    return merge_precisions({k: lower(p) for k, p in paths.items()})


def fold_anyprec(graph: HwGraph, pe: int, simd: int) -> HwGraph:
    """Every BitPlaneMVU folded PE x SIMD where they divide its matrix (else the largest divisors below)."""
    def best(n, want):
        return max(d for d in range(1, min(n, want) + 1) if n % d == 0)

    new = [replace(l, folding=type(l.folding)(best(l.mh, pe), best(l.mw, simd)))
           for l in graph.layers if isinstance(l, BitPlaneMVU)]
    return check_graph(graph.replace_layers(*new))
