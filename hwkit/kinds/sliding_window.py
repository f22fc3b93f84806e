"""Sliding-window generator (im2col): an (H, W, C) stream into (OH, OW, KH*KW*C) windows, the last
axis ordered (kh, kw, c), padded with ``pad_value``. Feeds a convolution's MVU (and, inside the
Verilog, a Pool). Verilog ``hls/rtl/hk_swg.v``: a line buffer of two frames."""
from __future__ import annotations

import math

import numpy as np

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH
from hwkit.ir.graph import MVU, SlidingWindow
from hwkit.ir.types import IntType

LAYER = SlidingWindow
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False   # windows stream out as lines arrive


def output_range(layer: SlidingWindow, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    lo, hi = int(t.min), int(t.max)
    if any(layer.pad):
        lo, hi = min(lo, layer.pad_value), max(hi, layer.pad_value)
    return lo, hi


def output_type(layer: SlidingWindow, streams, max_acc_bits: int = 32) -> IntType:
    t = streams[layer.inputs[0]].dtype
    lo, hi = output_range(layer, streams)
    return t if (lo, hi) == (int(t.min), int(t.max)) else IntType.for_range(lo, hi)


def check(layer, streams, producer) -> str | None:
    return None


def execute(layer: SlidingWindow, ins, run) -> np.ndarray:
    """im2col into (N, OH, OW, KH*KW*C), last axis ordered (kh, kw, c): one strided copy per kernel
    row, each moving runs of KW*C contiguous values (much faster than a 6-D strided view)."""
    x = ins[0]
    t, l, b, r = layer.pad
    n, H, W, C = x.shape
    if any(layer.pad):
        xp = np.full((n, H + t + b, W + l + r, C), layer.pad_value, dtype=x.dtype)
        xp[:, t:t + H, l:l + W] = x
        x = xp
    H, W = x.shape[1:3]
    kh, kw = layer.kernel
    sh, sw = layer.stride
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    x = np.ascontiguousarray(x)
    out = np.empty((n, oh, ow, kh, kw * C), dtype=x.dtype)
    s = x.strides
    for i in range(kh):
        # the kw*C values of one kernel row are contiguous in an (H, W, C) map: copy them as one run
        row = np.lib.stride_tricks.as_strided(x[:, i:], (n, oh, ow, kw * C), (s[0], s[1] * sh, s[2] * sw, s[3]))
        out[:, :, :, i] = row
    return out.reshape(n, oh, ow, kh * kw * C)


def float_lane(layer, graph) -> bool:
    return True   # copies values


def tie(layer, graph, acc: int, element) -> bool:
    return False


def reads(graph, layer: SlidingWindow, arriving: int) -> int:
    """Its MVU's SIMD (the generator emits whole channel groups), else what divides both ends."""
    c = graph.streams[layer.inputs[0]].channels
    mvu = next((m for m in graph.consumers(layer.outputs[0]) if isinstance(m, MVU)), None)
    return mvu.folding.simd if mvu is not None else math.gcd(arriving, c)


def out_lanes(graph, layer, arriving: int) -> int:
    return reads(graph, layer, arriving)


def window_cycles(graph, layer, lanes: dict) -> int:
    """The larger of the beats read (input map / lanes) and written (windows * taps * C / lanes);
    shared with Pool, whose Verilog runs the same generator."""
    e = lanes[layer.outputs[0]]
    ins = graph.streams[layer.inputs[0]]
    kh, kw = layer.kernel
    h, w, c = ins.shape
    t, l, b, r = layer.pad
    oh = (h + t + b - kh) // layer.stride[0] + 1
    ow = (w + l + r - kw) // layer.stride[1] + 1
    return max(int(np.prod(ins.shape)) // e, oh * ow * kh * kw * c // e)


cycles = window_cycles


def emit(b, layer: SlidingWindow):
    xin = b.streams[b.resolve(layer.inputs[0])]
    if bits(b.streams[layer.outputs[0]].dtype) != bits(xin.dtype):
        raise UnsupportedModelError(f"layer '{layer.name}': padding value {layer.pad_value} needs a wider type "
                                    f"than the input {xin.dtype}")
    simd = b.swg_simd(layer)
    src = b.feed(layer.inputs[0], simd, layer.name, 2)
    out, cyc = b.swg(layer, src, simd, layer.kernel, layer.stride, layer.pad, layer.pad_value, sanitize(layer.name))
    b.stream_link[layer.outputs[0]] = out
    b.info(layer, ["hk_swg"], cyc, 0, simd)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    h, w, c, simd, b = (int(p[k]) for k in ("H", "W", "C", "SIMD", "B"))
    kh, kw = int(p["KH"]), int(p["KW"])
    pads = sum(int(p[k]) for k in ("PT", "PL", "PB", "PR"))
    cf = c // simd
    frame = h * w * cf
    aw = clog2(2 * frame)
    cwid = clog2(max(h, w) + pads + kh + kw + cf + 2) + 2
    ff = 2 + 1 + aw + 1 + 5 * cwid + 3 + 3 * simd * b + 8    # read word (and its copy) and output word
    # counters and their compares, window coordinates, padding tests, the address (constant multiplies)
    lut = 5 * cwid + 2 * 2 * cwid + 4 * cwid + 3 * aw + simd * b + 70
    mem = memory_cost(2 * frame, simd * b, fam, style="block", sync_read=True)
    return mem + Cost(lut=lut * ARITH[fam], ff=ff)


BLOCKS = {"hk_swg": cost}
