"""One module per layer kind, and the registry that lists them.

A kind's module holds everything hwkit knows about that kind, as plain functions and constants with
the names in :data:`ENTRIES`; the IR's passes, the golden simulator, the cycle model, the RTL plan,
the estimator and the verifier look a layer's kind up here instead of testing its class. Adding a
kind is one new module here (its dataclass subclasses :class:`hwkit.ir.graph.Layer`), one line in
:func:`modules`, and its Verilog in ``hls/rtl``; ``tests/test_kinds.py`` fails when an entry is missing.
"""
from __future__ import annotations

from functools import cache
from types import ModuleType

# entry -> what it is; every kind module defines each (a host-side kind sets the hardware ones to None)
ENTRIES = {
    "LAYER": "the frozen dataclass of the kind",
    "HARDWARE": "True when the kind is built in hardware (False: it runs on the host)",
    "STREAM_ALIAS": "True when the RTL only renames the stream (no block is instantiated)",
    "output_range": "(layer, streams) -> exact [lo, hi] of the output values, or None",
    "output_type": "(layer, streams, max_acc_bits) -> IntType of the output stream (the type rule)",
    "check": "(layer, streams, producer) -> None or why the layer breaks an invariant of its kind",
    "execute": "(layer, inputs, run) -> output array: the golden execution (hwkit.sim.core.Run)",
    "float_lane": "(layer, graph) -> True when float32 integer arithmetic is exact for this layer",
    "reads": "(graph, layer, arriving) -> elements per beat the layer reads its first input with",
    "out_lanes": "(graph, layer, arriving) -> elements per beat of its output stream",
    "cycles": "(graph, layer, lanes) -> cycles per sample",
    "blocks_sample": "True when an output needs the whole input sample first (adds its cycles to latency)",
    "emit": "(builder, layer) -> adds the layer's RTL blocks to an hwkit.backends.rtl.plan builder",
    "BLOCKS": "{Verilog module: (params, family, mems) -> estimate.memory.Cost} for the blocks it emits",
    "tie": "(layer, graph, acc, element) -> True where rounding met an exact tie, None if unknown",
}

@cache
def modules() -> tuple[ModuleType, ...]:
    """The registry, in the order the flow meets the kinds. Imported on first use: the kind modules
    import the IR, whose checks ask this registry, so neither package may need the other loaded."""
    from hwkit.kinds import (add, argmax, concat, float_tail, mvu, pad, pool, reshape, shift_round, sliding_window,
                             threshold, tv, upsample, vvu)
    from hwkit.kinds import mvu_bp, threshold_sel  # any-precision networks (one weight memory, run-time precision)

    return (mvu, vvu, sliding_window, threshold, shift_round, pool, add, reshape, argmax, concat, pad, upsample,
            tv, float_tail, mvu_bp, threshold_sel)


@cache
def _by_class() -> dict:
    return {m.LAYER: m for m in modules()}


def kind_of(layer) -> ModuleType:
    """The module of ``layer``'s kind (KeyError naming the kind when none is registered)."""
    try:
        return _by_class()[type(layer)]
    except KeyError:
        raise KeyError(f"layer kind {type(layer).__name__} is not registered in hwkit.kinds") from None


def by_name(kind: str) -> ModuleType:
    return {m.LAYER.__name__: m for m in modules()}[kind]


def layer_classes() -> tuple[type, ...]:
    return tuple(m.LAYER for m in modules())


def block_costs() -> dict:
    """{Verilog module: cost function} of every kind's own blocks."""
    out: dict = {}
    for m in modules():
        for name, fn in (m.BLOCKS or {}).items():
            if name in out:
                raise KeyError(f"Verilog block {name} is claimed by two layer kinds")
            out[name] = fn
    return out


HOST_ONLY = ("output_range", "output_type", "check", "float_lane", "reads", "out_lanes", "cycles", "emit", "tie")


def missing_entries(module: ModuleType) -> list[str]:
    """Entries of :data:`ENTRIES` that ``module`` lacks (a host-side kind must set each entry of
    :data:`HOST_ONLY` to None, explicitly)."""
    out = [e for e in ENTRIES if not hasattr(module, e)]
    hardware = getattr(module, "HARDWARE", True)
    for e in ENTRIES:
        if e in out or e.isupper() or e == "blocks_sample":
            continue
        value = getattr(module, e)
        if hardware and not callable(value):
            out.append(f"{e} (not callable)")
        if not hardware and e in HOST_ONLY and value is not None:
            out.append(f"{e} (a host-side kind sets it to None)")
    return out
