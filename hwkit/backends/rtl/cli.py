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
