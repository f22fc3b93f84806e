"""Elementwise add of two streams aligned to a common scale: ``y = sa * (a << sha) + sb * (b << shb)``
(residual connections; the stable block's ``x - h * K^T z``). Verilog ``hls/rtl/hk_add.v`` with a
FIFO on the branch that arrives early."""
from __future__ import annotations

import numpy as np

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, family_key, ram_in_bram
from hwkit.estimate.plumbing import ARITH, fifo
from hwkit.ir.graph import Add
from hwkit.ir.types import IntType
from hwkit.kinds.elementwise import cycles, out_lanes, reads  # noqa: F401  (its beat rules)

LAYER = Add
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False


def output_range(layer: Add, streams) -> tuple[int, int]:
    (alo, ahi), (blo, bhi) = ((int(streams[s].dtype.min), int(streams[s].dtype.max)) for s in layer.inputs)
    sa, sb = layer.shifts
    ga, gb = layer.signs
    va = sorted([ga * (alo << sa), ga * (ahi << sa)])
    vb = sorted([gb * (blo << sb), gb * (bhi << sb)])
    return va[0] + vb[0], va[1] + vb[1]


def output_type(layer: Add, streams, max_acc_bits: int = 32) -> IntType:
    t = IntType.for_range(*output_range(layer, streams))
    if t.bits > max_acc_bits:
        raise UnsupportedModelError(f"layer '{layer.name}' (Add) needs {t.bits} bits, more than {max_acc_bits}")
    return t


def check(layer, streams, producer) -> str | None:
    return None


def execute(layer: Add, ins, run) -> np.ndarray:
    (a, b), (sa, sb), (ga, gb) = ins, layer.shifts, layer.signs
    if a.dtype.kind == "f":  # two passes; power-of-two factors and the bounded sum are exact
        y = np.multiply(a, a.dtype.type(ga * 2.0 ** sa))
        fb = gb * 2.0 ** sb
        if fb == 1:
            y += b
        elif fb == -1:
            y -= b
        else:
            y += b * b.dtype.type(fb)
        return y
    return ga * (a << sa) + gb * (b << sb)


def float_lane(layer, graph) -> bool:
    return True   # the output stream's type bounds the sum (every stream is checked to fit 24 bits)


def tie(layer, graph, acc: int, element) -> bool:
    return False


def emit(b, layer: Add):
    ta = b.streams[b.resolve(layer.inputs[0])]
    tb_ = b.streams[b.resolve(layer.inputs[1])]
    yt = b.streams[layer.outputs[0]].dtype
    # the skip branch (the input forked earlier) goes to port b, which has the branch FIFO
    forked = [b.n_consumers(b.resolve(s)) > 1 for s in layer.inputs]
    ia, ib = (1, 0) if forked[0] and not forked[1] else (0, 1)
    e = b.stream_link[b.resolve(layer.inputs[ia])].e
    a = b.feed(layer.inputs[ia], e, layer.name + "_a", 2)
    br = b.convert(b.take(layer.inputs[ib]), e, sanitize(layer.name) + "_b")
    types = (ta, tb_)
    dst = b.out_link(layer, e)
    bdepth = b.fifo_depths.get(layer.name + "_branch", 3 * br.beats + 8)
    params = [("E", e), ("AB", bits(types[ia].dtype)), ("AS", int(types[ia].dtype.signed)),
              ("BB", bits(types[ib].dtype)), ("BS", int(types[ib].dtype.signed)),
              ("SA", layer.shifts[ia]), ("SB", layer.shifts[ib]), ("SGA", layer.signs[ia]),
              ("SGB", layer.signs[ib]), ("OB", bits(yt)), ("BDEPTH", bdepth)]
    if ram_in_bram(bdepth, e * bits(types[ib].dtype), b.family):
        params.append(("BBLOCK", 1))
    ports = [("clk", "clk"), ("rst", "rst"), ("a_data", f"{a.name}_d"), ("a_valid", f"{a.name}_v"),
             ("a_ready", f"{a.name}_r"), ("b_data", f"{br.name}_d"), ("b_valid", f"{br.name}_v"),
             ("b_ready", f"{br.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")]
    b.add("hk_add", layer.name, params, ports, f"{layer.name}: residual add, branch FIFO {bdepth}")
    b.plan.fifo_keys[f"{b.plan.insts[-1].name}.u_branch"] = layer.name + "_branch"
    b.info(layer, ["hk_add"], a.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    e, ab, bb, ob = int(p["E"]), int(p["AB"]), int(p["BB"]), int(p["OB"])
    branch = fifo({"W": e * bb, "DEPTH": int(p["BDEPTH"]), "BLOCK": int(p.get("BBLOCK", 0))}, fam, mems)
    return branch + Cost(lut=(e * ob + 4) * ARITH[fam], ff=e * ob + 1)


BLOCKS = {"hk_add": cost}
