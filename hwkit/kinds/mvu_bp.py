"""Bit-plane matrix-vector unit (any-precision networks): ONE memory of 8-bit integer weights serves
every precision k in ``precisions`` at run time. The k-bit network's weights are the top k bit-planes,
``w_k = w8 >> (8 - k)`` (arithmetic shift = floor), so ``acc[o] = sum_i w_k[o, i] * x[i]`` (no bias:
each precision's bias sits in the thresholds that follow, hwkit.kinds.threshold_sel). The golden
simulator takes k as ``simulate(graph, x, precision=k)``. Verilog ``hls/rtl/hk_mvu_bp.v``: one plane
per pass, Horner shift-add (the MSB plane subtracts), so cycles per sample scale with k."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import Folding, Layer, WeightMatrix, derived
from hwkit.ir.types import IntType
from hwkit.kinds import mvu_bp_rtl as _rtl


@dataclass(frozen=True, eq=False)
class BitPlaneMVU(WeightMatrix, Layer):
    """``weights`` (MH, MW) are the stored ``wtype`` integers (8-bit); ``precisions`` the widths served."""

    weights: np.ndarray = None
    wtype: IntType = None
    precisions: tuple[int, ...] = (2, 4, 8)
    acc: IntType = None
    folding: Folding = field(default_factory=Folding)


LAYER = BitPlaneMVU
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = True   # every output needs the whole input vector
PRECISION_BITS = _rtl.PB   # the plan feeds it a precision tag per sample (hls/rtl/hk_prec_src.v)
EXACT_F32 = 1 << 24
EXACT_F64 = 1 << 53


def plane_weights(layer: BitPlaneMVU, k: int) -> np.ndarray:
    """The k-bit weights: the top k bit-planes of the stored ones."""
    if k not in layer.precisions:
        raise ConfigError(f"layer '{layer.name}' serves precisions {list(layer.precisions)}, not {k}")
    cache = derived(layer).setdefault("planes", {})
    if k not in cache:
        cache[k] = layer.weights >> (layer.wtype.bits - k)
    return cache[k]


def _range(w: np.ndarray, t: IntType) -> tuple[int, int]:
    pos = np.where(w > 0, w, 0).sum(axis=1)
    neg = np.where(w < 0, w, 0).sum(axis=1)
    return int(np.min(pos * t.min + neg * t.max)), int(np.max(pos * t.max + neg * t.min))


# ---- type rule
def output_range(layer: BitPlaneMVU, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    ranges = [_range(plane_weights(layer, k), t) for k in layer.precisions]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def output_type(layer: BitPlaneMVU, streams, max_acc_bits: int = 32) -> IntType:
    lo, hi = output_range(layer, streams)
    return IntType.for_range(min(0, lo), max(0, hi))


def check(layer: BitPlaneMVU, streams, producer) -> str | None:
    if layer.wtype is None or not layer.wtype.signed or layer.wtype.bipolar:
        return f"layer '{layer.name}' (BitPlaneMVU) needs signed two's-complement weights, got {layer.wtype}"
    if not layer.precisions or any(not 1 <= k <= layer.wtype.bits for k in layer.precisions):
        return f"layer '{layer.name}' precisions {list(layer.precisions)} must lie in 1..{layer.wtype.bits}"
    if not layer.wtype.contains(layer.weights):
        return f"layer '{layer.name}' holds weights outside {layer.wtype}"
    lo, hi = output_range(layer, streams)
    if layer.acc is not None and (lo < layer.acc.min or hi > layer.acc.max):
        return f"layer '{layer.name}' accumulates values in [{lo}, {hi}], outside its accumulator {layer.acc}"
    f = layer.folding
    if layer.mh % f.pe or layer.mw % f.simd:
        return f"folding PE={f.pe} SIMD={f.simd} of layer '{layer.name}' does not divide its {layer.mh}x{layer.mw} matrix"
    return None


# ---- golden execution
def _bound(layer: BitPlaneMVU, in_type) -> int:
    m = max(abs(in_type.min), abs(in_type.max))
    return max(int(np.abs(plane_weights(layer, k)).sum(axis=1).max(initial=0)) for k in layer.precisions) * m


def float_lane(layer: BitPlaneMVU, graph) -> bool:
    return _bound(layer, graph.streams[layer.inputs[0]].dtype) < EXACT_F32


def execute(layer: BitPlaneMVU, ins, run) -> np.ndarray:
    """The k-bit product (k = ``run.precision``, default the highest), exact: float32 below 2**24,
    float64 below 2**53, else int64 (as hwkit.kinds.mvu)."""
    x = ins[0]
    k = run.precision if run.precision is not None else max(layer.precisions)
    bound = _bound(layer, run.in_type)
    dt = np.float32 if bound < EXACT_F32 else np.float64 if bound < EXACT_F64 else np.int64
    cache = derived(layer).setdefault("wt", {})
    if (k, dt) not in cache:
        cache[(k, dt)] = np.ascontiguousarray(plane_weights(layer, k).T.astype(dt))
    wt = cache[(k, dt)]
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    acc = (x2 if x2.dtype == dt else x2.astype(dt)) @ wt
    if x.dtype != np.float32:
        acc = acc.astype(np.int64)
    return acc.reshape(lead + (wt.shape[1],))


def tie(layer, graph, acc: int, element) -> bool:
    return False   # exact integer arithmetic: no rounding


# ---- cycles
def reads(graph, layer: BitPlaneMVU, arriving: int) -> int:
    return layer.folding.simd


def out_lanes(graph, layer: BitPlaneMVU, arriving: int) -> int:
    return layer.folding.pe


def cycles_at(graph, layer: BitPlaneMVU, k: int) -> int:
    """Datapath cycles per sample at precision k: one pass over the weight tiles per bit-plane."""
    f = layer.folding
    return graph.streams[layer.outputs[0]].pixels * (layer.mh // f.pe) * (layer.mw // f.simd) * k


def cycles(graph, layer: BitPlaneMVU, lanes: dict) -> int:
    """At the highest precision (the initiation interval the design must budget for)."""
    return cycles_at(graph, layer, max(layer.precisions))


# ---- RTL (hls/rtl/hk_mvu_bp.v)
def emit(b, layer: BitPlaneMVU):
    _rtl.emit(b, layer)


BLOCKS = {"hk_mvu_bp": _rtl.mvu_bp_cost, "hk_prec_src": _rtl.prec_src_cost}
