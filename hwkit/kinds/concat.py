"""Channel concatenation of two streams with the same pixel shape: per pixel, a's channels then b's,
each shifted left to a common scale (``y = [a << sa, b << sb]``, as a residual Add aligns its operands).
Verilog ``hls/rtl/hk_concat.v``; the input that arrives early (a forked skip branch) is buffered by a
FIFO of a few samples in front of it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.estimate.memory import Cost, family_key
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Layer
from hwkit.ir.types import BIPOLAR, IntType


@dataclass(frozen=True, eq=False)
class Concat(Layer):
    """``y[..., :Ca] = a << shifts[0]``, ``y[..., Ca:] = b << shifts[1]`` (channels-last, same pixels)."""

    shifts: tuple[int, int] = (0, 0)


LAYER = Concat
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def _bipolar(layer: Concat, streams) -> bool:
    return all(streams[s].dtype.bipolar for s in layer.inputs) and not any(layer.shifts)


def output_range(layer: Concat, streams) -> tuple[int, int]:
    lo, hi = [], []
    for s, sh in zip(layer.inputs, layer.shifts):
        t = streams[s].dtype
        lo.append(int(t.min) << sh)
        hi.append(int(t.max) << sh)
    return min(lo), max(hi)


def output_type(layer: Concat, streams, max_acc_bits: int = 32) -> IntType:
    return BIPOLAR if _bipolar(layer, streams) else IntType.for_range(*output_range(layer, streams))


def check(layer: Concat, streams, producer) -> str | None:
    if len(layer.inputs) != 2 or len(layer.shifts) != 2 or min(layer.shifts) < 0:
        return f"layer '{layer.name}' (Concat) needs two inputs and two shifts >= 0, has {layer.inputs} {layer.shifts}"
    a, b = (streams[s] for s in layer.inputs)
    y = streams[layer.outputs[0]]
    want = tuple(a.shape[:-1]) + (a.channels + b.channels,)
    if a.shape[:-1] != b.shape[:-1] or tuple(y.shape) != want:
        return f"layer '{layer.name}' (Concat) joins {a.shape} and {b.shape} into {y.shape}; pixels must agree"
    return None


def execute(layer: Concat, ins, run) -> np.ndarray:
    parts = []
    for x, sh in zip(ins, layer.shifts):
        parts.append(x if sh == 0 else (x * x.dtype.type(2.0 ** sh) if x.dtype.kind == "f" else x << sh))
    return np.concatenate(parts, axis=-1)


def float_lane(layer, graph) -> bool:
    return True   # the output type bounds the shifted values (every stream is checked to fit 24 bits)


def tie(layer, graph, acc: int, element) -> bool:
    return False


def lanes_of(graph, layer, arriving: int) -> int:
    a, b = (graph.streams[s].channels for s in layer.inputs)
    return math.gcd(arriving, a, b)


reads = lanes_of
out_lanes = lanes_of


def cycles(graph, layer, lanes: dict) -> int:
    """One output beat a cycle: the pixels' a beats then their b beats."""
    y = graph.streams[layer.outputs[0]]
    return int(np.prod(y.shape)) // lanes_of(graph, layer, lanes[layer.inputs[0]])


def emit(b, layer: Concat):
    ins = [b.streams[b.resolve(s)] for s in layer.inputs]
    yt = b.streams[layer.outputs[0]].dtype
    e = math.gcd(b.take_e(layer), ins[0].channels, ins[1].channels)
    # a forked input (a skip branch) runs ahead of the other path: a FIFO of ~3 samples holds it; with no
    # fork in sight both sides get one
    forked = [b.n_consumers(b.resolve(s)) > 1 for s in layer.inputs]
    links = []
    for i, (s, st) in enumerate(zip(layer.inputs, ins)):
        beats = int(np.prod(st.shape)) // e
        deep = forked[i] or not any(forked)
        links.append(b.feed(s, e, f"{layer.name}_{'ab'[i]}", 3 * beats + 8 if deep else 2))
    la, lb = links
    dst = b.out_link(layer, e)
    ta, tb = (st.dtype for st in ins)
    params = [("E", e), ("CA", ins[0].channels), ("CB", ins[1].channels),
              ("AB", bits(ta)), ("AS", int(ta.signed)), ("AP", int(ta.bipolar)), ("SA", layer.shifts[0]),
              ("BB", bits(tb)), ("BS", int(tb.signed)), ("BP", int(tb.bipolar)), ("SB", layer.shifts[1]),
              ("OP", int(yt.bipolar)), ("OB", bits(yt))]
    ports = [("clk", "clk"), ("rst", "rst"), ("a_data", f"{la.name}_d"), ("a_valid", f"{la.name}_v"),
             ("a_ready", f"{la.name}_r"), ("b_data", f"{lb.name}_d"), ("b_valid", f"{lb.name}_v"),
             ("b_ready", f"{lb.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")]
    b.add("hk_concat", sanitize(layer.name), params, ports,
          f"{layer.name}: channels {ins[0].channels} + {ins[1].channels}, {e} a beat")
    b.info(layer, ["hk_concat"], dst.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    e, ca, cb, ob = (int(p[k]) for k in ("E", "CA", "CB", "OB"))
    fa, fb = ca // e, cb // e
    # a 2:1 mux per output bit (sign extension and shifts are wiring), the beat counter and its compares
    lut = e * ob + 2 * cw(max(fa, fb)) + 4
    ff = e * ob + 1 + cw(max(fa, fb)) + 1
    return Cost(lut=lut * ARITH[fam], ff=ff)


BLOCKS = {"hk_concat": cost}
