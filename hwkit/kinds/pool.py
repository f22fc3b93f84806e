"""Max or average pooling over (H, W). Average pooling is ``floor(sum / 2**shift)`` as QONNX Trunc
after a sum; max pooling is exact on integers. Verilog: ``hls/rtl/hk_swg.v`` windows into
``hls/rtl/hk_pool.v``."""
from __future__ import annotations

import math

import numpy as np

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Pool
from hwkit.ir.types import IntType
from hwkit.kinds.sliding_window import window_cycles
from hwkit.kinds.elementwise import channel_lanes

LAYER = Pool
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def output_range(layer: Pool, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    lo, hi = int(t.min), int(t.max)
    if layer.mode == "max":
        return lo, hi
    k = layer.kernel[0] * layer.kernel[1]
    return (lo * k) >> layer.shift, (hi * k) >> layer.shift


def output_type(layer: Pool, streams, max_acc_bits: int = 32) -> IntType:
    if layer.mode == "max":
        return streams[layer.inputs[0]].dtype
    lo, hi = output_range(layer, streams)
    return IntType.for_range(min(0, lo), hi)


def check(layer, streams, producer) -> str | None:
    return None


def pool(layer: Pool, x: np.ndarray, in_type) -> np.ndarray:
    """Max or sum over the kh*kw strided slices of x (each moving runs of C contiguous values)."""
    t, l, b, r = layer.pad
    if any(layer.pad):
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=in_type.min)
    n, H, W, C = x.shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    op = np.maximum if layer.mode == "max" else np.add
    y = None
    for i in range(kh):
        for j in range(kw):
            sl = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            y = sl.copy() if y is None else op(y, sl, out=y)
    if layer.mode == "max":
        return y
    if x.dtype.kind == "f":  # the sum is below 2**24 (checked by float_lane): exact
        y *= 2.0 ** -layer.shift
        return np.floor(y, out=y)
    y >>= layer.shift
    return y


def execute(layer: Pool, ins, run) -> np.ndarray:
    return pool(layer, ins[0], run.in_type)


def float_lane(layer: Pool, graph) -> bool:
    """The sum of an average pool, before its shift, must fit 24 bits too."""
    if layer.mode != "avg":
        return True
    k = layer.kernel[0] * layer.kernel[1]
    return graph.streams[layer.inputs[0]].dtype.bits + (k - 1).bit_length() <= 24


def tie(layer, graph, acc: int, element) -> bool:
    return False   # floor of a sum: no rounding to the nearest


reads = channel_lanes


def out_lanes(graph, layer, arriving: int) -> int:
    return reads(graph, layer, arriving)


cycles = window_cycles


def emit(b, layer: Pool):
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    c = xin.channels
    simd = math.gcd(b.take_e(layer), c)
    src = b.feed(layer.inputs[0], simd, layer.name, 2)
    win, cyc = b.swg(layer, src, simd, layer.kernel, layer.stride, layer.pad, xin.dtype.min, sanitize(layer.name))
    k = layer.kernel[0] * layer.kernel[1]
    dst = b.out_link(layer, simd)
    # a bipolar element is one bit with 0 meaning -1: its codes order as unsigned, not as signed
    signed = xin.dtype.signed and not xin.dtype.bipolar
    b.block("hk_pool", layer.name, [("C", c), ("SIMD", simd), ("K", k), ("B", src.bits),
                                    ("S", int(signed)), ("MODE", 0 if layer.mode == "max" else 1),
                                    ("SHIFT", layer.shift), ("OB", bits(yt))], win, dst,
            f"{layer.name}: {layer.mode} pool {layer.kernel}")
    b.info(layer, ["hk_swg", "hk_pool"], cyc)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, simd, k, b, ob = (int(p[x]) for x in ("C", "SIMD", "K", "B", "OB"))
    cf = c // simd
    mode = int(p.get("MODE", 0))
    # a max keeps input-width values (the output register is the accumulator itself when CF = 1);
    # a sum needs the full accumulator width
    aw = b if mode == 0 else b + 1 + clog2(k + 1)
    ff = cw(cf) + cw(k) + 1 + simd * ob + (simd * aw if cf > 1 else 0)   # + the word read a beat ahead
    lut = simd * (3 * aw + 2) + 10
    acc = memory_cost(cf, simd * aw, fam) if cf > 1 else Cost(ff=0 if mode == 0 and ob >= aw else simd * aw)
    return acc + Cost(lut=lut * ARITH[fam], ff=ff)


BLOCKS = {"hk_pool": cost}
