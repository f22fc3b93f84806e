"""Cosimulation: the generated ``hwkit_core`` in Verilator against the golden simulator.

All samples stream through one simulator run (files in, files out), so 10,000+ vectors take
seconds. The compiled simulator is cached by the Verilog sources only: the weight images are read
at run time from the core directory, so retraining a model of the same shape does not recompile.
Cycle counts come from the same run: II is the distance between the first output beats of
consecutive samples; latency runs from a sample's first input beat to its last output beat.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.backends.rtl.stream import TESTBENCH, decode, encode, run_stream
from hwkit.errors import ConfigError


@dataclass
class CosimResult:
    outputs: dict                 # stream name -> int64 (N, *shape) from the RTL
    n: int
    mismatches: Optional[int]     # vs golden (None when no golden was given)
    report: object = None         # hwkit.verify.VerifyReport when available
    ii_measured: int = 0          # steady-state cycles between samples (no stalls)
    ii_min: int = 0
    ii_max: int = 0
    ii_model: int = 0
    latency_cycles: int = 0       # first input beat -> last output beat, first sample
    cycles_total: int = 0
    seconds_build: float = 0.0
    seconds_run: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.n / self.seconds_run if self.seconds_run else 0.0

    def as_dict(self) -> dict:
        return {"n": self.n, "mismatches": self.mismatches, "ii_measured": self.ii_measured, "ii_min": self.ii_min,
                "ii_max": self.ii_max, "ii_model": self.ii_model, "latency_cycles": self.latency_cycles,
                "cycles_total": self.cycles_total, "seconds_build": round(self.seconds_build, 2),
                "seconds_run": round(self.seconds_run, 2), "samples_per_second": round(self.samples_per_second, 1),
                **self.extra}


def build_simulator(core_dir: Path, cache_dir: Optional[Path] = None, defines=(), trace: bool = False) -> Path:
    from hwkit.tools import verilator

    core_dir = Path(core_dir)
    desc = json.loads((core_dir / "core.json").read_text())
    sources = [core_dir / f for f in desc["files"]["verilog"]]
    return verilator.build(sources, TESTBENCH, "hwkit_core", cache_dir or verilator.default_cache_dir(),
                           defines=defines, trace=trace)


def run_core(core_dir: Path, x_int: np.ndarray, *, exe: Optional[Path] = None, stall_in: int = 0,
             stall_out: int = 0, seed: int = 0) -> tuple[np.ndarray, object, dict]:
    """Stream integer samples (N, *input shape) through the core; returns (outputs (N, *out shape),
    the raw StreamRun, core.json)."""
    core_dir = Path(core_dir)
    desc = json.loads((core_dir / "core.json").read_text())
    exe = exe or build_simulator(core_dir)
    i, o = desc["in"], desc["out"]
    x = np.asarray(x_int, dtype=np.int64)
    if tuple(x.shape[1:]) != tuple(i["shape"]):
        raise ConfigError(f"cosim inputs of shape {x.shape[1:]} do not match the core input {tuple(i['shape'])}")
    n = x.shape[0]
    codes = encode(x.reshape(n * i["beats_per_sample"], i["elems_per_beat"]), i["bits"], i["bipolar"])
    # a deadlocked design must end: allow 8x the expected cycles (more when stalls are injected)
    slow = 100 / max(1, 100 - max(stall_in, stall_out))
    max_cycles = int((n + 16) * desc["ii_cycles"] * 8 * slow) + 200_000
    run = run_stream(exe, codes, i["bits"], n * o["beats_per_sample"], o["elems_per_beat"], o["bits"], core_dir,
                     stall_in=stall_in, stall_out=stall_out, seed=seed, max_cycles=max_cycles)
    y = decode(run.out_codes, o["bits"], o["signed"], o["bipolar"]).reshape((n,) + tuple(o["shape"]))
    return y, run, desc


def cosimulate(graph, x_int: np.ndarray, core_dir: Path, *, golden: Optional[dict] = None, stall_in: int = 0,
               stall_out: int = 0, seed: int = 0, generate_first: bool = False, **gen_options) -> CosimResult:
    """Run ``x_int`` through the RTL core in ``core_dir`` (generated first if asked or missing) and
    compare with the golden simulator (``golden``: precomputed {stream: array}, else hwkit.sim)."""
    core_dir = Path(core_dir)
    if generate_first or not (core_dir / "core.json").exists():
        from hwkit.backends.rtl.generate import generate

        generate(graph, core_dir, **gen_options)
    t0 = time.monotonic()
    exe = build_simulator(core_dir)
    t_build = time.monotonic() - t0
    t0 = time.monotonic()
    y, run, desc = run_core(core_dir, x_int, exe=exe, stall_in=stall_in, stall_out=stall_out, seed=seed)
    t_run = time.monotonic() - t0
    out_name = desc["out"]["stream"]
    n = y.shape[0]
    res = CosimResult({out_name: y}, n, None, ii_model=desc["ii_cycles"], seconds_build=t_build, seconds_run=t_run)
    _cycles(res, run, desc, n)
    if graph is not None:
        res.extra["ii_cycle_model"] = cycle_model_ii(graph, desc)
    if golden is None and graph is not None:
        from hwkit.sim import simulate

        golden = simulate(graph, x_int).outputs
    if golden is not None:
        ref = {out_name: np.asarray(golden[out_name])}
        try:
            from hwkit.verify import compare

            rep = compare(ref, {out_name: y}, graph=graph)
            res.report, res.mismatches = rep, int(rep.mismatches)
        except ImportError:
            res.mismatches = int((ref[out_name] != y).sum())
    return res


def write_waves(core_dir: Path, x_int: np.ndarray, upto: int) -> Path:
    """``core_dir/waves.vcd``: every signal of the core while its first ``upto`` vectors stream through
    (for a mismatch: up to and including the first mismatching vector)."""
    exe = build_simulator(core_dir, trace=True)
    run_core(core_dir, np.asarray(x_int)[: max(1, int(upto))], exe=exe)
    return Path(core_dir) / "waves.vcd"


def first_bad_vector(golden: np.ndarray, got: np.ndarray) -> Optional[int]:
    bad = np.nonzero((np.asarray(golden) != np.asarray(got)).reshape(len(got), -1).any(axis=1))[0]
    return int(bad[0]) if len(bad) else None


def cycle_model_ii(graph, desc: dict) -> Optional[int]:
    """II of hwkit.sim.cycles for the folding this core was generated with (None without it)."""
    try:
        from hwkit.sim import cycles
    except ImportError:
        return None
    from dataclasses import replace

    from hwkit.ir.graph import Folding, Threshold

    fold = {l["name"]: (l["pe"], l["simd"]) for l in desc["layers"] if l["kind"] in ("MVU", "VVU")}
    pes = {l["name"]: l["pe"] for l in desc["layers"] if l["kind"] == "Threshold"}
    g = graph.replace_layers(*(replace(layer, folding=Folding(*fold[layer.name])) if layer.name in fold
                               else replace(layer, folding=Folding(pes[layer.name], 1)) for layer in graph.layers
                               if layer.name in fold
                               or (isinstance(layer, Threshold) and pes.get(layer.name))))
    try:
        return int(cycles(g)["ii"])
    except Exception:  # noqa: BLE001 - a cycle model without a rule for some layer: no comparison
        return None


def _cycles(res: CosimResult, run, desc: dict, n: int):
    ob, ib = desc["out"]["beats_per_sample"], desc["in"]["beats_per_sample"]
    firsts = run.out_cycles[::ob]
    res.cycles_total = int(run.out_cycles[-1]) + 1 if len(run.out_cycles) else 0
    res.latency_cycles = int(run.out_cycles[ob - 1] - run.in_cycles[0]) + 1 if len(run.out_cycles) else 0
    if n >= 4:
        d = np.diff(firsts)[n // 2:]      # steady state: second half of the run
        vals, counts = np.unique(d, return_counts=True)
        res.ii_measured = int(vals[np.argmax(counts)])
        res.ii_min, res.ii_max = int(d.min()), int(d.max())
