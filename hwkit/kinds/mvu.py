"""Matrix-vector unit (fully connected, or a convolution after a SlidingWindow): the layer kind that
multiplies. ``acc[o] = sum_i W[o, i] * x[i] + bias[o]`` per pixel; Verilog ``hls/rtl/hk_mvu.v`` (and
``hk_rom_dp.v`` when a K^T unit shares K's weight memory)."""
from __future__ import annotations

import math

import numpy as np

from hwkit.backends.rtl.rom_tiles import Tiling, tile_images, tiling
from hwkit.backends.rtl.words import bits, encode, mem, packed, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost, pack_words, ram_in_bram
from hwkit.estimate.plumbing import ARITH, cw, fifo, rom_style
from hwkit.ir.graph import MVU, SlidingWindow, adjoint_taps, derived
from hwkit.ir.types import IntType
from hwkit.kinds.mvu_conv import conv, pack_shift

LAYER = MVU
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = True   # every output needs the whole input vector
EXACT_F64 = 1 << 53
EXACT_F32 = 1 << 24


# ---- type rule
def output_range(layer: MVU, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    lo, hi = int(t.min), int(t.max)
    W, b = layer.weights, layer.bias if layer.bias is not None else 0
    wmax = int(np.abs(W).max(initial=0)) * W.shape[1] * max(abs(lo), abs(hi)) + int(np.abs(b).max(initial=0))
    if wmax >= 1 << 62:  # python ints: no overflow while sizing
        W, b = W.astype(object), (b.astype(object) if layer.bias is not None else 0)
    pos = np.where(W > 0, W, 0).sum(axis=1)
    neg = np.where(W < 0, W, 0).sum(axis=1)
    return int(np.min(pos * lo + neg * hi + b)), int(np.max(pos * hi + neg * lo + b))


def output_type(layer: MVU, streams, max_acc_bits: int = 32) -> IntType:
    """The accumulator: the MVU's output stream is its accumulator, signed if any sum can be."""
    lo, hi = output_range(layer, streams)
    t = IntType.for_range(min(0, lo), max(0, hi))
    if t.bits > max_acc_bits:
        raise UnsupportedModelError(
            f"layer '{layer.name}' (MVU) needs a {t.bits}-bit accumulator, more than {max_acc_bits}")
    return t


def check(layer: MVU, streams, producer) -> str | None:
    lo, hi = output_range(layer, streams)
    if layer.acc is not None and (lo < layer.acc.min or hi > layer.acc.max):
        return f"layer '{layer.name}' accumulates values in [{lo}, {hi}], outside its accumulator {layer.acc}"
    f = layer.folding
    src = producer.get(layer.inputs[0])
    conv_c = streams[src.inputs[0]].channels if isinstance(src, SlidingWindow) else None
    if layer.mh % f.pe or layer.mw % f.simd or (conv_c and conv_c % f.simd):
        return (f"folding PE={f.pe} SIMD={f.simd} of layer '{layer.name}' does not divide its "
                f"{layer.mh}x{layer.mw} matrix{f' / {conv_c} channels' if conv_c else ''}")
    return None


# ---- golden execution
def sum_bound(layer: MVU, in_type) -> int:
    """The largest |partial sum| in any order: sum of |w| of a row times the largest |x|, plus |bias|."""
    bound = int(np.abs(layer.weights).sum(axis=1).max(initial=0)) * max(abs(in_type.min), abs(in_type.max))
    if layer.bias is not None:
        bound += int(np.abs(layer.bias).max(initial=0))
    return bound


def plan(layer: MVU, in_type) -> dict:
    """The cheapest exact arithmetic: float32 if every partial sum stays below 2**24, float64 below
    2**53 (integers are exact there, in any summation order), else int64. Kept on the frozen layer,
    per input type (the input stream is the graph's, not the layer's)."""
    cache = derived(layer).get(in_type)
    if cache is None:
        cache = derived(layer)[in_type] = {}
        bound = sum_bound(layer, in_type)
        dt = np.float32 if bound < EXACT_F32 else np.float64 if bound < EXACT_F64 else np.int64
        cache["wt"] = np.ascontiguousarray(layer.weights.T.astype(dt))
        cache["dtype"] = dt
        cache["bias"] = None if layer.bias is None else layer.bias.astype(dt)
    return cache


def float_lane(layer: MVU, graph) -> bool:
    return plan(layer, graph.streams[layer.inputs[0]].dtype)["dtype"] == np.float32


def execute(layer: MVU, ins, run) -> np.ndarray:
    """A fused window (``run.schedule.fused``): x is the window's input map and the two layers run
    together (hwkit.kinds.mvu_conv). A prescale shift (float32 lane only): the result comes multiplied by
    2**-shift, exactly, because the weights and bias carry the power-of-two factor."""
    x, in_type = ins[0], run.in_type
    win = run.schedule.fused.get(layer.name)
    shift = run.schedule.prescale.get(layer.name, 0)
    p = plan(layer, in_type)
    wt, bias = p["wt"], p["bias"]
    if shift:
        if p.get("shift") != shift:
            p["shift"], p["wt_s"] = shift, wt * np.float32(2.0 ** -shift)
            p["bias_s"] = None if bias is None else bias * np.float32(2.0 ** -shift)
        wt, bias = p["wt_s"], p["bias_s"]
    if win is not None:
        if "pack" not in p:
            p["pack"] = pack_shift(p["wt"], sum_bound(layer, in_type), max(abs(in_type.min), abs(in_type.max)))
        acc = conv(win, x, wt, bias, p["pack"], 2.0 ** -shift, run.arena)  # bias included
        return acc.astype(np.int64) if x.dtype != np.float32 else acc
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    acc = (x2 if x2.dtype == p["dtype"] else x2.astype(p["dtype"])) @ wt
    if x.dtype != np.float32:  # int64 lane: back to integers
        acc = acc.astype(np.int64)
        if layer.bias is not None:
            acc += layer.bias
    elif bias is not None:
        acc += bias
    return acc.reshape(lead + (wt.shape[1],))


def tie(layer, graph, acc: int, element) -> bool:
    return False   # exact integer arithmetic: no rounding


# ---- cycles
def reads(graph, layer: MVU, arriving: int) -> int:
    return layer.folding.simd


def out_lanes(graph, layer: MVU, arriving: int) -> int:
    return layer.folding.pe


def cycles(graph, layer: MVU, lanes: dict) -> int:
    """FINN's model: pixels * (MH / PE) * (MW / SIMD)."""
    f = layer.folding
    return graph.streams[layer.outputs[0]].pixels * (layer.mh // f.pe) * (layer.mw // f.simd)


# ---- RTL
def transpose_taps(layers, layer) -> int | None:
    """Window taps T when ``layer`` reads its K's weight memory as K^T (see :func:`adjoint_taps`)."""
    if not isinstance(layer, MVU) or layer.transposed_of is None:
        return None
    k = next((l for l in layers if l.name == layer.transposed_of and isinstance(l, MVU)), None)
    if k is None or k.wtype != layer.wtype:
        return None
    return adjoint_taps(k.weights, layer.weights)


def shares(b, layer: MVU) -> tuple[str | None, int]:
    """(K's name, window taps) when this unit reads K's memory as K^T, else (None, 0). A conv K^T
    (ConvTranspose) is K with flipped taps and swapped channels; with K^T's PE = K's SIMD (which
    divides C) and K^T's SIMD = K's PE, each K^T word is one K word with its lanes transposed."""
    taps = transpose_taps(b.layers, layer)
    if taps is None:
        return None, 0
    kpe, ksimd = b.folding[layer.transposed_of]
    if b.folding[layer.name] != (ksimd, kpe):    # the folding pass refuses this; keep plans honest
        raise UnsupportedModelError(f"layer '{layer.name}' reads '{layer.transposed_of}' as K^T but is not "
                                    f"folded PE={ksimd} SIMD={kpe}")
    return layer.transposed_of, taps


def emit(b, layer: MVU):
    pe, simd = b.folding[layer.name]
    xin = b.streams[b.resolve(layer.inputs[0])]
    yt = b.streams[layer.outputs[0]].dtype
    nf, sf = layer.mh // pe, layer.mw // simd
    src = b.feed(layer.inputs[0], simd, layer.name, sf + 2)
    dst = b.out_link(layer, pe)
    xt, wt = xin.dtype, layer.wtype
    wb, ab = bits(wt), bits(yt)
    tag = sanitize(layer.name)
    bias = layer.bias
    bb = ab
    if bias is not None:
        bb = max(ab, IntType.for_range(min(0, int(bias.min())), max(0, int(bias.max()))).bits + 1)
        b.plan.mems[f"b_{tag}.mem"] = mem(encode(bias.reshape(nf, pe), None, bb), bb)
    kname, taps = shares(b, layer)
    partner = next((l for l in b.layers if isinstance(l, MVU) and shares(b, l)[0] == layer.name), None)
    shared = kname is not None or partner is not None
    if kname is not None:
        wfile = f"w_{sanitize(kname)}.mem"
    else:
        wfile = f"w_{tag}.mem"
        tiles = layer.weights.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
        b.plan.mems[wfile] = mem(encode(tiles, wt, wb), wb)
    block = b.rom_block(nf * sf * pe * simd * wb, nf * sf, pe * simd * wb)
    params = [("MW", layer.mw), ("MH", layer.mh), ("PE", pe), ("SIMD", simd),
              ("XB", bits(xt)), ("XS", int(xt.signed and not xt.bipolar)), ("XBIP", int(xt.bipolar)),
              ("WB", wb), ("WS", int(wt.signed and not wt.bipolar)), ("WBIP", int(wt.bipolar)),
              ("AB", ab), ("HAS_BIAS", int(bias is not None)), ("BB", bb),
              ("WFILE", wfile), ("BFILE", f"b_{tag}.mem"), ("BLOCK", block),
              ("TRANSPOSED", int(kname is not None)), ("EXT_ROM", int(shared))]
    if kname is not None:
        params.append(("TAPS", taps))
    if ram_in_bram(sf, simd * bits(xt), b.family):
        params.append(("IBLOCK", 1))
    # an own block-RAM table read in order may store several words per row (hk_mvu PACK)
    pack = pack_words(nf * sf, pe * simd * wb, b.family) if block and not shared else 1
    if pack > 1:
        params.append(("PACK", pack))
        b.plan.mems[wfile] = packed(b.plan.mems[wfile], pe * simd * wb, pack)
    rows, row_bits = -(-nf * sf // pack), pack * pe * simd * wb
    tiles = None if shared or not block else tiling(rows, row_bits, b.family)
    if tiles is not None:   # deeper than one block RAM: one-block tiles, RLAT more read cycles (hk_rom)
        params += tiles.params()
        b.plan.mems.update(tile_images(b.plan.mems[wfile], row_bits, wfile, tiles))
    ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
             ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
             ("out_ready", f"{dst.name}_r")]
    depth = nf * sf
    if shared:
        key = sanitize(kname or layer.name)
        side = "b" if kname is not None else "a"
        ports += [("rom_en", f"rom_{key}_en_{side}"), ("rom_addr", f"rom_{key}_addr_{side}"),
                  ("rom_data", f"rom_{key}_data_{side}")]
        if kname is not None:
            aw = max(1, math.ceil(math.log2(max(depth, 2))))
            b.plan.roms.append((key, aw, pe * simd * wb))
            b.add("hk_rom_dp", f"rom_{key}", [("W", pe * simd * wb), ("DEPTH", depth), ("FILE", wfile),
                                              ("BLOCK", block)],
                  [("clk", "clk"), ("en_a", f"rom_{key}_en_a"), ("addr_a", f"rom_{key}_addr_a"),
                   ("data_a", f"rom_{key}_data_a"), ("en_b", f"rom_{key}_en_b"),
                   ("addr_b", f"rom_{key}_addr_b"), ("data_b", f"rom_{key}_data_b")],
                  f"one weight memory read as {kname} (K) and {layer.name} (K^T"
                  f"{f', {taps} taps flipped' if taps > 1 else ''})")
    else:
        ports += [("rom_en", ""), ("rom_addr", ""), ("rom_data", "0")]
    b.add("hk_mvu", layer.name, params, ports, f"{layer.name}: {layer.mh}x{layer.mw} {wt} x {xt} -> {yt}")
    b.info(layer, ["hk_mvu"], b.streams[layer.outputs[0]].pixels * nf * sf, pe, simd,
           {"file": wfile, "width": pe * simd * wb, "depth": depth, "block": bool(block), "shared_with": kname,
            **({"words_per_row": pack} if pack > 1 else {}),
            **({"tiles": [tiles.banks, tiles.columns], "read_latency": 1 + tiles.latency} if tiles else {})})


# ---- cost
def stored_table(p: dict) -> tuple[int, int]:
    """(rows, bits per row) of an hk_mvu instance's weight table as stored: PACK words per row."""
    pack, depth = int(p.get("PACK", 1)), (int(p["MW"]) // int(p["SIMD"])) * (int(p["MH"]) // int(p["PE"]))
    return -(-depth // pack), pack * int(p["PE"]) * int(p["SIMD"]) * int(p["WB"])


def row_tree_stages(p: dict) -> int:
    """hk_mvu's MLAT: the product stages beyond the first when its LUT products register more than 4
    shift-add rows and sum them in a tree registered every two levels (MTREE), else 0. Mirrors the
    Verilog's localparams; tests/test_rom_tiles.py holds it to the simulated latency."""
    xb, wb = int(p["XB"]), int(p["WB"])
    ns = min(xb, wb)
    if int(p["XBIP"]) or int(p["WBIP"]) or ns <= 4 or not int(p.get("LUTMUL", 1)):
        return 0
    return (clog2(ns) + 1) // 2


def cost(p: dict, family: str, mems: dict) -> Cost:
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
        pbe, prod_lut = 1, 1.2                   # an XNOR lane with its share of the popcount's first level (Yosys)
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
    il = int(p.get("IBLOCK", 0))   # the input buffer's read register, a delayed input, flags and weights
    ff += il * (2 * simd * xb + 5 + wbits)
    if int(p.get("TRANSPOSED", 0)):
        ff += raw + cw(sf // max(1, int(p.get("TAPS", 1))))
    mlat = row_tree_stages(p)
    if mlat:   # hk_mvu's row trees (MTREE): the rows' register, the tree's every second level, flags alongside;
        # as Yosys keeps them: a row the other operand's ob bits, a level-h sum ob + 2^h (at most the
        # product's), not the shifted-in zeros and sign copies
        ns, ob = min(xb, wb), max(xb, wb) + 1
        tree = sum(math.ceil(ns / 2 ** h) * min(pbe, ob + 2 ** h) for h in range(clog2(ns), 0, -2))
        ff += lanes * (ns * ob + tree) + 3 * mlat
    else:
        ff += lanes * pbe                                                 # product registers
    ff += pe * sum(math.ceil(simd / 2 ** lv) * (pbe + lv) for lv in range(1, lat + 1))   # adder tree
    ff += 3 * lat + pe * (ai + ab) + 1 + cw(nf)                          # flags, accumulators, output
    lut = lanes * prod_lut + pe * sum(math.ceil(simd / 2 ** lv) * (pbe + lv) for lv in range(1, lat + 1))
    lut += pe * 2 * ai + simd * xb + 40                                  # accumulate/bias select, input mux
    rlat = 0
    pack = int(p.get("PACK", 1))
    rows, row_bits = stored_table(p)
    if int(p.get("BANKD", 0)) and not int(p.get("EXT_ROM", 0)):   # a tiled table (hk_rom BANKD)
        tiles = Tiling.of(p, rows, row_bits)
        rlat = tiles.latency
        ff += tiles.registers(row_bits) + rlat * (simd * xb + 3)          # + the input and flags delayed
        lut += tiles.mux_luts(row_bits)
    if pack > 1:   # row and lane counters, the lane delayed with the read, the lane multiplexer
        ff += cw(rows) + cw(pack) * (rlat + 2)
        lut += cw(rows) + cw(pack) + wbits * math.ceil(pack / 2)
    oq = lat + rlat + mlat + il + 8                                      # hk_mvu's OQ: the pipeline's depth
    ff += clog2(oq + 1)                                                  # output credits
    # Xilinx: the MVU's adder trees measure 0.77-0.89 of their ECP5 LUT count (ARITH's 0.7 is for counters),
    # and synth_xilinx builds the valid-flag delay line from 2 SRL16E (LUT RAM); benchmarks/results_estimate.md
    xil = fam == "xilinx"
    cost = Cost(lut=lut * (0.8 if xil else ARITH[fam]), ff=ff, lutram=2 if xil else 0)
    cost += fifo({"W": pe * ab, "DEPTH": oq}, fam, mems)
    if not int(p.get("EXT_ROM", 0)):
        cost += memory_cost(rows, row_bits, fam, rom=True, style=rom_style(int(p["BLOCK"])), sync_read=True,
                            image=mems.get(p.get("WFILE")))
    # the input vector, replayed for the other neuron folds (kept even when NF = 1: synthesis cannot
    # prove the fold counter stays 0)
    cost += memory_cost(sf, simd * xb, fam, style="block" if il else "auto")
    if int(p.get("HAS_BIAS", 0)):
        cost += memory_cost(nf, pe * bb, fam, rom=True, image=mems.get(p.get("BFILE")))
    return cost


BLOCKS = {"hk_mvu": cost}
