"""Where a design's block RAMs go: every memory of the RTL plan at the folding ``hwkit build`` picks,
against what its bits alone need. Analysis only (the estimate's own rules, no tools).

    python benchmarks/bram_budget.py build/bnn/cnv_2w2a.onnx [--board ulx3s]
"""
from __future__ import annotations

import argparse
import math

from hwkit.backends import get_backend
from hwkit.backends.rtl.plan import build_plan
from hwkit.boards import load_board
from hwkit.estimate.blocks import block_cost
from hwkit.estimate.memory import bram_blocks, family_key, memory_cost
from hwkit.errors import DoesNotFitError
from hwkit.ir.folding import fold, folding_of, reachable_cycles
from hwkit.ir.lower import lower
from hwkit.kinds.mvu import stored_table

BLOCK_BITS = 18432


def mvu_split(p: dict, fam: str) -> tuple[int, int, int, int]:
    """(weight table blocks, its bits, input-buffer blocks, table depth x width as an int pair packed)"""
    mw, mh, pe, simd, wb, xb = (int(p[k]) for k in ("MW", "MH", "PE", "SIMD", "WB", "XB"))
    depth, width = (mw // simd) * (mh // pe), pe * simd * wb
    table = bram_blocks(*stored_table(p), fam) if int(p["BLOCK"]) else 0
    return table, depth * width, memory_cost(mw // simd, simd * xb, fam).bram, (depth, width)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--board", default="ulx3s")
    a = ap.parse_args()
    board = load_board(a.board)
    fam = family_key(board.family)
    graph = lower(a.model)
    try:   # the folding `hwkit build` picks; a design it refuses: the slowest folding, the one the refusal names
        g = get_backend("rtl").fold(graph, board, None)
    except DoesNotFitError as err:
        g = fold(graph, target_cycles=reachable_cycles(graph)[-1], family=board.family)
        print(f"{err}\n(below: that slowest folding)\n")
    plan = build_plan(g, folding=folding_of(g), family=board.family)
    rows, sums = [], {"weights": 0, "ideal16": 0, "ideal18": 0, "buffers": 0, "windows": 0,
                      "thresholds": 0, "fifos": 0, "other": 0}
    for inst in plan.insts:
        p = dict(inst.params)
        blocks = block_cost(inst.module, inst.params, fam, plan.mems).bram
        if inst.module == "hk_mvu":
            table, bits, buf, (d, w) = mvu_split(p, fam)
            sums["weights"] += table
            sums["ideal16"] += math.ceil(bits / 16384)
            sums["ideal18"] += math.ceil(bits / BLOCK_BITS)
            sums["buffers"] += blocks - table
            rows.append(f"| {inst.name[2:]} | {p['MH']}x{p['MW']} | {p['PE']}x{p['SIMD']} | {d} x {w} | {table} | "
                        f"{math.ceil(bits / 16384)} | {math.ceil(bits / BLOCK_BITS)} | {blocks - table} |")
        elif inst.module == "hk_swg":
            sums["windows"] += blocks   # hk_swg's line buffer (ROWS image rows)
        elif inst.module in ("hk_thresh", "hk_thresh_sel"):
            sums["thresholds"] += blocks
        elif inst.module == "hk_fifo":
            sums["fifos"] += blocks
        else:
            sums["other"] += blocks
    print("| MVU | MH x MW | PE x SIMD | table depth x width | DP16KD | bits/16 Kbit | bits/18 Kbit | input buffer |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    total = sum(v for k, v in sums.items() if k not in ("ideal16", "ideal18"))
    print(f"\ncore total {total} DP16KD (+ the board top's): {sums}; the part has {board.resources.bram_blocks}")


if __name__ == "__main__":
    main()
