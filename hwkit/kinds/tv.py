"""One quantized step of edge-aware total-variation (TV) smoothing on a feature map, per channel
(the zoo's :class:`hwkit.zoo.tv.TVSmoothing`; lowered by :mod:`hwkit.ir.ops_tv`). On integers:

    GX[i,j] = X[i,j+1] - X[i,j],  GY[i,j] = X[i+1,j] - X[i,j]      (zero outside the map)
    S = GX^2 + GY^2,  L = w0 - #{k : S >= thresholds[k]}            (the quantized 1/sqrt(S + eps))
    B[i,j] = L GX [i,j-1] - L GX [i,j] + L GY [i-1,j] - L GY [i,j]  (the adjoint differences)
    Y = clip(round_half_even(((X << xshift) - (B << bshift)) / 2**shift), otype)

Output (i, j) reads a 3x3 neighbourhood of X, so Verilog ``hls/rtl/hk_tv.v`` streams it with two
line buffers (a delay line of 2W+1 pixels) and flushes one extra row per map: (H+1)*W*C/E cycles. Its
datapath is a pipeline of ``STAGES`` registers (gradients, squares, sums, compares, levels, products,
differences, shifted sum, rounding, clip) that adds latency, not cycles per map."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwkit.backends.rtl.words import bits, encode, mem, sanitize
from hwkit.estimate.memory import Cost, family_key
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.ir.graph import Layer
from hwkit.ir.types import IntType
from hwkit.kinds.elementwise import channel_lanes


@dataclass(frozen=True, eq=False)
class TV(Layer):
    """``thresholds``: ascending integer thresholds on S (a level is lost at each); ``w0`` the level
    at S = 0; ``otype`` the output quantizer's integer type (its clip range)."""

    thresholds: np.ndarray = None
    w0: int = 0
    xshift: int = 0
    bshift: int = 0
    shift: int = 0
    otype: IntType = None


LAYER = TV
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False   # an output waits for one row and one pixel, not the whole map


def output_range(layer: TV, streams) -> tuple[int, int]:
    return int(layer.otype.min), int(layer.otype.max)


def output_type(layer: TV, streams, max_acc_bits: int = 32) -> IntType:
    return layer.otype


def diff_bound(t: IntType) -> int:
    """Largest |X[a] - X[b]| with zero padding in the range."""
    lo, hi = min(int(t.min), 0), max(int(t.max), 0)
    return hi - lo


def widths(layer: TV, in_type: IntType) -> dict:
    """Exact bit widths of the integer pipeline (signed two's complement), shared by the Verilog."""
    d = diff_bound(in_type)
    smax = 2 * d * d
    lmax = int(layer.w0)
    bmax = 4 * d * lmax
    nmax = max(abs(int(in_type.min)), abs(int(in_type.max))) * (1 << layer.xshift) + (bmax << layer.bshift)
    sb = lambda m: max(m, 1).bit_length() + 1   # noqa: E731 (signed bits holding [-m, m])
    return {"DB": sb(d), "SB": max(smax, 1).bit_length(), "LB": max(lmax, 1).bit_length(), "NB": sb(nmax),
            "smax": smax, "nmax": nmax}


def is_identity(layer: TV, in_type: IntType) -> bool:
    """True when the step returns every input of ``in_type`` unchanged. Y = round((X << xshift -
    B << bshift) / 2**shift) with B the sum of four terms level(S) * g, |g| <= sqrt(S): when the shifts
    cancel, the output type holds the input range and |B << bshift| stays below half a step for every
    reachable S, the rounding gives X back. A trained step can learn this (levels kept only where the
    gradients are too small to move a value); in hardware it would still cost a pipelined block that
    synthesis cannot prove away."""
    if layer.xshift != layer.shift or int(layer.otype.min) > int(in_type.min) or int(layer.otype.max) < int(in_type.max):
        return False
    s = np.arange(1, widths(layer, in_type)["smax"] + 1, dtype=np.int64)
    term = int((np.floor(np.sqrt(s)).astype(np.int64) * levels(layer, s)).max(initial=0))
    return 2 * (4 * term << layer.bshift) < (1 << layer.shift)   # below half a step of the rounding


def check(layer: TV, streams, producer) -> str | None:
    x, y = streams[layer.inputs[0]], streams[layer.outputs[0]]
    if len(x.shape) != 3 or tuple(x.shape) != tuple(y.shape):
        return f"layer '{layer.name}' (TV) maps {x.shape} to {y.shape}; it needs one (H, W, C) map of the same shape"
    t = np.asarray(layer.thresholds)
    if t.ndim != 1 or np.any(np.diff(t) < 0) or layer.w0 < 0 or len(t) > layer.w0:
        return f"layer '{layer.name}' (TV) has thresholds that are not ascending or more than its {layer.w0} levels"
    if min(layer.xshift, layer.bshift, layer.shift) < 0:
        return f"layer '{layer.name}' (TV) has a negative shift"
    if widths(layer, x.dtype)["NB"] > 48:
        return f"layer '{layer.name}' (TV) needs more than 48 bits before its rounding"
    return None


def round_shift(n: np.ndarray, sh: int) -> np.ndarray:
    """n / 2**sh rounded half to even (QONNX Quant's ROUND), on int64."""
    if sh == 0:
        return n
    q = n >> sh
    r = n - (q << sh)
    half = 1 << (sh - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1)))


