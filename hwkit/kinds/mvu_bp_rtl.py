"""RTL of the any-precision kinds: their plan entries (hk_mvu_bp, hk_thresh_sel, fed precision tags by
hk_prec_src through the plan's ``prec_tags``) and rough cost models (the measured Yosys counts are in
benchmarks/results_anyprec.md)."""
from __future__ import annotations

import numpy as np

from hwkit.backends.rtl.words import bits, encode, mem, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH, cw, rom_style

PB = 4   # bits of the precision tag (k up to 15)


def _tag_ports(b, layer) -> list:
    t = b.prec_tags[layer.name]
    return [("prec_data", f"{t.name}_d"), ("prec_valid", f"{t.name}_v"), ("prec_ready", f"{t.name}_r")]


def _one_pixel(b, layer):
    if b.streams[layer.outputs[0]].pixels != 1:
        raise UnsupportedModelError(f"layer '{layer.name}' ({layer.kind}): any-precision RTL takes one tag per "
                                    f"vector sample (no feature maps)")


def hw_cycles(layer, k: int) -> int:
    """Cycles per sample of hk_mvu_bp at precision k: load SF beats, then per output fold k passes over
    its SF tiles plus 2 cycles of pipeline drain and output handshake (measured in tests/test_anyprec.py)."""
    sf, nf = layer.mw // layer.folding.simd, layer.mh // layer.folding.pe
    return sf + nf * (k * sf + 2)


def emit(b, layer):
    _one_pixel(b, layer)
    pe, simd = layer.folding.pe, layer.folding.simd
    xt = b.streams[b.resolve(layer.inputs[0])].dtype
    yt = b.streams[layer.outputs[0]].dtype
    if xt.bipolar:
        raise UnsupportedModelError(f"layer '{layer.name}' (BitPlaneMVU) does not take a bipolar input")
    nf, sf = layer.mh // pe, layer.mw // simd
    src = b.feed(layer.inputs[0], simd, layer.name, sf + 2)
    dst = b.out_link(layer, pe)
    wb = layer.wtype.bits
    wfile = f"w_{sanitize(layer.name)}.mem"
    tiles = layer.weights.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
    b.plan.mems[wfile] = mem(encode(tiles, layer.wtype, wb), wb)
    block = b.rom_block(nf * sf * pe * simd * wb, nf * sf, pe * simd * wb)
    params = [("MW", layer.mw), ("MH", layer.mh), ("PE", pe), ("SIMD", simd), ("XB", bits(xt)),
              ("XS", int(xt.signed)), ("WB", wb), ("AB", bits(yt)), ("PB", PB), ("WFILE", wfile), ("BLOCK", block)]
    ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
             ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")] + _tag_ports(b, layer)
    b.add("hk_mvu_bp", layer.name, params, ports,
          f"{layer.name}: {layer.mh}x{layer.mw} {layer.wtype} read as the top {list(layer.precisions)} planes x {xt}")
    b.info(layer, ["hk_mvu_bp"], hw_cycles(layer, max(layer.precisions)), pe, simd,
           {"file": wfile, "width": pe * simd * wb, "depth": nf * sf, "block": bool(block), "shared_with": None})


def emit_thresholds(b, layer):
    _one_pixel(b, layer)
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    src = b.feed(layer.inputs[0], b.take_e(layer), layer.name, 2)
    e, c = src.e, xin.channels
    t = layer.thresholds
    if t.shape[1] == 1 and c > 1:
        t = np.repeat(t, c, axis=1)
    p, n = t.shape[0], t.shape[2]
    t = np.clip(t, xin.dtype.min, xin.dtype.max + 1)
    tb = bits(xin.dtype) + 2
    tfile = f"t_{sanitize(layer.name)}.mem"
    b.plan.mems[tfile] = mem(encode(t.reshape(p * (c // e), e * n), None, tb), tb)
    dst = b.out_link(layer, e)
    plist = sum(k << (i * PB) for i, k in enumerate(layer.precisions))
    block = b.rom_block(p * c * n * tb, p * c // e, e * n * tb)
    ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
             ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")] + _tag_ports(b, layer)
    b.add("hk_thresh_sel", layer.name, [("C", c), ("PE", e), ("IB", bits(xin.dtype)), ("IS", int(xin.dtype.signed)),
                                        ("N", n), ("TB", tb), ("OB", bits(yt)), ("BASE", layer.base), ("P", p),
                                        ("PB", PB), ("PLIST", plist), ("TFILE", tfile), ("BLOCK", block)],
          ports, f"{layer.name}: {n} thresholds -> {yt}, one table per precision {list(layer.precisions)}")
    b.info(layer, ["hk_thresh_sel"], c // e, e, 0, {"file": tfile, "width": e * n * tb, "depth": p * c // e,
                                                    "block": bool(block), "shared_with": None})


# ---- rough costs (for the estimator; the report measures with Yosys)
def mvu_bp_cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    mw, mh, pe, simd = (int(p[k]) for k in ("MW", "MH", "PE", "SIMD"))
    xb, wb, ab = int(p["XB"]), int(p["WB"]), int(p["AB"])
    sf, nf = mw // simd, mh // pe
    iw, psw = ab + wb + 2, xb + 2 + clog2(simd + 1)
    # per lane: a mask LUT per input bit in front of the adder tree (psw-bit partial sums); per PE: the
    # Horner shift / negate / add. x 1.13: measured alone (yosys 0.70, ECP5, 64 x 64, PE = SIMD = 8, XB 4
    # and 8: 1,841 and 2,530 LUTs; the model without the masks and with 2 LUTs per IW bit was 38-41 % low)
    lut = 1.13 * (pe * (simd * (psw + xb) + 3 * iw) + simd * xb + 40)
    # synthesis keeps only the AB low bits of each accumulator (the bits above never reach out_data):
    # measured 208 / 272 FFs where PE x IW counted 276 / 340
    ff = pe * ab + cw(sf) + cw(nf) + cw(sf * nf) + simd * xb + 16
    cost = Cost(lut=lut * ARITH[fam], ff=ff)
    cost += memory_cost(sf * nf, pe * simd * wb, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                        image=mems.get(p.get("WFILE")))
    return cost + memory_cost(sf, simd * xb, fam)


def thresh_sel_cost(p: dict, family: str, mems: dict) -> Cost:
    """hk_thresh's comparators plus a table memory P times deeper and the tag-to-table lookup."""
    fam = family_key(family)
    c, pe, ib, n, tb, ob, np_ = (int(p[k]) for k in ("C", "PE", "IB", "N", "TB", "OB", "P"))
    cf = c // pe
    ff = cw(np_ * cf) + cw(cf) + pe * ib + pe * n + pe * ob + 3
    lut = pe * n * (ib + 1) + pe * n + 10 + np_ * (int(p["PB"]) + cw(np_ * cf))
    rom = memory_cost(np_ * cf, pe * n * tb, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                      image=mems.get(p.get("TFILE")))
    return Cost(lut=lut * ARITH[fam], ff=ff) + rom


def prec_src_cost(p: dict, family: str, mems: dict) -> Cost:
    n, pb, depth = int(p["N"]), int(p["PB"]), int(p["DEPTH"])
    return Cost(lut=n * (pb + 2 * cw(depth) + 4) + cw(int(p["BEATS"])) + 4,
                ff=n * (depth * pb + 2 * cw(depth) + 1) + cw(int(p["BEATS"])))
