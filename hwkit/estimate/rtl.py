"""Estimate of what hwkit's RTL backend instantiates: the same plan the generator renders
(:func:`hwkit.backends.rtl.plan.build_plan`), costed block by block (:mod:`hwkit.estimate.blocks`),
plus the UART board top that open-toolchain builds synthesize around the core.

Converters, forks and FIFOs in front of a layer count towards that layer; the core's input and output
FIFOs and the board top are the ``wrapper`` row, part of the total but not of any layer.
"""
from __future__ import annotations

from typing import Optional

from hwkit.estimate.blocks import block_cost, board_top
from hwkit.estimate.memory import Cost, family_key
from hwkit.implement.wrapper import DEFAULT_BAUD

KEYS = ("lut", "ff", "bram", "lutram", "dsp")


def plan_for(graph, family: str = "ecp5"):
    """The RTL plan with the folding the graph carries (what the build's generate stage renders)."""
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.ir.folding import folding_of

    return build_plan(graph, folding=folding_of(graph), family=family)


def attribute(plan) -> tuple[dict, list]:
    """{layer name: [instances]} in plan order, and the instances of no layer (core input/output FIFOs).

    The plan adds a layer's feed (fork, converter, FIFO) right before the layer's own block, so every
    instance up to a layer's block belongs to it."""
    owned: dict = {info.name: [] for info in plan.layers}
    mains = {info.main: info.name for info in plan.layers}
    pending, spare = [], []
    for inst in plan.insts:
        if inst.name in ("u_fifo_in", "u_fifo_out"):
            spare.append(inst)
        elif inst.name in mains:
            owned[mains[inst.name]] += pending + [inst]
            pending = []
        else:
            pending.append(inst)
    return owned, spare + pending


def _board_units(cost: Cost, fam: str) -> dict:
    """Block RAM in the board's units: Xilinx boards count 36 Kb blocks, the costs RAMB18 halves."""
    d = cost.as_dict()
    if fam == "xilinx":
        d["bram"] = d["bram"] / 2
    return d


def wrapper_params(plan, clock_mhz: float) -> dict:
    return {"CLK_HZ": int(round(clock_mhz * 1e6)), "BAUD": DEFAULT_BAUD, "IN_BITS": plan.input.bits,
            "IN_EPB": plan.input.e, "IN_BEATS": plan.input.beats, "OUT_BITS": plan.output.bits,
            "OUT_EPB": plan.output.e, "OUT_BEATS": plan.output.beats}


def estimate_rtl(graph, board, *, clock_mhz: Optional[float] = None) -> tuple[list, dict]:
    """(layer rows, wrapper row) for the RTL backend on ``board``; rows are plain dicts with the keys of
    :class:`hwkit.estimate.LayerEstimate` plus ``lutram``."""
    fam = family_key(board.family)
    plan = plan_for(graph, board.family)
    owned, spare = attribute(plan)
    streams = graph.streams
    by_name = {layer.name: layer for layer in graph.layers}
    rows = []
    for info in plan.layers:
        cost = Cost()
        for inst in owned[info.name]:
            cost += block_cost(inst.module, inst.params, fam, plan.mems)
        layer = by_name[info.name]
        ins, outs = streams[layer.inputs[0]], streams[layer.outputs[0]]
        wt = getattr(layer, "wtype", None)
        rows.append({"name": info.name, "kind": info.kind, "pe": info.pe or 1, "simd": info.simd or 1,
                     "wbits": wt.bits if wt is not None else 0, "abits": ins.dtype.bits, "obits": outs.dtype.bits,
                     "cycles": info.cycles, **_board_units(cost, fam), "modules": [i.module for i in owned[info.name]]})
    wrap = Cost()
    for inst in spare:
        wrap += block_cost(inst.module, inst.params, fam, plan.mems)
    modules = [i.module for i in spare]
    if board.is_open and fam in ("ecp5", "ice40"):
        wrap += board_top(wrapper_params(plan, clock_mhz or board.clock_mhz), fam)
        modules.append("board_top")
    return rows, {"name": "wrapper", "kind": "Wrapper", **_board_units(wrap, fam), "modules": modules}

