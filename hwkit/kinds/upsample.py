"""Nearest-neighbour upsampling by integer factors (ONNX Resize mode=nearest, Upsample): an (H, W, C)
stream becomes (H * SH, W * SW, C), each pixel repeated SH x SW times. Verilog ``hls/rtl/hk_upsample.v``:
two row buffers, one filled while the other is read SH times."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwkit.backends.rtl.words import bits
from hwkit.estimate.memory import Cost, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Layer
from hwkit.kinds.elementwise import channel_lanes, moves_values, no_rounding


@dataclass(frozen=True, eq=False)
class Upsample(Layer):
    """``y[h, w, c] = x[h // SH, w // SW, c]`` with ``scale`` = (SH, SW)."""

    scale: tuple[int, int] = (2, 2)


LAYER = Upsample
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def output_range(layer: Upsample, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    return int(t.min), int(t.max)


def output_type(layer: Upsample, streams, max_acc_bits: int = 32):
    return streams[layer.inputs[0]].dtype


def check(layer: Upsample, streams, producer) -> str | None:
    x, y = streams[layer.inputs[0]], streams[layer.outputs[0]]
    sh, sw = layer.scale
    want = (x.shape[0] * sh, x.shape[1] * sw, x.channels) if len(x.shape) == 3 else None
    if min(layer.scale) < 1 or want is None or tuple(y.shape) != want:
        return f"layer '{layer.name}' (Upsample x{layer.scale}) maps {x.shape} to {y.shape}; expected {want}"
    return None


def execute(layer: Upsample, ins, run) -> np.ndarray:
    sh, sw = layer.scale
    return np.repeat(np.repeat(ins[0], sh, axis=1), sw, axis=2)


float_lane = moves_values
tie = no_rounding


reads = channel_lanes


out_lanes = reads


def cycles(graph, layer, lanes: dict) -> int:
    """One output beat a cycle; a row is written while the previous one is read, so input beats
    (fewer) overlap."""
    return int(np.prod(graph.streams[layer.outputs[0]].shape)) // reads(graph, layer, lanes[layer.inputs[0]])


def emit(b, layer: Upsample):
    xin = b.streams[b.resolve(layer.inputs[0])]
    h, w, c = xin.shape
    e = math.gcd(b.take_e(layer), c)
    src = b.feed(layer.inputs[0], e, layer.name, 2)
    dst = b.out_link(layer, e)
    sh, sw = layer.scale
    b.block("hk_upsample", layer.name,
            [("H", h), ("W", w), ("C", c), ("E", e), ("B", bits(xin.dtype)), ("SH", sh), ("SW", sw)],
            src, dst, f"{layer.name}: nearest x{sh}x{sw} of {h}x{w}x{c}")
    b.info(layer, ["hk_upsample"], dst.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    w, c, e, bw, sh, sw = (int(p[k]) for k in ("W", "C", "E", "B", "SH", "SW"))
    cf = c // e
    words = 2 * w * cf
    mem = memory_cost(words, e * bw, fam, sync_read=True)   # yosys picks registers, LUT RAM or block RAM
    counters = 2 * cw(w * cf + 1) + cw(w) + cw(sw) + cw(sh) + cw(cf) + 3
    # the read register, the address adders (x * CF + cf and the bank offset), counter wraps
    lut = 2 * cw(words) + 3 * counters + 10
    return mem + Cost(lut=lut * ARITH[fam], ff=counters + e * bw + 2)


BLOCKS = {"hk_upsample": cost}
