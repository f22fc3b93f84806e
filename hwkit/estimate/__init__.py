"""Analytic resource and cycle estimates per HwGraph layer, for a board's FPGA family.

For hwkit's own RTL backend the estimate costs what the generated Verilog instantiates: the RTL plan
(blocks, widths, FIFOs, converters) block by block (:mod:`hwkit.estimate.rtl`,
:mod:`hwkit.estimate.blocks`) plus the UART board top on open-toolchain boards. The HLS backends
(hls4ml, FINN) use a FINN-R style model (:mod:`hwkit.estimate.finnr`).

``lut`` counts logic LUT4/LUT6s as hwkit.tools.yosys does (an ECP5 carry cell as two), ``lutram`` the
LUT RAM primitives (ECP5 TRELLIS_DPR16X4) apart, ``bram`` the board's block units.
"""
from __future__ import annotations

from typing import Optional

from hwkit.estimate.finnr import LayerEstimate, estimate_mvu, estimate_simple, estimate_threshold
from hwkit.estimate.memory import BRAM_SHAPES, bram_blocks

__all__ = ["check_fit", "fits", "needed", "bram_blocks", "LayerEstimate", "BRAM_SHAPES"]

TOTAL_KEYS = ("lut", "ff", "bram", "dsp", "lutram")


def _finnr_rows(graph, board, backend: str) -> list[dict]:
    family, k = board.family, board.resources.lut_inputs
    rows = []

    def visit(layer, streams):
        if layer.kind == "FloatTail":
            return
        ins, outs = streams[layer.inputs[0]], streams[layer.outputs[0]]
        if layer.kind == "MVU":
            # a product with a 1-3 bit operand is a few adds: LUTs; wider ones go to multipliers if the part has them
            w, a = layer.wtype.bits, ins.dtype.bits
            use_dsp = board.resources.dsp > 0 and min(w, a) >= 4 and w + a > 8
            rows.append(estimate_mvu(layer, ins, outs, lut_inputs=k, family=family, backend=backend, use_dsp=use_dsp))
        elif layer.kind == "Threshold":
            rows.append(estimate_threshold(layer, ins, outs, lut_inputs=k, family=family, backend=backend))
        else:
            rows.append(estimate_simple(layer, ins, outs, family=family))

    for layer in graph.layers:
        visit(layer, graph.streams)
    return [r.as_dict() | {"lutram": 0} for r in rows]


def rtl_estimate(graph, board, *, clock_mhz: Optional[float] = None) -> dict:
    """hwkit's own RTL: the generated plan block by block, plus the board top."""
    from hwkit.estimate.rtl import estimate_rtl

    rows, wrapper = estimate_rtl(graph, board, clock_mhz=clock_mhz)
    return _summarize(rows, wrapper, "rtl-plan", board)


def finnr_estimate(graph, board, backend: str) -> dict:
    """The HLS backends: FINN-R style per-layer model."""
    return _summarize(_finnr_rows(graph, board, backend), None, "finn-r", board)


def _summarize(rows: list, wrapper, method: str, board) -> dict:
    parts = rows + ([wrapper] if wrapper else [])
    total = {key: sum(r[key] for r in parts) for key in TOTAL_KEYS}
    total["ii_cycles"] = max((r["cycles"] for r in rows), default=0)
    res = board.resources
    avail = {"lut": res.lut, "ff": res.ff, "bram": res.bram_blocks, "dsp": res.dsp}
    need = needed(total, board.family)
    return {"method": method, "layers": rows, "wrapper": wrapper, "total": total, "available": avail,
            "utilization": {key: (need[key] / avail[key] if avail[key] else None) for key in avail}}


def needed(total: dict, family: str) -> dict:
    """What the part must provide (the one rule, :func:`hwkit.implement.parts.needed`)."""
    from hwkit.implement.parts import needed as _needed

    return _needed(total, family)


FIT_MARGIN = 0.9   # an automatic folding leaves 10 % of every resource for placement and routing


def fits(estimate: dict, board, margin: float = FIT_MARGIN) -> bool:
    """True when the estimate fits ``margin`` of the board (the one fit check, on scaled resources)."""
    from hwkit.errors import DoesNotFitError
    from hwkit.implement.parts import check_fit as _check_fit

    avail = {k: (v * margin if v else v) for k, v in estimate["available"].items()}
    try:
        _check_fit(estimate["total"], board.family, avail, board.name, estimated=True)
    except DoesNotFitError:
        return False
    return True


def check_fit(estimate: dict, board) -> dict:
    """DoesNotFitError naming every resource whose estimate exceeds the board's (the one fit check,
    :func:`hwkit.implement.parts.check_fit`)."""
    from hwkit.implement.parts import check_fit as _check_fit

    return _check_fit(estimate["total"], board.family, estimate["available"], f"{board.name} ({board.part})",
                      estimated=True)
