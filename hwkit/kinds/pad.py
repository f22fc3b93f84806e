"""Constant padding of a feature map, standalone (padding that a Conv or pool declares itself is done by
its window generator): an (H, W, C) stream becomes (PT + H + PB, PL + W + PR, C), the new positions
holding the integer ``value``. Verilog ``hls/rtl/hk_pad.v``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwkit.backends.rtl.words import bits, encode
from hwkit.estimate.memory import Cost, family_key
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Layer
from hwkit.ir.types import IntType
from hwkit.kinds.elementwise import channel_lanes, moves_values, no_rounding


@dataclass(frozen=True, eq=False)
class Pad(Layer):
    """``y = pad(x, ((top, bottom), (left, right)), value)`` over (H, W) of a channels-last stream."""

    pad: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    value: int = 0


LAYER = Pad
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def output_range(layer: Pad, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    return min(int(t.min), layer.value), max(int(t.max), layer.value)


def output_type(layer: Pad, streams, max_acc_bits: int = 32) -> IntType:
    t = streams[layer.inputs[0]].dtype
    if t.bipolar:
        return t if layer.value in (-1, 1) else IntType.for_range(*output_range(layer, streams))
    return t if t.min <= layer.value <= t.max else IntType.for_range(*output_range(layer, streams))


def check(layer: Pad, streams, producer) -> str | None:
    x, y = streams[layer.inputs[0]], streams[layer.outputs[0]]
    t, l, b, r = layer.pad
    want = (x.shape[0] + t + b, x.shape[1] + l + r, x.channels) if len(x.shape) == 3 else None
    if min(layer.pad) < 0 or want is None or tuple(y.shape) != want:
        return f"layer '{layer.name}' (Pad {layer.pad}) maps {x.shape} to {y.shape}; expected {want}"
    if x.dtype.bipolar and layer.value not in (-1, 1):
        return f"layer '{layer.name}' pads a bipolar stream with {layer.value}, which is not -1 or +1"
    return None


def execute(layer: Pad, ins, run) -> np.ndarray:
    t, l, b, r = layer.pad
    return np.pad(ins[0], ((0, 0), (t, b), (l, r), (0, 0)), constant_values=layer.value)


float_lane = moves_values
tie = no_rounding


reads = channel_lanes


out_lanes = reads


def cycles(graph, layer, lanes: dict) -> int:
    """One output beat a cycle (a padding beat needs no input)."""
    return int(np.prod(graph.streams[layer.outputs[0]].shape)) // reads(graph, layer, lanes[layer.inputs[0]])


def emit(b, layer: Pad):
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    h, w, c = xin.shape
    t, l, bo, r = layer.pad
    e = math.gcd(b.take_e(layer), c)
    # the input FIFO holds what the producer makes while the longest run of padding beats goes out, so the
    # producer never waits on them
    run = ((t + bo) * (w + l + r) + l + r) * (c // e)
    src = b.feed(layer.inputs[0], e, layer.name, run + 4)
    dst = b.out_link(layer, e)
    ob = bits(yt)
    b.block("hk_pad", layer.name,
            [("H", h), ("W", w), ("C", c), ("E", e), ("IB", src.bits), ("IS", int(xin.dtype.signed)),
             ("IP", int(xin.dtype.bipolar and not yt.bipolar)), ("OB", ob), ("PT", t), ("PL", l), ("PB", bo),
             ("PR", r), ("PADV", int(encode([layer.value], yt, ob)[0]))],
            src, dst, f"{layer.name}: pad {layer.pad} with {layer.value}")
    b.info(layer, ["hk_pad"], dst.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    e, ob, c = int(p["E"]), int(p["OB"]), int(p["C"])
    oh = int(p["H"]) + int(p["PT"]) + int(p["PB"])
    ow = int(p["W"]) + int(p["PL"]) + int(p["PR"])
    counters = cw(oh) + cw(ow) + cw(c // e)
    # a 2:1 mux per output bit (input or the constant), counters with their wrap and window compares
    lut = e * ob + 3 * counters + 6
    return Cost(lut=lut * ARITH[fam], ff=e * ob + 1 + counters)


BLOCKS = {"hk_pad": cost}
