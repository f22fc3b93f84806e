"""Multi-threshold activation (FINN's convention): ``y = base + sum_k (x >= T[c, k])``; any monotone
requantization (BatchNorm, float scales, Relu, rounding) folds into it exactly. Verilog
``hls/rtl/hk_thresh.v``: PE comparators per cycle against a threshold memory."""
from __future__ import annotations

import numpy as np

from hwkit.backends.rtl.words import bits, encode, mem, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw, rom_style
from hwkit.ir.graph import Threshold, derived
from hwkit.kinds.elementwise import cycles, out_lanes, reads  # noqa: F401  (its beat rules)

LAYER = Threshold
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False
TIE_RTOL = 2.0 ** -16  # float32 chains of a few ops are off by a few ulps (2**-24 each) at most


def output_range(layer: Threshold, streams) -> tuple[int, int]:
    if streams[layer.outputs[0]].dtype.bipolar:
        return -1, 1
    return layer.base, layer.base + int(layer.thresholds.shape[1])


def output_type(layer: Threshold, streams, max_acc_bits: int = 32):
    return streams[layer.outputs[0]].dtype   # chosen by the quantizer it implements


def check(layer: Threshold, streams, producer) -> str | None:
    if streams[layer.outputs[0]].dtype.bipolar and layer.thresholds.shape[1] != 1:
        return (f"layer '{layer.name}' has {layer.thresholds.shape[1]} thresholds per channel for a bipolar "
                f"output (needs 1)")
    c = streams[layer.inputs[0]].channels
    if c % layer.folding.pe:
        return f"folding PE={layer.folding.pe} of layer '{layer.name}' does not divide its {c} channels"
    return None


def execute(layer: Threshold, ins, run) -> np.ndarray:
    """Few levels: one compare per level; many: one ``searchsorted`` over all channels at once."""
    x = ins[0]
    T = layer.thresholds
    C = x.shape[-1]
    cache = derived(layer).setdefault(C, {})
    if T.shape[0] == 1 and C > 1:
        T = np.repeat(T, C, axis=0)
    N = T.shape[1]
    if N <= 4:
        Tx = T.astype(x.dtype)
        cnt = np.zeros(x.shape, dtype=x.dtype)
        for k in range(N):
            cnt += x >= Tx[:, k]
    else:
        if "flat" not in cache:
            lo = min(int(T.min()), 0) - 1
            span = int(T.max()) - lo + 2
            cache["lo"], cache["span"] = lo, span
            cache["flat"] = (T - lo + np.arange(C)[:, None] * span).ravel()
            cache["off"] = np.arange(C, dtype=np.int64) * span
            cache["offN"] = np.arange(C, dtype=np.int64) * N
        lo, span = cache["lo"], cache["span"]
        xi = x.astype(np.int64) if x.dtype != np.int64 else x
        xs = np.clip(xi - lo, 0, span - 1) + cache["off"]
        cnt = np.searchsorted(cache["flat"], xs, side="right") - cache["offN"]
        if x.dtype != np.int64:
            cnt = cnt.astype(x.dtype)
    return 2 * cnt - 1 if run.out_type.bipolar else cnt + layer.base


def float_lane(layer: Threshold, graph) -> bool:
    return int(np.abs(layer.thresholds).max(initial=0)) < (1 << 24) // 4


def tie(layer: Threshold, graph, acc: int, element) -> bool | None:
    """The accumulator sits on an exact real boundary of its channel (``HwGraph.boundaries``)."""
    b = graph.boundaries.get(layer.name)
    if b is None:
        return None
    row = b[element[-1]] if b.shape[0] > 1 else b[0]
    row = row[np.isfinite(row)]
    return bool(row.size and np.min(np.abs(row - acc)) <= TIE_RTOL * max(1.0, abs(acc)))


def emit(b, layer: Threshold):
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    src = b.feed(layer.inputs[0], b.take_e(layer), layer.name, 2)
    e, c = src.e, xin.channels
    if xin.dtype.bipolar:
        raise UnsupportedModelError(f"layer '{layer.name}': thresholds on a bipolar stream are not supported")
    t = layer.thresholds
    if t.shape[0] == 1 and c > 1:
        t = np.repeat(t, c, axis=0)
    n = t.shape[1]
    t = np.clip(t, xin.dtype.min, xin.dtype.max + 1)
    tb = bits(xin.dtype) + 2
    tfile = f"t_{sanitize(layer.name)}.mem"
    b.plan.mems[tfile] = mem(encode(t.reshape(c // e, e * n), None, tb), tb)
    dst = b.out_link(layer, e)
    base = 0 if yt.bipolar else layer.base
    block = b.rom_block(c * n * tb, c // e, e * n * tb)
    b.block("hk_thresh", layer.name, [("C", c), ("PE", e), ("IB", bits(xin.dtype)), ("IS", int(xin.dtype.signed)),
                                      ("N", n), ("TB", tb), ("OB", bits(yt)), ("BASE", base), ("TFILE", tfile),
                                      ("BLOCK", block)], src, dst, f"{layer.name}: {n} thresholds -> {yt}")
    px = int(np.prod(xin.shape)) // c
    b.info(layer, ["hk_thresh"], px * c // e, e, 0, {"file": tfile, "width": e * n * tb, "depth": c // e,
                                                     "block": bool(block), "shared_with": None})


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, pe, ib, n, tb, ob = (int(p[k]) for k in ("C", "PE", "IB", "N", "TB", "OB"))
    cf = c // pe
    ff = cw(cf) + pe * ib + pe * n + pe * ob + 3
    if int(p["BLOCK"]):   # hk_thresh's read register after a block-RAM table: thresholds, input, valid
        ff += pe * n * tb + pe * ib + 1
    # thresholds are clipped into the input range, so each compare has IB significant bits (the shared sign
    # extension costs nothing): IB/2 ECP5 carry cells = IB LUT4s. Measured alone (yosys 0.70, 8 points
    # on ECP5 and Xilinx, tests/fixtures/estimate_yosys_blocks.json): IB+1 was 6-18 % high on ECP5
    lut = pe * n * ib + pe * n + 10
    rom = memory_cost(cf, pe * n * tb, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                      image=mems.get(p.get("TFILE")))
    return Cost(lut=lut * ARITH[fam], ff=ff) + rom


BLOCKS = {"hk_thresh": cost}
