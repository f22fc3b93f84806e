"""Power-of-two requantization: ``y = clip(round(x * 2**-shift), lo, hi)``, rounding half to even
(ONNX/qonnx ROUND), half up or floor; a Relu folds into ``lo = 0``. Verilog ``hls/rtl/hk_shiftround.v``."""
from __future__ import annotations


import numpy as np

from hwkit.backends.rtl.words import ROUNDING, bits
from hwkit.estimate.memory import Cost, family_key
from hwkit.estimate.plumbing import ARITH
from hwkit.ir.graph import ShiftRound
from hwkit.kinds import pool
from hwkit.kinds.elementwise import cycles, out_lanes, reads  # noqa: F401  (its beat rules)

LAYER = ShiftRound
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False
EXACT_F32 = 1 << 24


def output_range(layer: ShiftRound, streams) -> tuple[int, int]:
    return layer.lo, layer.hi


def output_type(layer: ShiftRound, streams, max_acc_bits: int = 32):
    return streams[layer.outputs[0]].dtype   # chosen by the quantizer it implements


def check(layer, streams, producer) -> str | None:
    return None


def shift_round(layer: ShiftRound, x: np.ndarray, prescaled: bool = False, inplace: bool = False) -> np.ndarray:
    """``prescaled``: x already holds x * 2**-shift (float lane); ``inplace``: x may be overwritten."""
    s = layer.shift
    if x.dtype.kind == "f":  # exact: x is an integer below 2**24, scaling by 2**-s is exact
        if prescaled:
            y = x if inplace else x.copy()
        else:
            y = np.multiply(x, x.dtype.type(2.0 ** -s), out=x if inplace else None)
        if s > 0:
            if layer.rounding == "half_even":
                np.rint(y, out=y)
            else:
                if layer.rounding != "floor":
                    y += 0.5  # exact: float_lane checks |x| + 2**(s-1) < 2**24
                np.floor(y, out=y)
        return np.clip(y, layer.lo, layer.hi, out=y)  # one pass; np.maximum+np.minimum were 3x slower
    if s <= 0:
        y = x << (-s)
    else:
        if layer.rounding == "floor":
            y = x >> s
        else:
            half = 1 << (s - 1)
            if layer.rounding == "half_even":
                # floor((x + half - 1 + lsb(x >> s)) / 2**s): ties go to the even neighbour
                y = (x + (half - 1) + ((x >> s) & 1)) >> s
            else:
                y = (x + half) >> s
    return np.clip(y, layer.lo, layer.hi)


def execute(layer: ShiftRound, ins, run) -> np.ndarray:
    """With the schedule's rewrites (hwkit.sim.schedule): a max Pool may run first, the input may
    come prescaled by the MVU before it, and a fresh input may be rounded in place."""
    sch = run.schedule
    first = sch.pool_first.get(layer.name)
    x = ins[0] if first is None else pool.pool(first, ins[0], run.in_type)
    return shift_round(layer, x, layer.name in sch.prescaled, layer.name in sch.inplace)


def float_lane(layer: ShiftRound, graph) -> bool:
    """2**-shift must stay a normal float32, and a half-up rounding's added half must stay exact."""
    t = graph.streams[layer.inputs[0]].dtype
    ok = abs(layer.shift) <= 100
    if layer.rounding == "half_up" and layer.shift > 0:  # floor(x * 2**-s + 0.5) adds a half
        ok = ok and max(abs(t.min), abs(t.max)) + (1 << (layer.shift - 1)) < EXACT_F32
    return ok


def tie(layer: ShiftRound, graph, acc: int, element) -> bool:
    """The discarded bits are exactly one half."""
    return layer.shift > 0 and (acc & ((1 << layer.shift) - 1)) == 1 << (layer.shift - 1)


def emit(b, layer: ShiftRound):
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    src = b.feed(layer.inputs[0], b.take_e(layer), layer.name, 2)
    dst = b.out_link(layer, src.e)
    b.block("hk_shiftround", layer.name,
            [("E", src.e), ("IB", bits(xin.dtype)), ("IS", int(xin.dtype.signed)), ("SHIFT", layer.shift),
             ("RMODE", ROUNDING[layer.rounding]), ("LO", layer.lo), ("HI", layer.hi), ("OB", bits(yt))],
            src, dst, f"{layer.name}: round(x / 2**{layer.shift}) in [{layer.lo}, {layer.hi}]")
    b.info(layer, ["hk_shiftround"], src.beats)


def cost(p: dict, family: str, mems: dict) -> Cost:
    """Registers: the quotient and round bit, the rounded value (hk_shiftround's YW bits; the input
    bits when SHIFT <= 0, whose low bits are constant), the output. LUTs: the increment and the two
    compares of the clip scale with the rounded value's bits, the output select with OB. Fitted to four
    synth_ecp5 points (tests/fixtures/estimate_yosys_blocks.json, E 1-8, IB 12-24, SHIFT -1..12)."""
    fam = family_key(family)
    e, ib, shift, ob = int(p["E"]), int(p["IB"]), int(p["SHIFT"]), int(p["OB"])
    q = max(1, ib - shift)                 # significant bits after the shift
    yw = max(2, ib - shift + 2) if shift > 0 else ib
    ff = e * (q + 1 + ob + yw) + 2
    per = 2.5 * yw + ob - 5 if shift > 0 else yw / 4 + ob
    return Cost(lut=e * per * ARITH[fam], ff=ff)


BLOCKS = {"hk_shiftround": cost}
