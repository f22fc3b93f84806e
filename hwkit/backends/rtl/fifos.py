"""FIFO sizing by simulation: run the core in Verilator, record how full each FIFO ever gets, and
size it to that peak plus a margin.

The peak is taken with the output always ready and the input offered every cycle: the core then runs
at its own pace, and a FIFO that is never full never stalls its producer. Since the core's timing does
not depend on the data, that schedule is the same for any inputs, so ``margin`` = 1 word (a write may
coincide with a read at the peak) keeps every cycle as it was: the measured II and latency do not
change. A FIFO that did fill up keeps its depth: it sits behind a producer faster than its consumer
(the test bench in front of the first layer), so no depth would show what it needs. The result is then proved, not assumed: the sized core runs ``n_check`` vectors with random
stalls on both sides (it must finish, i.e. not deadlock, with 0 mismatches against the golden model)
and once without stalls (its II must equal the II measured before sizing).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hwkit.backends.rtl.cosim import _cycles, build_simulator, run_core, CosimResult
from hwkit.backends.rtl.generate import generate
from hwkit.errors import MismatchError

PROBE = "HWKIT_FIFO_PROBE"
_LINE = re.compile(r"^HWKIT_FIFO (\S+) (\d+) (\d+) (\d+)$", re.M)


@dataclass
class FifoSizing:
    fifos: list = field(default_factory=list)      # {instance, key, width, before, peak, after}
    bits_before: int = 0
    bits_after: int = 0
    ii_before: int = 0
    ii_after: int = 0
    latency_before: int = 0
    latency_after: int = 0
    check_vectors: int = 0
    check_stall_percent: int = 0
    check_mismatches: int = 0
    margin: int = 1

    @property
    def depths(self) -> dict:
        """{fifo_depths key: depth} for :func:`hwkit.backends.rtl.generate.generate`."""
        return {f["key"]: f["after"] for f in self.fifos if f["key"]}

    def as_dict(self) -> dict:
        return asdict(self)


def measure(core_dir: Path, x_int: np.ndarray) -> tuple[dict, CosimResult]:
    """{instance path below the core: (width, depth, peak words)} of every FIFO, and the run's cycles,
    from one free-running simulation of ``x_int`` through the core in ``core_dir``."""
    exe = build_simulator(core_dir, defines=(PROBE,))
    y, run, desc = run_core(core_dir, x_int, exe=exe)
    res = CosimResult({desc["out"]["stream"]: y}, len(y), None, ii_model=desc["ii_cycles"])
    _cycles(res, run, desc, len(y))
    peaks = {}
    for path, w, depth, peak in _LINE.findall((Path(core_dir) / "sim.log").read_text()):
        inst = path.split(".", 2)[-1] if path.count(".") >= 2 else path.rpartition(".")[2]
        peaks[inst] = (int(w), int(depth), int(peak))
    return peaks, res


def size_fifos(graph, core_dir: Path, x_int: np.ndarray, *, golden: dict | None = None, folding: dict | None = None,
               margin: int = 1, n_check: int = 10_000, stall_percent: int = 30, seed: int = 0,
               **gen_options) -> FifoSizing:
    """Generate the core for ``graph`` into ``core_dir`` with every FIFO sized by simulation (module
    doc) and prove it on ``n_check`` stalled vectors (inputs: ``x_int`` repeated as needed). Raises
    MismatchError when the sized core loses a vector, deadlocks or runs slower."""
    core_dir = Path(core_dir)
    core_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hwkit-fifo-", dir=core_dir.parent) as tmp:
        desc = generate(graph, Path(tmp) / "probe", folding=folding, **gen_options)
        peaks, before = measure(Path(tmp) / "probe", x_int[: max(64, min(len(x_int), 256))])
        keys = desc.get("fifo_keys", {})
        out = FifoSizing(margin=margin, ii_before=before.ii_measured, latency_before=before.latency_cycles)
        for inst, (w, depth, peak) in sorted(peaks.items()):
            key = keys.get(inst)
            # the core's own input/output FIFOs, and FIFOs that filled up, keep their depth
            after = max(2, peak + margin) if key and peak < depth else depth
            out.fifos.append({"instance": inst, "key": key, "width": w, "before": depth, "peak": peak, "after": after})
            out.bits_before += w * depth
            out.bits_after += w * after
        generate(graph, core_dir, folding=folding, fifo_depths=out.depths, **gen_options)
        check = Path(tmp) / "check"   # simulations write their stimulus beside the sources: use a copy
        shutil.copytree(core_dir, check)
        _prove(graph, check, x_int, golden, out, n_check, stall_percent, seed)
    return out


def _prove(graph, core_dir, x_int, golden, out: FifoSizing, n_check: int, stall_percent: int, seed: int):
    from hwkit.sim import simulate

    reps = -(-n_check // len(x_int))
    x = np.concatenate([x_int] * reps)[:n_check]
    ref = golden if golden is not None else simulate(graph, x).outputs
    exe = build_simulator(core_dir)
    y, run, desc = run_core(core_dir, x, exe=exe, stall_in=stall_percent, stall_out=stall_percent, seed=seed)
    name = desc["out"]["stream"]
    out.check_vectors, out.check_stall_percent = len(y), stall_percent
    out.check_mismatches = int((np.asarray(ref[name])[: len(y)] != y).sum())
    y2, run2, _ = run_core(core_dir, x[: max(64, min(len(x), 256))], exe=exe)
    free = CosimResult({name: y2}, len(y2), None)
    _cycles(free, run2, desc, len(y2))
    out.ii_after, out.latency_after = free.ii_measured, free.latency_cycles
    if out.check_mismatches or out.ii_after != out.ii_before:
        raise MismatchError(f"FIFO sizing by simulation failed its proof: {out.check_mismatches} mismatches on "
                            f"{len(y)} stalled vectors, II {out.ii_before} -> {out.ii_after}")
