"""Typed results of the build stages, stored as the ``result`` of each ``stage.json``.

Each record is a small dataclass with a ``schema_version``; a stage returns ``record.to_dict()`` and
hwkit.report reads it back with ``Record.from_dict`` (unknown keys ignored, missing keys default), so
the writer and the reader of a fact share one definition.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

SCHEMA_VERSION = 1


class _Record:
    def to_dict(self) -> dict:
        return asdict(self) | {"schema_version": SCHEMA_VERSION}

    @classmethod
    def from_dict(cls, d: Optional[dict]):
        d = d or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Clock(_Record):
    """The one clock record: what the build asked for, what the hardware runs at, and why."""

    requested_mhz: float
    achieved_mhz: float
    source: str  # config | board default | PLL | oscillator | timing re-closure
    pll: bool = False

    @classmethod
    def requested(cls, config, board) -> "Clock":
        """The clock a build asks for: its config's, else the board's default."""
        if config.clock_mhz:
            return cls(float(config.clock_mhz), float(config.clock_mhz), "config")
        return cls(float(board.clock_mhz), float(board.clock_mhz), "board default")


@dataclass
class ExportRecord(_Record):
    model: str = ""
    source: str = ""
    sha256: str = ""
    qonnx: str = ""
    inputs: dict = field(default_factory=dict)  # every input file -> sha256 (keys the stage)
    recorded_test_accuracy: Optional[float] = None
    input_format: Optional[dict] = None  # the input quantizer hwkit put in (hwkit.ir.input_format), None if none
    summary: str = ""


@dataclass
class LowerRecord(_Record):
    layers: int = 0
    folding: dict = field(default_factory=dict)
    target_cycles: Optional[int] = None
    graph_files: list = field(default_factory=list)
    clock: Optional[dict] = None
    summary: str = ""


@dataclass
class GoldenRecord(_Record):
    test_samples: int = 0
    cosim_vectors: int = 0  # golden.npz holds the test set then this many random grid vectors in all
    accuracy_software: Optional[float] = None
    accuracy_golden: Optional[float] = None
    prediction_agreement: Optional[float] = None
    ii_cycles: Optional[int] = None
    latency_cycles: Optional[int] = None
    layer_cycles: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # the test data: hwkit.data.Samples.record() (kind, name, sha256, count)
    # float-input models: quantized-input outputs vs the original's float outputs (hwkit.ir.input_format)
    input_quantization: Optional[dict] = None
    summary: str = ""


@dataclass
class EstimateRecord(_Record):
    method: str = ""
    layers: list = field(default_factory=list)
    wrapper: Optional[dict] = None
    total: dict = field(default_factory=dict)
    available: dict = field(default_factory=dict)
    utilization: dict = field(default_factory=dict)
    summary: str = ""


@dataclass
class GenerateRecord(_Record):
    top: Optional[str] = None
    files: int = 0
    folding: dict = field(default_factory=dict)
    ii_cycles: Optional[int] = None
    fifo_sizing: Optional[dict] = None   # hwkit.backends.rtl.fifos.FifoSizing when sized by simulation
    detail: dict = field(default_factory=dict)
    summary: str = ""


@dataclass
class CosimRecord(_Record):
    bit_exact: Optional[bool] = None
    mismatches: Optional[int] = None
    vectors: int = 0
    test_vectors: int = 0
    reference: str = "hwkit.sim (golden)"
    simulator: str = ""
    accuracy_hw_sim: Optional[float] = None
    ii_cycles: Optional[int] = None
    latency_cycles: Optional[int] = None
    samples_per_s: Optional[float] = None
    first_mismatch: Optional[str] = None
    detail: dict = field(default_factory=dict)
    summary: str = ""


@dataclass
class SynthRecord(_Record):
    tool: str = ""
    top: str = ""
    netlist: Optional[str] = None
    total: Optional[dict] = None
    lutram: Optional[int] = None
    layers: dict = field(default_factory=dict)  # HwGraph layer -> {lut, ff, bram, dsp} from yosys stat
    fit: Optional[dict] = None
    nodsp: bool = False
    clock: Optional[dict] = None
    notes: list = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    summary: str = ""


@dataclass
class RouteRecord(_Record):
    fmax_mhz: Optional[float] = None
    fmax_by_clock: dict = field(default_factory=dict)
    timing_met: Optional[bool] = None
    utilization: dict = field(default_factory=dict)
    routed: str = ""
    warnings: list = field(default_factory=list)
    clock: Optional[dict] = None
    notes: list = field(default_factory=list)
    summary: str = ""


@dataclass
class BitstreamRecord(_Record):
    bitstream: str = ""
    bytes: int = 0
    sha256: str = ""
    summary: str = ""
