"""FINN behind the build's backend interface (hwkit.backends.base). FINN builds from the QONNX file in
its own environment; its simulation is FINN's python execution of its own step models, whose final
outputs the build compares with the golden model (the step-by-step report stays as detail)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hwkit.backends.base import Backend, SimOutputs, real_outputs_to_streams, require, vendor_only


class FinnBackend(Backend):
    name = "finn"

    def generate(self, graph, qonnx_path: Path, workdir: Path, board, config) -> dict:
        from hwkit.stages.records import Clock

        finn_build = require("hwkit.backends.finn", "finn_build")
        fps = int(config.target_fps) if config.target_fps else None
        res = finn_build(qonnx_path, Path(workdir) / "finn", board=config.board,
                         clock_mhz=Clock.requested(config, board).requested_mhz, target_fps=fps)
        return {"folding": res.get("folding") or {}, "summary": f"FINN {res.get('flow')} flow",
                "detail": {"flow": res.get("flow"), "finn_estimate": res.get("estimate")}}

    def simulate(self, graph, generated_dir: Path, x_int: np.ndarray, workdir: Path, config,
                 *, qonnx_path=None, board=None) -> SimOutputs:
        verify = require("hwkit.backends.finn_verify", "verify_finn_build")
        from hwkit.backends.finn_verify import DEFAULT_STEPS
        from hwkit.ir import grid_to_float

        work = Path(workdir) / "finn"  # verification writes into the FINN build: use a copy
        shutil.copytree(Path(generated_dir) / "finn", work)
        x = grid_to_float(graph, x_int).astype(np.float32)
        rep = verify(str(qonnx_path), work, x=x, seed=config.seed)
        final = np.load(work / "verify" / f"{DEFAULT_STEPS[-1]}.npy", allow_pickle=False)
        shutil.copyfile(work / "verify" / "verify_report.json", Path(workdir) / "finn_verify_report.json")
        shutil.rmtree(work)
        return SimOutputs(real_outputs_to_streams(graph, final),
                          simulator="FINN python execution of the HW-layer graph (rtlsim needs Vivado/XSim)",
                          detail={"finn_steps_vs_reference": {k: int(e["mismatches"]) for k, e in rep["steps"].items()},
                                  "finn_reference": rep.get("reference"),
                                  "first_failing_step": rep.get("first_failing_step"),
                                  "explanation": rep.get("explanation", [])})

    def steps(self) -> list:
        return [vendor_only("synthesize", "synthesis"), vendor_only("place_route", "place & route"),
                vendor_only("bitstream", "bitstream generation")]
