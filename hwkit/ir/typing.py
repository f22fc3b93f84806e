"""Stream types from value ranges: each layer's output range follows from its input types and
integer parameters, so accumulators get exactly the bits they need."""
from __future__ import annotations

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir.graph import MVU, Add, Pool, Reshape, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import IntType


def _range(t: IntType) -> tuple[int, int]:
    return int(t.min), int(t.max)


def output_range(layer, streams: dict[str, Stream]) -> tuple[int, int] | None:
    """Exact bounds [lo, hi] of ``layer``'s output values from its input types and integer
    parameters (None for kinds without integer output, e.g. FloatTail)."""
    ins = [streams[s].dtype for s in layer.inputs]
    if isinstance(layer, MVU):
        lo, hi = _range(ins[0])
        W, b = layer.weights, layer.bias if layer.bias is not None else 0
        wmax = int(np.abs(W).max(initial=0)) * W.shape[1] * max(abs(lo), abs(hi)) + int(np.abs(b).max(initial=0))
        if wmax >= 1 << 62:  # python ints: no overflow while sizing
            W, b = W.astype(object), (b.astype(object) if layer.bias is not None else 0)
        pos = np.where(W > 0, W, 0).sum(axis=1)
        neg = np.where(W < 0, W, 0).sum(axis=1)
        top = pos * hi + neg * lo + b
        bot = pos * lo + neg * hi + b
        return int(np.min(bot)), int(np.max(top))
    if isinstance(layer, SlidingWindow):
        lo, hi = _range(ins[0])
        if any(layer.pad):
            lo, hi = min(lo, layer.pad_value), max(hi, layer.pad_value)
        return lo, hi
    if isinstance(layer, Pool):
        lo, hi = _range(ins[0])
        if layer.mode == "max":
            return lo, hi
        k = layer.kernel[0] * layer.kernel[1]
        return (lo * k) >> layer.shift, (hi * k) >> layer.shift
    if isinstance(layer, Add):
        (alo, ahi), (blo, bhi) = _range(ins[0]), _range(ins[1])
        sa, sb = layer.shifts
        ga, gb = layer.signs
        va = sorted([ga * (alo << sa), ga * (ahi << sa)])
        vb = sorted([gb * (blo << sb), gb * (bhi << sb)])
        return va[0] + vb[0], va[1] + vb[1]
    if isinstance(layer, Reshape):
        return _range(ins[0])
    if isinstance(layer, Threshold):
        if streams[layer.outputs[0]].dtype.bipolar:
            return -1, 1
        return layer.base, layer.base + int(layer.thresholds.shape[1])
    if isinstance(layer, ShiftRound):
        return layer.lo, layer.hi
    return None


def infer_layer(layer, streams: dict[str, Stream], max_acc_bits: int = 32) -> IntType:
    """The output type of ``layer`` given the types of its input streams (for an MVU, also its
    accumulator type: the MVU's output stream is the accumulator)."""
    ins = [streams[s].dtype for s in layer.inputs]
    if isinstance(layer, (Threshold, ShiftRound)):
        return streams[layer.outputs[0]].dtype
    if isinstance(layer, Reshape) or (isinstance(layer, Pool) and layer.mode == "max"):
        return ins[0]
    if not isinstance(layer, (MVU, SlidingWindow, Pool, Add)):
        raise TypeError(f"no type rule for {layer.kind}")
    lo, hi = output_range(layer, streams)
    if isinstance(layer, SlidingWindow):
        return ins[0] if (lo, hi) == _range(ins[0]) else IntType.for_range(lo, hi)
    if isinstance(layer, MVU):
        t = IntType.for_range(min(0, lo), max(0, hi))
        if t.bits > max_acc_bits:
            raise UnsupportedModelError(
                f"layer '{layer.name}' (MVU) needs a {t.bits}-bit accumulator, more than {max_acc_bits}")
        return t
    if isinstance(layer, Pool):
        return IntType.for_range(min(0, lo), hi)
    t = IntType.for_range(lo, hi)
    if t.bits > max_acc_bits:
        raise UnsupportedModelError(f"layer '{layer.name}' (Add) needs {t.bits} bits, more than {max_acc_bits}")
    return t
