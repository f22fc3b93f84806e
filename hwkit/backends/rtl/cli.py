"""`hwkit rtl`: generate the core for a QONNX model, cosimulate it against the golden model, and
optionally synthesize it with Yosys. A summary dict; any mismatch is a MismatchError (exit 4)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from hwkit.errors import ConfigError, MismatchError


def fit_note(graph, board) -> dict:
    """The estimate of ``graph`` (folded) against ``board``: totals, and a one-line warning when it
    does not fit (the build's estimate stage would stop there)."""
    from hwkit.errors import DoesNotFitError
    from hwkit.estimate import check_fit, rtl_estimate

    est = rtl_estimate(graph, board)
    note = {"board": board.name, "estimate": est["total"], "available": est["available"]}
    try:
        check_fit(est, board)
    except DoesNotFitError as err:
        note["warning"] = f"{board.name}: {err}"
    return note


def rtl_summary(model: Path, out: Path, n: int = 10000, target_ii: Optional[int] = None, synth: str = "",
                seed: int = 0, board: str = "ulx3s") -> dict:
    """Generate, cosimulate ``n`` random grid inputs (``n == 0``: no cosim, recorded as skipped) and
    optionally synthesize; ``fit`` holds the estimate against ``board`` (its memory rule places the
    tables). Checks nothing: :func:`check_rtl` turns mismatches into an error."""
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.backends.rtl.generate import generate
    from hwkit.boards import load_board
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.ir.folding import fold, folding_of

    if n < 0:
        raise ConfigError(f"--n must be >= 0 (0 = no cosimulation), got {n}")
    if target_ii is not None and target_ii < 1:
        raise ConfigError(f"--target-ii must be >= 1 cycle per sample, got {target_ii}")
    brd = load_board(board)
    graph = fold(lower(str(model)), target_cycles=target_ii)
    desc = generate(graph, out, folding=folding_of(graph), family=brd.family)
    summary = {"core": str(out), "ii_cycles": desc["ii_cycles"], "in": desc["in"], "out": desc["out"],
               "fit": fit_note(graph, brd)}
    if n > 0:
        res = cosimulate(graph, random_grid_inputs(graph, n, seed=seed), out)
        summary["cosim"] = res.as_dict()
    else:
        summary["cosim"] = {"skipped": "--n 0: not cosimulated, the core is not verified"}
    if synth:
        from hwkit.tools import yosys

        r = yosys.synthesize([out / f for f in desc["files"]["verilog"]], "hwkit_core", out / f"synth_{synth}", synth,
                             data_files=[out / f for f in desc["files"]["mem"]])
        summary["synth"] = r.as_dict()
    return summary


def check_rtl(summary: dict) -> None:
    """MismatchError when the cosimulation found any output differing from the golden model."""
    cosim = summary.get("cosim") or {}
    bad = cosim.get("mismatches")
    if bad:
        raise MismatchError(f"rtl core {summary['core']}: {bad} output values over {cosim.get('n')} cosimulated samples differ "
                            f"from the golden model")


def run_rtl(model: Path, out: Path, n: int = 10000, target_ii: Optional[int] = None, synth: str = "",
            seed: int = 0, board: str = "ulx3s") -> str:
    """The JSON summary; MismatchError if the core disagrees with the golden model."""
    summary = rtl_summary(model, out, n, target_ii, synth, seed, board)
    check_rtl(summary)
    return json.dumps(summary, indent=2, sort_keys=True, default=str)


BENCHES = ("cxx", "cocotb")


def rtl_cosim(model: Path, out: Path, n: int = 2000, *, bench: str = "cxx", waves: int = 0, seed: int = 0,
              jobs: Optional[int] = None) -> dict:
    """`hwkit cosim --backend rtl`: the core of ``model`` against the golden model on ``n`` grid inputs,
    through the C++ stream bench (``cxx``, fast, for bulk vectors) or the cocotb + cocotbext-axi bench
    of the AXI4-Stream wrapper with random back-pressure (``cocotb``). ``waves`` > 0 writes a VCD of the
    run up to the first mismatching vector, or of the first ``waves`` vectors when none mismatches.
    ``jobs``: parallel simulator processes of the cxx bench (None: all CPUs when vectors x II is large)."""
    from hwkit.backends.rtl.cosim import cosim_jobs, cosimulate, first_bad_vector, write_waves
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.sim import simulate

    if bench not in BENCHES:
        raise ConfigError(f"--bench must be one of {', '.join(BENCHES)}, got '{bench}'")
    if jobs is not None:
        cosim_jobs(jobs, 1, 1)  # a bad --jobs fails before anything is generated
        if bench != "cxx":
            raise ConfigError("--jobs applies to --bench cxx (the cocotb bench runs one simulator)")
    graph = lower(str(model))
    core = Path(out) / "core"
    desc = generate(graph, core)
    x = random_grid_inputs(graph, n, seed=seed)
    stream = desc["out"]["stream"]
    golden = simulate(graph, x).outputs[stream]
    summary: dict = {"core": str(core), "bench": bench, "ii_model": desc["ii_cycles"]}
    if bench == "cxx":
        res = cosimulate(graph, x, core, golden={stream: golden}, jobs=jobs)
        summary.update(res.as_dict())
        got = res.outputs[stream]
    else:
        from hwkit.backends.rtl.cocotb_bench import run_cocotb, write_cocotb_bench

        bench_dir = write_cocotb_bench(core, {"x_int": x, f"out_{stream}": golden}, Path(out) / "cocotb")
        summary.update(run_cocotb(bench_dir, seed=seed + 1, waves=bool(waves)))
        summary["bench_dir"] = str(bench_dir)
        got = None
    if waves and got is not None:
        bad = first_bad_vector(golden, got)
        summary["waves"] = str(write_waves(core, x, waves if bad is None else bad + 1))
        summary["waves_vectors"] = waves if bad is None else bad + 1
    elif waves:
        summary["waves"] = str(next(iter(sorted(Path(out, "cocotb").rglob("dump.vcd"))), "")) or None
    return summary


def check_cosim(summary: dict) -> None:
    bad = summary.get("mismatches")
    if bad or summary.get("passed") is False:
        raise MismatchError(f"rtl core {summary['core']}: {bad} output values differ from the golden model "
                            f"({summary['bench']} bench{'; waves: ' + summary['waves'] if summary.get('waves') else ''})")
