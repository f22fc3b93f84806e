"""The class index in hardware (FINN's LabelSelect, k = 1): per pixel, the index of the largest of the
stream's C channels, ties to the lowest index as numpy ``argmax``, ONNX ArgMax (select_last_index=0)
and TopK's sorted order. Lowered from ONNX ArgMax or TopK(k=1) on an integer stream whose channels share
one increasing scale and offset (then the largest integer is the largest real). Verilog
``hls/rtl/hk_argmax.v``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwkit.backends.rtl.words import bits
from hwkit.estimate.memory import Cost, clog2, family_key
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Layer
from hwkit.ir.types import IntType
from hwkit.kinds.elementwise import channel_lanes


@dataclass(frozen=True, eq=False)
class ArgMax(Layer):
    """``y[..., 0] = argmax_c x[..., c]`` per pixel of a channels-last stream (first index on ties)."""


LAYER = ArgMax
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def output_range(layer: ArgMax, streams) -> tuple[int, int]:
    return 0, streams[layer.inputs[0]].channels - 1


def output_type(layer: ArgMax, streams, max_acc_bits: int = 32) -> IntType:
    return IntType.for_range(*output_range(layer, streams))


def check(layer: ArgMax, streams, producer) -> str | None:
    x, y = streams[layer.inputs[0]], streams[layer.outputs[0]]
    if tuple(y.shape) != tuple(x.shape[:-1]) + (1,):
        return f"layer '{layer.name}' (ArgMax) maps {x.shape} to {y.shape}; the output must be {x.shape[:-1] + (1,)}"
    return None


def execute(layer: ArgMax, ins, run) -> np.ndarray:
    x = ins[0]
    return np.argmax(x, axis=-1, keepdims=True).astype(x.dtype)  # first maximum on ties


def float_lane(layer, graph) -> bool:
    return True   # comparisons of float32 integers are exact


def tie(layer, graph, acc: int, element) -> bool:
    return False  # no rounding


reads = channel_lanes


def out_lanes(graph, layer, arriving: int) -> int:
    return 1


def cycles(graph, layer, lanes: dict) -> int:
    """One beat of E channels a cycle; the index leaves with the pixel's last beat."""
    x = graph.streams[layer.inputs[0]]
    return int(np.prod(x.shape)) // reads(graph, layer, lanes[layer.inputs[0]])


def emit(b, layer: ArgMax):
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    c = xin.channels
    e = math.gcd(b.take_e(layer), c)
    src = b.feed(layer.inputs[0], e, layer.name, 2)
    dst = b.out_link(layer, 1)
    b.block("hk_argmax", layer.name, [("C", c), ("E", e), ("B", src.bits),
                                      ("S", int(xin.dtype.signed and not xin.dtype.bipolar)), ("OB", bits(yt))],
            src, dst, f"{layer.name}: index of the largest of {c} channels")
    b.info(layer, ["hk_argmax"], src.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, e, b, ob = (int(p[k]) for k in ("C", "E", "B", "OB"))
    iw = clog2(max(c, 2))
    # E-1 compare-and-select stages within a beat, one against the running best (value and index)
    per = (b + 2) + (b + 1 + iw)
    ff = (b + 1) + iw + ob + 1 + 2 * cw(c // e)
    return Cost(lut=(e * per + 2 * cw(c // e) + 6) * ARITH[fam], ff=ff)


BLOCKS = {"hk_argmax": cost}
