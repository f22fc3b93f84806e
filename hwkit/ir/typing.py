"""Stream types from value ranges: each layer's output range follows from its input types and
integer parameters, so accumulators get exactly the bits they need."""
from __future__ import annotations

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir.graph import MVU, Add, Pool, Reshape, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import IntType


def _range(t: IntType) -> tuple[int, int]:
    return int(t.min), int(t.max)


def infer_layer(layer, streams: dict[str, Stream], max_acc_bits: int = 32) -> IntType:
    """The output type of ``layer`` given the types of its input streams."""
    ins = [streams[s].dtype for s in layer.inputs]
    if isinstance(layer, MVU):
        lo, hi = _range(ins[0])
        W = layer.weights.astype(object)  # python ints: no overflow while sizing
        pos = np.where(W > 0, W, 0).sum(axis=1)
        neg = np.where(W < 0, W, 0).sum(axis=1)
        b = layer.bias.astype(object) if layer.bias is not None else 0
        top = pos * hi + neg * lo + b
        bot = pos * lo + neg * hi + b
        t = IntType.for_range(min(0, int(np.min(bot))), max(0, int(np.max(top))))
        if t.bits > max_acc_bits:
            raise UnsupportedModelError(
                f"layer '{layer.name}' (MVU) needs a {t.bits}-bit accumulator, more than {max_acc_bits}")
        layer.acc = t
        return t
    if isinstance(layer, SlidingWindow):
        lo, hi = _range(ins[0])
        if any(layer.pad):
            lo, hi = min(lo, layer.pad_value), max(hi, layer.pad_value)
        return ins[0] if (lo, hi) == _range(ins[0]) else IntType.for_range(lo, hi)
    if isinstance(layer, Pool):
        if layer.mode == "max":
            return ins[0]
        lo, hi = _range(ins[0])
        k = layer.kernel[0] * layer.kernel[1]
        return IntType.for_range(min(0, (lo * k) >> layer.shift), (hi * k) >> layer.shift)
    if isinstance(layer, Add):
        (alo, ahi), (blo, bhi) = _range(ins[0]), _range(ins[1])
        sa, sb = layer.shifts
        ga, gb = layer.signs
        va = sorted([ga * (alo << sa), ga * (ahi << sa)])
        vb = sorted([gb * (blo << sb), gb * (bhi << sb)])
        t = IntType.for_range(va[0] + vb[0], va[1] + vb[1])
        if t.bits > max_acc_bits:
            raise UnsupportedModelError(f"layer '{layer.name}' (Add) needs {t.bits} bits, more than {max_acc_bits}")
        return t
    if isinstance(layer, Reshape):
        return ins[0]
    if isinstance(layer, (Threshold, ShiftRound)):
        return streams[layer.outputs[0]].dtype
    raise TypeError(f"no type rule for {layer.kind}")
