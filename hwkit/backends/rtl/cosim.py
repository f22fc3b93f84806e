"""Cosimulation: the generated ``hwkit_core`` in Verilator against the golden simulator.

The samples stream through one simulator run (files in, files out), so 10,000+ vectors take
seconds; when vectors x II is large (a CIFAR CNV: ~450k cycles a sample) they are split into
contiguous slices, one process of the same compiled simulator each, merged back in order. The
compiled simulator is cached by the Verilog sources only: the weight images are read at run time
from the core directory, so retraining a model of the same shape does not recompile.
Cycle counts come from the same run: II is the distance between the first output beats of
consecutive samples; latency runs from a sample's first input beat to its last output beat.
"""
from __future__ import annotations

import json
import os
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


# below this many simulated cycles (vectors x II), about a second of Verilator on a small core, a second
# process costs more than it saves (a CIFAR CNV simulates ~100k cycles/s: 32 vectors = 14M cycles, 146 s)
PARALLEL_WORK = 5_000_000


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def cosim_jobs(jobs: Optional[int], n: int, ii_cycles: int) -> int:
    """Simulator processes for ``n`` vectors at ``ii_cycles``: ``jobs`` when given, else every CPU when the
    work (n x II) is large and 1 otherwise; never more than there are vectors."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"--jobs must be an integer >= 1 (simulator processes), got {jobs!r}")
    if jobs is None:
        jobs = cpu_count() if n * max(1, int(ii_cycles)) >= PARALLEL_WORK else 1
    return max(1, min(jobs, n))


def slices(n: int, jobs: int) -> list[tuple[int, int]]:
    """``jobs`` contiguous [start, stop) ranges covering range(n), sizes differing by at most one."""
    jobs = max(1, min(jobs, n)) if n else 1
    bounds = [n * k // jobs for k in range(jobs + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:])]


def merge_runs(runs: list) -> object:
    """One StreamRun of consecutive (StreamRun, samples) runs: outputs in order, each run's cycles shifted
    past the previous run's last output beat (the total is the sum of the processes' cycles), starts recorded."""
    from hwkit.backends.rtl.stream import StreamRun

    if len(runs) == 1:
        return runs[0][0]
    outs, in_cyc, out_cyc, starts, offset, sample = [], [], [], [], 0, 0
    for k, (run, n_k) in enumerate(runs):
        if k:
            starts.append(sample)
        outs.append(run.out_codes)
        out_cyc.append(run.out_cycles + offset)
        in_cyc.append(run.in_cycles + offset)
        offset += int(run.out_cycles[-1]) + 1 if len(run.out_cycles) else 0
        sample += n_k
    return StreamRun(np.concatenate(outs), np.concatenate(out_cyc), np.concatenate(in_cyc),
                     max(r.seconds for r, _ in runs), tuple(starts))


def run_core(core_dir: Path, x_int: np.ndarray, *, exe: Optional[Path] = None, stall_in: int = 0,
             stall_out: int = 0, seed: int = 0, jobs: Optional[int] = 1) -> tuple[np.ndarray, object, dict]:
    """Stream integer samples (N, *input shape) through the core; returns (outputs (N, *out shape),
    the raw StreamRun, core.json). ``jobs`` > 1 (None: :func:`cosim_jobs` decides) splits the samples
    into contiguous slices, each through its own process of the same compiled simulator, merged in order."""
    core_dir = Path(core_dir)
    desc = json.loads((core_dir / "core.json").read_text())
    exe = exe or build_simulator(core_dir)
    i, o = desc["in"], desc["out"]
    x = np.asarray(x_int, dtype=np.int64)
    if tuple(x.shape[1:]) != tuple(i["shape"]):
        raise ConfigError(f"cosim inputs of shape {x.shape[1:]} do not match the core input {tuple(i['shape'])}")
    n = x.shape[0]
    parts = slices(n, cosim_jobs(jobs, n, desc["ii_cycles"]))
    # a deadlocked design must end: allow 8x the expected cycles (more when stalls are injected)
    slow = 100 / max(1, 100 - max(stall_in, stall_out))

    def one(k: int, a: int, b: int):
        m = b - a
        codes = encode(x[a:b].reshape(m * i["beats_per_sample"], i["elems_per_beat"]), i["bits"], i["bipolar"])
        max_cycles = int((m + 16) * desc["ii_cycles"] * 8 * slow) + 200_000
        tag = "" if len(parts) == 1 else f".{k}"
        return run_stream(exe, codes, i["bits"], m * o["beats_per_sample"], o["elems_per_beat"], o["bits"], core_dir,
                          stall_in=stall_in, stall_out=stall_out, seed=seed + k, max_cycles=max_cycles,
                          tag=tag), m

    if len(parts) == 1:
        runs = [one(0, *parts[0])]
    else:
        from concurrent.futures import ThreadPoolExecutor

        from hwkit.tools.base import stop_tools

        # threads suffice: each waits on its own simulator process
        with ThreadPoolExecutor(len(parts)) as pool:
            futures = [pool.submit(one, k, a, b) for k, (a, b) in enumerate(parts)]
            try:
                runs = [f.result() for f in futures]
            except BaseException:  # a failed slice or Ctrl-C: the other slices' results are of no use
                stop_tools()
                raise
    run = merge_runs(runs)
    y = decode(run.out_codes, o["bits"], o["signed"], o["bipolar"]).reshape((n,) + tuple(o["shape"]))
    return y, run, desc


def cosimulate(graph, x_int: np.ndarray, core_dir: Path, *, golden: Optional[dict] = None, stall_in: int = 0,
               stall_out: int = 0, seed: int = 0, generate_first: bool = False, jobs: Optional[int] = None,
               **gen_options) -> CosimResult:
    """Run ``x_int`` through the RTL core in ``core_dir`` (generated first if asked or missing) and
    compare with the golden simulator (``golden``: precomputed {stream: array}, else hwkit.sim).
    ``jobs``: simulator processes (None: :func:`cosim_jobs` picks from the work)."""
    core_dir = Path(core_dir)
    if generate_first or not (core_dir / "core.json").exists():
        from hwkit.backends.rtl.generate import generate

        generate(graph, core_dir, **gen_options)
    t0 = time.monotonic()
    exe = build_simulator(core_dir)
    t_build = time.monotonic() - t0
    t0 = time.monotonic()
    y, run, desc = run_core(core_dir, x_int, exe=exe, stall_in=stall_in, stall_out=stall_out, seed=seed, jobs=jobs)
    t_run = time.monotonic() - t0
    out_name = desc["out"]["stream"]
    n = y.shape[0]
    res = CosimResult({out_name: y}, n, None, ii_model=desc["ii_cycles"], seconds_build=t_build, seconds_run=t_run)
    res.extra["jobs"] = len(run.starts) + 1
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
    bounds = [0, *getattr(run, "starts", ()), n]
    # steady state: the second half of each simulator process's run
    parts = [np.diff(firsts[a:b])[(b - a) // 2:] for a, b in zip(bounds, bounds[1:])]
    d = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if n >= 4 and len(d):
        vals, counts = np.unique(d, return_counts=True)
        res.ii_measured = int(vals[np.argmax(counts)])
        res.ii_min, res.ii_max = int(d.min()), int(d.max())
