"""hwkit's own Verilog backend behind the build's backend interface (hwkit.backends.base)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.backends.base import Backend, SimOutputs, require


class RtlBackend(Backend):
    name = "rtl"
    fastest_fit = True
    tops = ("uart", "axis", "core")   # the board top with a bitstream, or the IP out of context (steps.IP_TOPS)

    def fold(self, graph, board, config, *, target_cycles: Optional[int] = None):
        """Always folded. ``target_fps: max``, or no target when the default (largest MVU's MACs / 64
        cycles per sample) does not fit: the fastest folding the estimate fits on the board with a
        margin (hwkit.ir.folding.fastest); a target: the folding for it, block RAMs weighed in."""
        from hwkit.estimate import fits
        from hwkit.ir.folding import fastest, fold

        fam = board.family
        if target_cycles is not None:
            return fold(graph, target_cycles=target_cycles, family=fam)
        auto = getattr(config, "target_fps", None) == "max"
        if not auto:
            g = fold(graph)
            if fits(self.estimate(g, board, board.clock_mhz), board, margin=1.0):
                return g
        best, ok = fastest(graph, lambda g: fits(self.estimate(g, board, board.clock_mhz), board), family=fam)
        if not ok:   # the slowest folding, over the margin: refuse here when it is over the board itself
            from hwkit.estimate.fit_floor import no_folding_fits
            from hwkit.sim import cycles

            err = no_folding_fits(best, board, self.estimate(best, board, board.clock_mhz), cycles(best)["ii"])
            if err is not None:
                raise err
        return best

    def estimate(self, graph, board, clock_mhz: float) -> dict:
        from hwkit.estimate import rtl_estimate

        return rtl_estimate(graph, board, clock_mhz=clock_mhz)

    def generate(self, graph, qonnx_path: Path, workdir: Path, board, config) -> dict:
        from hwkit.stages.common import folding_of

        gen = require("hwkit.backends.rtl.generate", "generate")
        folding = folding_of(graph)
        fixed = {k: tuple(v) for k, v in folding.items()}
        record = {}
        if getattr(config, "fifo_sizing", "heuristic") == "simulation":
            from hwkit.backends.rtl.fifos import size_fifos
            from hwkit.ir.inputs import random_grid_inputs

            # the core's timing does not depend on the data: inputs on the grid show every FIFO's peak
            sizing = size_fifos(graph, workdir, random_grid_inputs(graph, 256, seed=config.seed), folding=fixed,
                               family=board.family)
            record["fifo_sizing"] = sizing.as_dict()
        desc = gen(graph, workdir, folding=fixed, fifo_depths=record.get("fifo_sizing") and sizing.depths,
                   family=board.family)
        folding.update({row["name"]: [row["pe"], row["simd"]] for row in desc.get("layers", []) if row.get("pe")})
        n_v, n_m = len(desc["files"]["verilog"]), len(desc["files"]["mem"])
        fifo_note = ""
        if record:
            s = record["fifo_sizing"]
            fifo_note = f", FIFOs sized by simulation {s['bits_before']} -> {s['bits_after']} bits"
        return {"top": "hwkit_core.v", "ii_cycles": desc.get("ii_cycles"), "folding": folding, "files": n_v + n_m,
                **record, "summary": f"hwkit_core: {n_v} Verilog + {n_m} memory files, II {desc.get('ii_cycles')}"
                                     f"{fifo_note}"}

    def simulate(self, graph, generated_dir: Path, x_int: np.ndarray, workdir: Path, config,
                 *, qonnx_path=None, board=None) -> SimOutputs:
        from hwkit.backends.rtl.cosim import _cycles, build_simulator, cycle_model_ii, run_core, CosimResult
        from hwkit.tools import verilator

        core = Path(workdir) / "core"  # the simulation writes its stimulus beside the sources: use a copy
        shutil.copytree(generated_dir, core, ignore=shutil.ignore_patterns("stage.json"))
        exe = build_simulator(core)
        t0 = time.monotonic()
        y, run, desc = run_core(core, x_int, exe=exe, jobs=None)  # parallel processes when the work is large
        seconds = time.monotonic() - t0
        shutil.rmtree(core)
        res = CosimResult({desc["out"]["stream"]: y}, len(y), None, ii_model=desc["ii_cycles"])
        _cycles(res, run, desc, len(y))
        return SimOutputs(res.outputs, ii_cycles=res.ii_measured or None, latency_cycles=res.latency_cycles,
                          simulator="Verilator", samples_per_s=len(y) / seconds if seconds else None,
                          detail={"ii_model": res.ii_model, "ii_cycle_model": cycle_model_ii(graph, desc),
                                  "simulator_processes": len(run.starts) + 1,
                                  "tools": {"verilator": verilator.version()}})

    def steps(self) -> list:
        from hwkit.backends.rtl.steps import rtl_steps

        return rtl_steps()
