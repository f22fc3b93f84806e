"""Cosimulation of an any-precision core (hwkit.kinds.mvu_bp): the generated hwkit_core in Verilator
with its in_prec pin driven per sample, against ``hwkit.sim.simulate(graph, x, precision=k)`` per
sample. Precisions may change from one sample to the next; the weights are never reloaded."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwkit.errors import ConfigError


def precision_simulator(core_dir: Path) -> Path:
    from hwkit.backends.rtl.stream import TESTBENCH
    from hwkit.tools import verilator

    desc = json.loads((Path(core_dir) / "core.json").read_text())
    if not desc.get("precision_bits"):
        raise ConfigError(f"core in {core_dir} has no run-time precision pin (no any-precision layer)")
    sources = [Path(core_dir) / f for f in desc["files"]["verilog"]]
    return verilator.build(sources, TESTBENCH, "hwkit_core", verilator.default_cache_dir())


def cosimulate_precisions(graph, x_int: np.ndarray, precision, core_dir: Path, **gen_options) -> dict:
    """Run samples ``x_int`` (N, *input shape) through the core at ``precision`` (one int, or one per
    sample). Returns {outputs, golden, mismatches, out_cycles (cycle of each sample's last output beat),
    ii (median cycles between consecutive samples)}."""
    from hwkit.backends.rtl.cosim import run_core
    from hwkit.backends.rtl.generate import generate
    from hwkit.sim import simulate

    core_dir = Path(core_dir)
    if not (core_dir / "core.json").exists():
        generate(graph, core_dir, **gen_options)
    x = np.asarray(x_int, dtype=np.int64)
    n = x.shape[0]
    ks = np.broadcast_to(np.asarray(precision, dtype=np.int64), (n,))
    desc = json.loads((core_dir / "core.json").read_text())
    beats = desc["in"]["beats_per_sample"]
    (core_dir / "in_prec.txt").write_text("\n".join(map(str, np.repeat(ks, beats).tolist())) + "\n")
    try:
        y, run, desc = run_core(core_dir, x, exe=precision_simulator(core_dir))
    finally:   # a later plain cosim of this core runs at the default (highest) precision
        (core_dir / "in_prec.txt").unlink(missing_ok=True)
    out = desc["out"]["stream"]
    golden = np.zeros_like(y)
    for k in np.unique(ks):
        sel = ks == k
        golden[sel] = simulate(graph, x[sel], precision=int(k)).outputs[out]
    last = run.out_cycles[desc["out"]["beats_per_sample"] - 1:: desc["out"]["beats_per_sample"]]
    return {"outputs": y, "golden": golden, "mismatches": int((y != golden).sum()), "out_cycles": last,
            "ii": int(np.median(np.diff(last))) if n > 1 else 0}
