"""When no folding fits a board: what a design's weights need against what the part can hold, and the
one-line refusal that says so (the rtl backend's fold asks it). Apart from :mod:`hwkit.estimate.memory`
because it reads layer kinds (a K^T unit shares its K's table), which themselves cost memories."""
from __future__ import annotations

import math

from hwkit.estimate.memory import family_key

LUT_ROM_BITS = {"ecp5": 16, "ice40": 16, "xilinx": 64}   # a LUT's truth table: the most ROM bits it can hold


def weight_bits(graph) -> tuple[int, int]:
    """(weights, bits) every folding stores: each matrix or depthwise unit's table once (a K^T unit reads
    its K's memory, hwkit.kinds.mvu.transpose_taps)."""
    from hwkit.kinds.mvu import transpose_taps

    n = bits = 0
    for layer in graph.layers:
        w, wt = getattr(layer, "weights", None), getattr(layer, "wtype", None)
        if w is None or wt is None or transpose_taps(graph.layers, layer) is not None:
            continue
        n += int(w.size)
        bits += int(w.size) * int(wt.bits)
    return n, bits


def _mbit(bits: float) -> str:
    return f"{bits / 1e6:.2f} Mbit" if bits >= 1e6 else f"{int(bits):,} bits"


# what holds a row's block RAMs, by the row's layer kind (hwkit.estimate.rtl rows)
HOLDERS = {"MVU": "weight tables and input buffers", "BitPlaneMVU": "weight tables and input buffers",
           "VVU": "weight tables and input buffers", "SlidingWindow": "window line buffers",
           "Pool": "window line buffers", "Threshold": "threshold tables"}


def no_folding_fits(graph, board, estimate: dict, ii: int):
    """The DoesNotFitError for a ``graph`` at its slowest folding (``ii`` cycles per sample, ``estimate``
    its estimate) that does not fit ``board``; None when it fits. When the weights at their bit width
    hold more bits than every block RAM and every LUT (as a 16-bit ROM) of the part could, that is the
    message: the bounds are the hardware's, so no folding and no memory mapping can do better. Otherwise:
    the over-used resources at the slowest folding, block RAMs by what holds them, and, when the weights
    packed bit-tight plus the memories that hold no weights exceed the part's blocks, that floor (then no
    folding fits while weights stay in block RAM, the other memories taken as at the slowest folding;
    else the claim is only for the foldings tried)."""
    from hwkit.errors import DoesNotFitError
    from hwkit.implement.parts import UNITS, needed

    fam, res = family_key(board.family), board.resources
    part = f"{board.name} ({board.part})"
    units = UNITS.get(board.family, {})
    n, bits = weight_bits(graph)
    ram = int(getattr(res, "bram_bits", 0) or 0) or res.bram_blocks * 18432
    rom = res.lut * LUT_ROM_BITS[fam]
    if bits > ram + rom:
        per = (ram + rom) // max(n, 1)
        fix = (f"use at most {per}-bit weights ({_mbit(n * per)})" if per >= 1 else "use fewer weights") + \
            " or a part with more block RAM"
        return DoesNotFitError(
            f"design does not fit at any folding: its {n:,} weights hold {_mbit(bits)} but {part} has "
            f"{_mbit(ram)} of block RAM ({res.bram_blocks} {units.get('bram', 'blocks')}) and its {res.lut:,} "
            f"{units.get('lut', 'LUTs')} hold at most {_mbit(rom)} more as ROM; {fix}")
    need = needed(estimate["total"], board.family)
    avail = {"lut": res.lut, "ff": res.ff, "bram": res.bram_blocks, "dsp": res.dsp}
    over = [r for r in ("lut", "ff", "bram", "dsp") if avail[r] is not None and need[r] > avail[r]]
    if not over:
        return None
    what = "; ".join(f"{need[r]:,g} {units.get(r, r.upper())} but {part} has {avail[r]:,}" for r in over)
    split, proven = "", False
    if "bram" in over:
        by: dict = {}
        for row in estimate["layers"] + ([estimate["wrapper"]] if estimate.get("wrapper") else []):
            key = HOLDERS.get(row["kind"], "FIFOs and the rest")
            by[key] = by.get(key, 0) + row["bram"]
        split = " (" + ", ".join(f"{k} {v:g}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v) + ")"
        # a floor no packing of the weight tables beats: their bits in full blocks, parity bits included,
        # plus the memories that hold no weights (CNV W2A2: 168 + 21 = 189 <= 208 since the window generators
        # keep rows, not frames: only the foldings tried are claimed; with two frames it was 168 + 57 > 208)
        per_block = ram // max(res.bram_blocks, 1)
        tight = math.ceil(bits / per_block)
        rest = sum(v for k, v in by.items() if k != HOLDERS["MVU"])
        if bits and tight + rest > avail["bram"]:
            proven = True
            split += (f"; its {n:,} weights alone hold {_mbit(bits)}, at least {tight} {units.get('bram', 'blocks')} "
                      f"even packed bit-tight, and its other memories take {rest:g}: {tight + rest:g} > "
                      f"{avail['bram']}")
    return DoesNotFitError(
        f"design does not fit at any folding{'' if proven else ' tried'}: the slowest ({ii:,} cycles per "
        f"sample) is estimated to need {what}{split}; lower the bit widths or pick a bigger part")
