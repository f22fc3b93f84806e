"""Vector-vector unit (depthwise convolution, FINN's VVAU): each channel multiplies its own taps.
``acc[c] = sum_t W[c, t] * win[t, c] + bias[c]`` per pixel, where ``win`` is a SlidingWindow's
output (last axis ordered (kh, kw, c), T = KH*KW taps). PE channels per cycle, T*C/PE cycles per
pixel; Verilog ``hls/rtl/hk_vvu.v``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hwkit.backends.rtl.words import bits, encode, mem, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw, rom_style
from hwkit.ir.graph import Folding, Layer, SlidingWindow
from hwkit.ir.types import IntType


@dataclass(frozen=True, eq=False)
class VVU(Layer):
    """``weights`` is (C, T): channel c's T taps. Its output stream is its accumulator (``acc``), as
    an MVU's. ``folding.pe`` channels per cycle (``simd`` stays 1: taps are walked one per beat)."""

    weights: np.ndarray = None
    wtype: IntType = None
    bias: Optional[np.ndarray] = None
    acc: IntType = None
    folding: Folding = field(default_factory=Folding)

    @property
    def mh(self) -> int:   # output rows, as an MVU's (requantization rewrites rows by this count)
        return int(self.weights.shape[0])

    @property
    def taps(self) -> int:
        return int(self.weights.shape[1])

    mw = taps   # the values each output sums, as an MVU's MW (MH*MW multiplies per pixel)


LAYER = VVU
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = True   # an output needs its whole window
EXACT_F32 = 1 << 24


