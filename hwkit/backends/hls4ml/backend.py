"""hls4ml behind the build's backend interface (hwkit.backends.base): the project is generated from
the QONNX file with precisions and reuse factors from the HwGraph (by layer name), simulated with
hls4ml's C emulation."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from hwkit.backends.base import Backend, SimOutputs, real_outputs_to_streams, require, vendor_only

PROJECT = "hls4ml_prj"


class Hls4mlBackend(Backend):
    name = "hls4ml"
    packages = ("hls4ml",)

    def _project(self, graph, qonnx_path, out_dir: Path, board):
        gen = require("hwkit.backends.hls4ml.project", "generate_hls4ml_project")
        reuse = require("hwkit.backends.hls4ml.project", "reuse_from_folding")(graph)
        # precisions and reuse factors come from this graph, matched to hls4ml's layers by name
        return gen(str(qonnx_path), out_dir, part=board.part, reuse_factor="folding", graph=graph), reuse

    def generate(self, graph, qonnx_path: Path, workdir: Path, board, config) -> dict:
        proj, rf = self._project(graph, qonnx_path, Path(workdir) / PROJECT, board)
        return {"detail": {"project": PROJECT, "reuse_factor": rf, "notes": list(proj.notes)[:20]},
                "summary": f"hls4ml project, reuse factors {rf}"}

    def simulate(self, graph, generated_dir: Path, x_int: np.ndarray, workdir: Path, config,
                 *, qonnx_path=None, board=None) -> SimOutputs:
        """hls4ml's C emulation on the golden vectors (as real values on the input grid); its outputs
        returned on the golden model's output stream (or the FloatTail's real output it computes)."""
        from hwkit.backends.hls4ml.cosim import _input_shape, to_clean_layout
        from hwkit.backends.hls4ml.project import compile_project
        from hwkit.ir import grid_to_float
        from qonnx.core.modelwrapper import ModelWrapper

        # the project is regenerated here (same bytes) so the finished generate directory stays untouched
        proj, _ = self._project(graph, qonnx_path, Path(workdir) / PROJECT, board)
        compile_project(proj)
        orig = _input_shape(ModelWrapper(str(qonnx_path)))
        clean = _input_shape(ModelWrapper(str(proj.qonnx_clean)))
        x = to_clean_layout(grid_to_float(graph, x_int).astype(np.float64).reshape(len(x_int), *orig[1:]), orig, clean)
        t0 = time.monotonic()
        got = np.asarray(proj.predict(x), dtype=np.float64).reshape(len(x), -1)
        seconds = time.monotonic() - t0
        outputs = real_outputs_to_streams(graph, got)  # hls4ml computes an affine tail in fixed point itself
        shutil.rmtree(Path(workdir) / PROJECT, ignore_errors=True)
        return SimOutputs(outputs, simulator="hls4ml C emulation (g++)", samples_per_s=len(x) / max(seconds, 1e-9),
                          detail={"tools": {"g++ (hls4ml C simulation)": "system"}})

    def steps(self) -> list:
        from hwkit.stages.flow import Stage

        return [Stage("synthesize", synthesize, "Vitis HLS synthesis", version=3, deps=("generate",)),
                vendor_only("place_route", "place & route"), vendor_only("bitstream", "bitstream generation")]


def synthesize(ctx) -> dict:
    """Vitis HLS on a copy of the generated project when the tool is on PATH (its reports read with
    hls4ml's parser); otherwise unavailable, saying which executable was looked for."""
    from hwkit.stages import common as c
    from hwkit.stages.records import SynthRecord

    if not c.ok(ctx, "generate"):
        return c.unavailable("the hls4ml project", "generate stage")
    from hwkit.backends.hls4ml.project import BACKENDS
    from hwkit.backends.hls4ml.synth import synthesize as hls_synthesize
    from hwkit.tools.vitis import find_hls_tool, hls_tool_line

    backend = BACKENDS[0]  # the generate stage writes Vitis projects
    if find_hls_tool(backend) is None:  # unavailable, not finished: a rerun with Vitis on PATH synthesizes
        return {"status": "unavailable", "reason": hls_tool_line(backend)}
    work = ctx.workdir / PROJECT  # HLS writes into the project: keep the generate stage untouched
    shutil.copytree(ctx.stage_dir("generate") / PROJECT, work)
    res = hls_synthesize(SimpleNamespace(backend=backend, out_dir=work))
    ctx.record_tool(res["tool"], "on PATH")
    rec = SynthRecord(tool=res["tool"], detail={"hls_report": res["report"], "seconds": res["seconds"]},
                      summary=f"{res['tool']} HLS synthesis in {res['seconds']} s")
    if "total" in res:  # C-synthesis estimates, shown as the synthesized column of the report
        t = res["total"]
        rec.total = t
        rec.detail.update(latency_cycles=res["latency_cycles"], interval_cycles=res["interval_cycles"],
                          clock_ns=res["clock_ns"])
        rec.summary = (f"{res['tool']}: LUT {t['lut']} FF {t['ff']} BRAM {t['bram']} DSP {t['dsp']}, "
                       f"latency {res['latency_cycles'][1]} cycles, clock {res['clock_ns']['estimated']} ns")
    return rec.to_dict()
