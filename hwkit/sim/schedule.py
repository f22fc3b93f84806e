"""Which layers the simulator may fuse or reorder when no trace is asked for.

Every rewrite here gives the same graph outputs bit for bit; it only skips materializing streams
that exactly one layer reads and that are not graph outputs:
- a SlidingWindow feeding one MVU: the MVU unrolls the window chunk by chunk (hwkit.kinds.mvu_conv);
- an MVU read only by a ShiftRound (float32 lane): the MVU multiplies by 2**-shift with its weights
  and bias (a power-of-two scale of integers below 2**24 is exact in float32), so the ShiftRound
  only rounds and clips;
- a ShiftRound read only by an unpadded max Pool: the Pool runs first. ShiftRound is a non-decreasing
  function (scale by a positive power of two, round, clip), and max(f(a), f(b)) = f(max(a, b)) for
  any non-decreasing f, so rounding the pooled values is exact and touches kh*kw times fewer;
- a ShiftRound may round in place when its input is a fresh array nobody else reads (an MVU's
  or Add's result read only by it, or the Pool it runs first)."""
from __future__ import annotations

from dataclasses import dataclass, field

from hwkit.ir.graph import MVU, Add, HwGraph, Pool, ShiftRound, SlidingWindow, derived
from hwkit.kinds.mvu_conv import fusable


@dataclass
class Schedule:
    fused: dict = field(default_factory=dict)  # MVU name -> the SlidingWindow it unrolls itself
    through: set = field(default_factory=set)  # layers whose output is their input (work done elsewhere)
    prescale: dict = field(default_factory=dict)  # MVU name -> shift its output is already scaled by
    prescaled: set = field(default_factory=set)  # ShiftRound names whose input is already scaled
    pool_first: dict = field(default_factory=dict)  # ShiftRound name -> max Pool to run before it
    inplace: set = field(default_factory=set)  # ShiftRound names that may overwrite their input


def schedule(graph: HwGraph, float_lane: bool) -> Schedule:
    cache = derived(graph)  # the graph is frozen: its schedule never changes
    if ("schedule", float_lane) in cache:
        return cache[("schedule", float_lane)]
    readers: dict = {}
    for layer in graph.layers:
        for s in layer.inputs:
            readers.setdefault(s, []).append(layer)
    sch = Schedule()
    owned = {s for s, r in readers.items() if len(r) == 1 and s not in graph.outputs}
    producer = {s: layer for layer in graph.layers for s in layer.outputs}

    def sole_reader(layer):
        out = layer.outputs[0]
        return readers[out][0] if out in owned and readers[out][0].inputs[0] == out else None

    for layer in graph.layers:
        nxt = sole_reader(layer)
        if isinstance(layer, SlidingWindow) and isinstance(nxt, MVU) and len(nxt.inputs) == 1 \
                and fusable(layer, nxt, graph.streams[layer.outputs[0]].dtype):
            sch.fused[nxt.name] = layer
            sch.through.add(layer.name)
        if isinstance(layer, ShiftRound) and isinstance(nxt, Pool) and nxt.mode == "max" and not any(nxt.pad):
            sch.pool_first[layer.name] = nxt
            sch.through.add(nxt.name)
            sch.inplace.add(layer.name)
        src = producer.get(layer.inputs[0])
        from_mvu = isinstance(src, MVU) and layer.inputs[0] in owned
        if isinstance(layer, ShiftRound) and isinstance(src, (MVU, Add)) and layer.inputs[0] in owned:
            sch.inplace.add(layer.name)  # MVU and Add results are fresh arrays
        if float_lane and isinstance(layer, ShiftRound) and 0 < layer.shift <= 64 and from_mvu:
            sch.prescale[producer[layer.inputs[0]].name] = layer.shift
            sch.prescaled.add(layer.name)
    cache[("schedule", float_lane)] = sch
    return sch
