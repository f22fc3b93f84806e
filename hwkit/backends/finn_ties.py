"""Rounding ties FINN must resolve like the golden model: the table hwkit hands the FINN worker.

QONNX's Quant ROUND is round half to even; FINN's step_qonnx_to_finn turns it into MultiThreshold
nodes (``x >= t``), so where an accumulator lands exactly on a boundary FINN rounds up. hwkit knows
each boundary exactly (``HwGraph.boundaries`` for Threshold layers, the shift for ShiftRound), so for
every requantizer it writes the integer thresholds FINN's rule gives (``ties_up``) and the ones the
golden model needs (``exact``) on hwkit's accumulator, which differ only where a tie is reachable
and must round down (threshold t -> t + 1). The worker (finn_worker/ties.py) checks FINN's
streamlined thresholds equal ``ties_up`` in its own accumulator domain and then moves them to
``exact``. The float input quantizer gets the same in float32: t -> the next float32 above t.

    tie_table(graph)               -> dict (JSON-able) for the worker
    count_tie_hits(graph, x_int)   -> accumulator elements the golden model rounds down at a tie
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional

import numpy as np

from hwkit.ir.graph import MVU, Pool, ShiftRound, Threshold

ROUND_MODES = ("ROUND", "HALF_EVEN")


def _pow2(x: float) -> bool:
    mant, _ = math.frexp(abs(float(x)))
    return x > 0 and mant == 0.5


def _shift_round_levels(layer: ShiftRound) -> tuple[np.ndarray, np.ndarray]:
    """(exact, ties_up) thresholds (1, hi - lo) on the accumulator: level q + 1 is reached at
    n >= the boundary between q and q + 1; half to even keeps an exact tie at q when q is even."""
    exact, up = [], []
    for q in range(layer.lo, layer.hi):
        half = Fraction(1) if layer.rounding == "floor" else Fraction(1, 2)
        b = (q + half) * Fraction(2) ** layer.shift
        t = math.ceil(b)
        up.append(t)
        exact.append(t + 1 if layer.rounding == "half_even" and b.denominator == 1 and q % 2 == 0 else t)
    return np.array([exact], dtype=np.int64), np.array([up], dtype=np.int64)


def _threshold_levels(graph, layer: Threshold) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(exact, ties_up) for a Threshold layer: ``exact`` is the layer's own table; ``ties_up`` takes
    ceil of the exact real boundary, which FINN's ``x >= t`` gives at a tie."""
    bnd = graph.boundaries.get(layer.name)
    if bnd is None:
        return None
    t = np.asarray(layer.thresholds, dtype=np.int64)
    bnd = np.broadcast_to(np.asarray(bnd, dtype=np.float64), (max(t.shape[0], bnd.shape[0]), t.shape[1]))
    exact = np.broadcast_to(t, bnd.shape).copy()
    acc = graph.streams[layer.inputs[0]].dtype
    up = exact.copy()
    finite = np.isfinite(bnd)
    up[finite] = np.clip(np.ceil(bnd[finite]), acc.min, acc.max + 1).astype(np.int64)
    # ties_up never exceeds exact: a boundary ceil'd above the table is float noise, not FINN's rule
    return exact, np.minimum(up, exact)


def _acc_offset(graph, layer) -> Optional[np.ndarray]:
    """Per channel, what hwkit's accumulator adds to FINN's (the MVU bias hwkit keeps and FINN folds
    into its thresholds); max pooling commutes with it. None when the producer is not an MVU."""
    src = graph.producer(layer.inputs[0])
    while isinstance(src, Pool) and src.mode == "max":
        src = graph.producer(src.inputs[0])
    if not isinstance(src, MVU):
        return None
    return np.zeros(src.mh, dtype=np.int64) if src.bias is None else np.asarray(src.bias, dtype=np.int64)


def _input_entry(graph) -> Optional[dict]:
    """The float input quantizer as FINN thresholds it: t = (k + 1/2 - z) * s; golden rounds an input
    exactly at t down when k is even, so FINN needs the next float32 above t there. Only for a
    per-tensor power-of-two scale with no arithmetic before it (then x / s is exact in float32)."""
    prep = graph.input_prep
    if prep is None or prep.bipolar or str(prep.mode).upper() not in ROUND_MODES:
        return None
    if any(op.kind not in ("Reshape", "Transpose") for op in prep.ops):
        return None
    scale, zp = np.unique(prep.scale), np.unique(prep.zeropt)
    if scale.size != 1 or zp.size != 1 or not _pow2(scale[0]) or zp[0] != round(float(zp[0])):
        return None
    s, z = float(scale[0]), int(zp[0])
    up = np.array([[(k + 0.5 - z) * s for k in range(prep.qmin, prep.qmax)]], dtype=np.float32)
    strict = np.array([[k % 2 == 0 for k in range(prep.qmin, prep.qmax)]])
    exact = np.where(strict, np.nextafter(up, np.float32(np.inf)), up).astype(np.float32)
    return {"layer": "input", "ties_up": up.tolist(), "exact": exact.tolist()}


def requantizers(graph) -> list:
    """Threshold and ShiftRound layers in graph order: FINN's MultiThreshold nodes on integers."""
    return [layer for layer in graph.layers if isinstance(layer, (Threshold, ShiftRound))]


def tie_table(graph) -> dict:
    """What the worker needs to make FINN's thresholds resolve ties like the golden model."""
    entries = []
    for layer in requantizers(graph):
        levels = _shift_round_levels(layer) if isinstance(layer, ShiftRound) else _threshold_levels(graph, layer)
        offset = _acc_offset(graph, layer)
        entry = {"layer": layer.name, "kind": type(layer).__name__}
        if levels is None or offset is None:
            entry["skip"] = "no exact boundaries" if levels is None else "accumulator not produced by an MVU"
            entries.append(entry)
            continue
        exact, up = levels
        acc = graph.streams[layer.inputs[0]].dtype
        # clipped entries ("every value" / "no value reaches the level") are outside the check
        valid = (up > acc.min) & (exact <= acc.max)
        entry.update(exact=exact.tolist(), ties_up=up.tolist(), valid=valid.tolist(), offset=offset.tolist(),
                     ties=int(((exact != up) & valid).sum()))
        entries.append(entry)
    return {"input": _input_entry(graph), "requant": entries}


def count_tie_hits(graph, x_int: np.ndarray) -> dict:
    """Per requantizer, accumulator elements of the golden run on ``x_int`` that sit exactly on a
    boundary the golden model rounds down (where FINN's uncorrected thresholds would round up)."""
    from hwkit.sim import simulate

    res = simulate(graph, x_int, trace=True)
    out = {}
    for layer in requantizers(graph):
        levels = _shift_round_levels(layer) if isinstance(layer, ShiftRound) else _threshold_levels(graph, layer)
        src = graph.producer(layer.inputs[0])
        acc = res.trace.get(src.name) if src is not None else None
        if levels is None or acc is None:
            continue
        exact, up = levels
        acc = np.asarray(acc)
        ch = acc.shape[-1]
        exact, up = np.broadcast_to(exact, (ch, exact.shape[1])), np.broadcast_to(up, (ch, up.shape[1]))
        hits = 0
        for c in range(ch):
            ties = up[c][exact[c] != up[c]]
            if ties.size:
                hits += int(np.isin(acc[..., c], ties).sum())
        out[layer.name] = hits
    return out
