"""Multi-threshold activation with one table per run-time precision (any-precision networks): at
precision k, ``y = base + sum_n (x >= T[p(k), c, n])`` with p(k) the index of k in ``precisions``.
Each precision's bias and requantization fold into its table (hwkit.ir.anyprec). Tables with fewer
levels are padded with a threshold above every input (never reached). Verilog
``hls/rtl/hk_thresh_sel.v``: hk_thresh's comparators, the table address offset by the precision."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import Folding, Layer, Threshold, derived
from hwkit.kinds import threshold as _thr
from hwkit.kinds import mvu_bp_rtl as _rtl
from hwkit.kinds.elementwise import cycles, out_lanes, reads  # noqa: F401  (its beat rules)


@dataclass(frozen=True, eq=False)
class PrecisionThreshold(Layer):
    """``thresholds`` (P, C, N): one ascending table per entry of ``precisions``."""

    thresholds: np.ndarray = None
    precisions: tuple[int, ...] = ()
    base: int = 0
    folding: Folding = field(default_factory=Folding)


LAYER = PrecisionThreshold
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False
PRECISION_BITS = _rtl.PB   # the plan feeds it a precision tag per sample (hls/rtl/hk_prec_src.v)


def table(layer: PrecisionThreshold, k: int) -> Threshold:
    """The plain Threshold layer the graph is at precision k (kept on the frozen layer)."""
    if k not in layer.precisions:
        raise ConfigError(f"layer '{layer.name}' serves precisions {list(layer.precisions)}, not {k}")
    subs = derived(layer).setdefault("tables", {})
    if k not in subs:
        subs[k] = Threshold(layer.name, layer.inputs, layer.outputs,
                            thresholds=layer.thresholds[layer.precisions.index(k)], base=layer.base,
                            folding=layer.folding)
    return subs[k]


def output_range(layer: PrecisionThreshold, streams) -> tuple[int, int]:
    return layer.base, layer.base + int(layer.thresholds.shape[2])


def output_type(layer: PrecisionThreshold, streams, max_acc_bits: int = 32):
    return streams[layer.outputs[0]].dtype


def check(layer: PrecisionThreshold, streams, producer) -> str | None:
    t = layer.thresholds
    if t.ndim != 3 or t.shape[0] != len(layer.precisions):
        return f"layer '{layer.name}' needs one (C, N) table per precision, got thresholds of shape {t.shape}"
    if streams[layer.outputs[0]].dtype.bipolar:
        return f"layer '{layer.name}' (PrecisionThreshold) does not drive a bipolar stream"
    if np.any(np.diff(t, axis=2) < 0):
        return f"layer '{layer.name}' has a threshold table that is not ascending"
    c = streams[layer.inputs[0]].channels
    if t.shape[1] not in (1, c) or c % layer.folding.pe:
        return f"layer '{layer.name}' tables of {t.shape[1]} rows or PE={layer.folding.pe} do not fit {c} channels"
    return None


def execute(layer: PrecisionThreshold, ins, run) -> np.ndarray:
    k = run.precision if run.precision is not None else max(layer.precisions)
    return _thr.execute(table(layer, k), ins, run)


def float_lane(layer: PrecisionThreshold, graph) -> bool:
    return int(np.abs(layer.thresholds).max(initial=0)) < (1 << 24) // 4


def tie(layer, graph, acc: int, element) -> None:
    return None   # the boundaries of each precision are not kept on the merged graph


def emit(b, layer: PrecisionThreshold):
    _rtl.emit_thresholds(b, layer)


BLOCKS = {"hk_thresh_sel": _rtl.thresh_sel_cost}