# ---- type rule
def output_range(layer: VVU, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    lo, hi = int(t.min), int(t.max)
    W = layer.weights.astype(object)
    b = layer.bias.astype(object) if layer.bias is not None else 0
    pos = np.where(W > 0, W, 0).sum(axis=1)
    neg = np.where(W < 0, W, 0).sum(axis=1)
    return int(np.min(pos * lo + neg * hi + b)), int(np.max(pos * hi + neg * lo + b))


def output_type(layer: VVU, streams, max_acc_bits: int = 32) -> IntType:
    lo, hi = output_range(layer, streams)
    t = IntType.for_range(min(0, lo), max(0, hi))
    if t.bits > max_acc_bits:
        raise UnsupportedModelError(
            f"layer '{layer.name}' (VVU) needs a {t.bits}-bit accumulator, more than {max_acc_bits}")
    return t


def check(layer: VVU, streams, producer) -> str | None:
    lo, hi = output_range(layer, streams)
    if layer.acc is not None and (lo < layer.acc.min or hi > layer.acc.max):
        return f"layer '{layer.name}' accumulates values in [{lo}, {hi}], outside its accumulator {layer.acc}"
    c, taps = layer.weights.shape
    if streams[layer.inputs[0]].channels != c * taps:
        return (f"layer '{layer.name}' (VVU) reads {streams[layer.inputs[0]].channels} values per pixel, "
                f"its {c}x{taps} weights need {c * taps}")
    src = producer.get(layer.inputs[0])
    if not isinstance(src, SlidingWindow) or streams[src.inputs[0]].channels != c:
        return f"layer '{layer.name}' (VVU) must read the windows of a {c}-channel SlidingWindow"
    f = layer.folding
    if c % f.pe or f.simd != 1:
        return f"folding PE={f.pe} SIMD={f.simd} of layer '{layer.name}' (VVU) must have PE dividing {c} and SIMD 1"
    return None


# ---- golden execution
def sum_bound(layer: VVU, in_type) -> int:
    bound = int(np.abs(layer.weights).sum(axis=1).max(initial=0)) * max(abs(in_type.min), abs(in_type.max))
    return bound + (int(np.abs(layer.bias).max(initial=0)) if layer.bias is not None else 0)


def float_lane(layer: VVU, graph) -> bool:
    return sum_bound(layer, graph.streams[layer.inputs[0]].dtype) < EXACT_F32


def execute(layer: VVU, ins, run) -> np.ndarray:
    """float32 lane: every partial sum is an integer below 2**24, so exact; else int64."""
    x = ins[0]
    c, taps = layer.weights.shape
    dt = np.float32 if x.dtype == np.float32 else np.int64
    xw = x.reshape(x.shape[:-1] + (taps, c))
    acc = np.einsum("...tc,ct->...c", xw.astype(dt, copy=False), layer.weights.astype(dt))
    if layer.bias is not None:
        acc += layer.bias.astype(dt)
    return acc


def tie(layer, graph, acc: int, element) -> bool:
    return False   # exact integer arithmetic


# ---- cycles
def reads(graph, layer: VVU, arriving: int) -> int:
    return layer.folding.pe


out_lanes = reads


def cycles(graph, layer: VVU, lanes: dict) -> int:
    """FINN's VVAU with SIMD 1: pixels * taps * C / PE."""
    return graph.streams[layer.outputs[0]].pixels * layer.taps * (layer.mh // layer.folding.pe)


# ---- RTL
def emit(b, layer: VVU):
    pe = b.folding[layer.name][0]
    c, taps = layer.weights.shape
    cf = c // pe
    xt = b.streams[b.resolve(layer.inputs[0])].dtype
    yt = b.streams[layer.outputs[0]].dtype
    wt = layer.wtype
    wb, ab = bits(wt), bits(yt)
    tag = sanitize(layer.name)
    src = b.feed(layer.inputs[0], pe, layer.name, 2)
    dst = b.out_link(layer, pe)
    wfile, bfile = f"w_{tag}.mem", f"b_{tag}.mem"
    tiles = np.ascontiguousarray(layer.weights.T).reshape(taps * cf, pe)   # word t*CF + cf
    b.plan.mems[wfile] = mem(encode(tiles, wt, wb), wb)
    if layer.bias is not None:   # stored modulo 2**AB: the sum wraps there and ends in range
        b.plan.mems[bfile] = mem(encode(layer.bias.reshape(cf, pe), None, ab), ab)
    block = b.rom_block(taps * c * wb, taps * cf, pe * wb)
    params = [("C", c), ("T", taps), ("PE", pe),
              ("XB", bits(xt)), ("XS", int(xt.signed and not xt.bipolar)), ("XBIP", int(xt.bipolar)),
              ("WB", wb), ("WS", int(wt.signed and not wt.bipolar)), ("WBIP", int(wt.bipolar)),
              ("AB", ab), ("HAS_BIAS", int(layer.bias is not None)), ("WFILE", wfile), ("BFILE", bfile),
              ("BLOCK", block)]
    ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
             ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")]
    b.add("hk_vvu", layer.name, params, ports, f"{layer.name}: depthwise {c}x{taps} {wt} x {xt} -> {yt}")
    b.info(layer, ["hk_vvu"], b.streams[layer.outputs[0]].pixels * taps * cf, pe, 1,
           {"file": wfile, "width": pe * wb, "depth": taps * cf, "block": bool(block), "shared_with": None})


# ---- cost
def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, taps, pe = int(p["C"]), int(p["T"]), int(p["PE"])
    xb, wb, ab = int(p["XB"]), int(p["WB"]), int(p["AB"])
    cf = c // pe
    depth = taps * cf
    pb = xb + wb + 2
    bipolar = int(p["XBIP"]) or int(p["WBIP"])
    prod_lut = pb if bipolar or xb + wb <= 4 else min(xb, wb) * pb   # sign flip, LUT4 per bit, or shift-add
    # counters, input/weight/flag pipeline registers, products, output word
    ff = 2 * cw(cf) + cw(taps) + cw(depth) + 2 * pe * (xb + wb) + pe * pb + pe * ab + 12
    lut = pe * prod_lut + pe * 2 * ab + cw(cf) + cw(taps) + cw(depth) + 20   # add + bias/acc select
    out = Cost(lut=lut * ARITH[fam], ff=ff)
    out += memory_cost(depth, pe * wb, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                       image=mems.get(p.get("WFILE")))
    out += memory_cost(cf, pe * ab, fam)   # the accumulator words (read asynchronously)
    if int(p.get("HAS_BIAS", 0)):
        out += memory_cost(cf, pe * ab, fam, rom=True, image=mems.get(p.get("BFILE")))
    return out


BLOCKS = {"hk_vvu": cost}
