"""`hwkit rtl`: generate the core for a QONNX model, cosimulate it against the golden model, and
optionally synthesize it with Yosys. Returns a JSON summary."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional


def run_rtl(model: Path, out: Path, n: int = 10000, target_ii: Optional[int] = None, synth: str = "",
            seed: int = 0) -> str:
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower, random_grid_inputs

    graph = lower(str(model))
    desc = generate(graph, out, target_ii=target_ii)
    summary = {"core": str(out), "ii_cycles": desc["ii_cycles"], "in": desc["in"], "out": desc["out"]}
    if n > 0:
        res = cosimulate(graph, random_grid_inputs(graph, n, seed=seed), out)
        summary["cosim"] = res.as_dict()
    if synth:
        from hwkit.tools import yosys

        r = yosys.synthesize([out / f for f in desc["files"]["verilog"]], "hwkit_core", out / f"synth_{synth}", synth,
                             data_files=[out / f for f in desc["files"]["mem"]])
        summary["synth"] = r.as_dict()
    return json.dumps(summary, indent=2, sort_keys=True, default=str)
