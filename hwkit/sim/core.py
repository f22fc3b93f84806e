"""The golden simulator: exact integer execution of an HwGraph, batched and vectorized.

Each layer runs its kind's ``execute`` (:mod:`hwkit.kinds`). MVUs run as float32 matrix products
when every partial sum provably stays below 2**24, float64 below 2**53 (integers are exact there, in
any summation order), else as int64 products; a graph whose streams and sums all fit 24 bits runs
entirely on float32 values that are integers. Without a trace, hwkit.sim.schedule fuses neighbours
whose intermediate stream nobody else reads (a convolution never materializes its im2col:
hwkit.kinds.mvu_conv); with ``trace=True`` every layer runs on its own."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import HwGraph, derived
from hwkit.ir.types import IntType
from hwkit.kinds import kind_of
from hwkit.kinds.mvu_conv import Arena
from hwkit.sim.schedule import Schedule, schedule


@dataclass
class Run:
    """What a kind's ``execute`` may use besides its inputs: the types of its first input and its
    output, the schedule's rewrites, and the graph's scratch arena."""

    graph: HwGraph
    schedule: Schedule
    arena: Arena
    in_type: IntType = None
    out_type: IntType = None
    precision: int | None = None   # the run-time weight precision of any-precision kinds (hwkit.kinds.mvu_bp)


@dataclass
class SimResult:
    outputs: dict  # integer output stream -> int64 array (N, *shape)
    trace: dict | None = None  # layer name -> its output array
    float_outputs: dict = field(default_factory=dict)  # FloatTail output name -> float64 array


def _float_lane(graph: HwGraph) -> bool:
    """True when the whole graph can run on float32 values that are integers: every stream fits
    24 bits and every layer's kind says float32 is exact for it (scaling by powers of two,
    comparisons, max and round/floor are then exact too)."""
    cache = derived(graph)  # the graph is frozen: computed once per graph object
    if "float_lane" not in cache:
        cache["float_lane"] = all(st.dtype.bits <= 24 for st in graph.streams.values()) and \
            all(kind_of(layer).float_lane(layer, graph) for layer in graph.hardware_layers())
    return cache["float_lane"]


def precisions(graph: HwGraph) -> tuple[int, ...]:
    """The run-time precisions every any-precision layer of ``graph`` serves (empty: a fixed graph)."""
    cache = derived(graph)
    if "precisions" not in cache:
        sets = [set(layer.precisions) for layer in graph.layers if hasattr(layer, "precisions")]
        cache["precisions"] = tuple(sorted(set.intersection(*sets))) if sets else ()
    return cache["precisions"]


def _steps(graph: HwGraph, trace: bool, float_lane: bool, precision: int | None = None) -> tuple[Schedule, list]:
    """The schedule and (layer, kind module, Run) per layer, looked up once per graph: a batch of a
    small MLP takes microseconds per layer, so per-call lookups would show. A trace runs every layer
    on its own (an empty schedule: every stream is shown)."""
    cache = derived(graph)
    key = ("steps", trace, float_lane, precision)
    if key not in cache:
        sch = Schedule() if trace else schedule(graph, float_lane)
        arena = cache.setdefault("arena", Arena())
        steps = []
        for layer in graph.layers:
            kind = kind_of(layer)
            types = (graph.streams[layer.inputs[0]].dtype, graph.streams[layer.outputs[0]].dtype) \
                if kind.HARDWARE else (None, None)
            steps.append((layer, kind, Run(graph, sch, arena, *types, precision)))
        cache[key] = (sch, steps)
    return cache[key]


def simulate(graph: HwGraph, x_int, trace: bool = False, precision: int | None = None) -> SimResult:
    """Run ``graph`` on integer inputs ``x_int`` (N, *input_stream_shape), channels-last.
    ``precision``: the run-time weight precision of an any-precision graph (default: its highest)."""
    served = precisions(graph)
    if precision is not None and precision not in served:
        raise ConfigError(f"graph '{graph.name}' serves precisions {list(served) or 'none (it is fixed)'}, "
                          f"not {precision}")
    precision = precision if precision is not None else (served[-1] if served else None)
    x = np.asarray(x_int)
    src = graph.streams[graph.inputs[0]]
    if x.shape[1:] != tuple(src.shape):
        if x.shape == tuple(src.shape):
            x = x[None]
        else:
            raise ConfigError(f"inputs of shape {x.shape} do not match input stream {graph.inputs[0]} "
                              f"(N, {', '.join(map(str, src.shape))})")
    if x.dtype.kind not in "iu":
        if not np.all(x == np.round(x)):
            raise ConfigError("golden inputs must be integers on the input grid (use hwkit.ir.quantize_input)")
    x = x.astype(np.int64)
    if not src.dtype.contains(x):
        raise ConfigError(f"inputs outside the input type {src.dtype} [{src.dtype.min}, {src.dtype.max}]")
    if _float_lane(graph):
        x = x.astype(np.float32)
    vals = {graph.inputs[0]: x}
    tr = {} if trace else None
    floats = {}
    sch, steps = _steps(graph, trace, x.dtype == np.float32, precision)
    for layer, kind, run in steps:
        ins = [vals[s] for s in layer.inputs]
        if not kind.HARDWARE:
            floats[layer.outputs[0]] = kind.execute(layer, ins, run)
            continue
        y = ins[0] if layer.name in sch.through else kind.execute(layer, ins, run)  # through: done by a neighbour
        vals[layer.outputs[0]] = y
        if trace:
            tr[layer.name] = y.astype(np.int64) if y.dtype != np.int64 else y
    return SimResult({o: vals[o].astype(np.int64) for o in graph.outputs}, tr, floats)