def levels(layer: TV, s: np.ndarray) -> np.ndarray:
    return layer.w0 - np.searchsorted(np.asarray(layer.thresholds, np.int64), s, side="right")


def tv_step(layer: TV, x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) integers -> (N, H, W, C) integers, exact (int64)."""
    X = x.astype(np.int64)
    xp = np.pad(X, ((0, 0), (0, 1), (0, 1), (0, 0)))
    gx, gy = xp[:, :-1, 1:] - X, xp[:, 1:, :-1] - X
    lv = levels(layer, gx * gx + gy * gy)
    p, q = gx * lv, gy * lv
    b = (np.pad(p, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1] - p
         + np.pad(q, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1] - q)
    y = round_shift((X << layer.xshift) - (b << layer.bshift), layer.shift)
    return np.clip(y, int(layer.otype.min), int(layer.otype.max))


def execute(layer: TV, ins, run) -> np.ndarray:
    x = ins[0]
    y = tv_step(layer, x.reshape((-1,) + x.shape[-3:]))
    return y.reshape(x.shape[:-3] + y.shape[1:]).astype(x.dtype, copy=False)


def float_lane(layer: TV, graph) -> bool:
    return widths(layer, graph.streams[layer.inputs[0]].dtype)["NB"] <= 24


def tie(layer, graph, acc: int, element) -> bool:
    return False   # integer half-even rounding, as the Quant it replaces: no float rounding


reads = channel_lanes
out_lanes = channel_lanes


def cycles(graph, layer: TV, lanes: dict) -> int:
    h, w, c = graph.streams[layer.inputs[0]].shape
    return (h + 1) * w * c // channel_lanes(graph, layer, lanes[layer.inputs[0]])


# ---- RTL
def emit(b, layer: TV):
    xin = b.streams[b.resolve(layer.inputs[0])]
    h, w, c = xin.shape
    e = math.gcd(b.take_e(layer), c)
    src = b.feed(layer.inputs[0], e, layer.name, 2)
    dst = b.out_link(layer, e)
    wd = widths(layer, xin.dtype)
    nt = len(layer.thresholds)
    tfile = f"t_{sanitize(layer.name)}.mem"
    table = np.asarray(layer.thresholds if nt else [0], np.int64).reshape(-1, 1)   # one word per threshold
    b.plan.mems[tfile] = mem(encode(table, None, wd["SB"]), wd["SB"])
    yt = layer.otype
    b.block("hk_tv", layer.name,
            [("H", h), ("W", w), ("C", c), ("E", e), ("XB", bits(xin.dtype)), ("XS", int(xin.dtype.signed)),
             ("YB", bits(yt)), ("YMIN", int(yt.min)), ("YMAX", int(yt.max)), ("DB", wd["DB"]), ("SB", wd["SB"]),
             ("LB", wd["LB"]), ("NB", wd["NB"]), ("NT", nt), ("W0", int(layer.w0)), ("XSH", layer.xshift),
             ("BSH", layer.bshift), ("SH", layer.shift), ("TFILE", tfile)],
            src, dst, f"{layer.name}: TV step on {h}x{w}x{c}, {nt} thresholds")
    b.info(layer, ["hk_tv"], (h + 1) * w * (c // e))


# ---- cost
STAGES = 10   # pipeline registers of hk_tv.v's datapath
LANE_GLUE = 185   # LUTs per lane beyond the datapath bits: edge masks, carries, table muxes (fit to Yosys)


def square_luts(db: int) -> int:
    """LUT4s of one squarer: hk_tv.v looks a gradient of db <= 6 bits up in a table (about one LUT4 per
    output bit, doubling per input bit past four), wider ones shift-and-add."""
    if db <= 6:
        return (2 * db - 3) * (1 << max(0, db - 4))
    return db * db // 2


def cost(p: dict, family: str, mems: dict) -> Cost:
    """Per lane: 6 subtractors, 6 squarers, 3 adders, 3 x NT comparators, 3 level choices, 4 shift-add
    products by the level, the adjoint sum, the shift-round and clip, plus LUTs of glue (edge masks,
    carries) measured against Yosys synth_ecp5 (tests/test_tv_hw.py); flip-flops: the delay line of 2W
    pixels of E*XB register bits (ECP5 has no shift-register primitive) and each lane's pipeline
    registers as hk_tv.v declares them, less the bits Yosys finds constant."""
    fam = family_key(family)
    w, c, e, xb = (int(p[k]) for k in ("W", "C", "E", "XB"))
    db, sb, lb, nb, nt, yb = (int(p[k]) for k in ("DB", "SB", "LB", "NB", "NT", "YB"))
    cf = c // e
    line = 2 * w * cf * e * xb
    pb = db + lb + 1
    lane = (6 * db + 6 * square_luts(db) + 3 * sb + 3 * nt * sb // 2 + 3 * lb * max(1, nt // 2) + 4 * db * lb
            + 2 * pb + 2 * nb + yb + LANE_GLUE)
    lane_ff = (7 * xb + 22 * db + 6 * (2 * db - 3) + 3 * sb + 3 * nt + 3 * lb + 6 * pb + 2 * (nb + 2) + yb)
    counters = cw(w) + cw(int(p["H"]) + 1) + cw(cf) + 2
    lut = e * lane + 4 * counters + 12
    return Cost(lut=lut * ARITH[fam], ff=line + e * lane_ff + counters + STAGES)


BLOCKS = {"hk_tv": cost}
