"""HLS synthesis of a generated hls4ml project, when the vendor tool is on PATH.

hls4ml's own ``build()`` shells out through ``os.system``; hwkit runs the same Tcl entry point
through :mod:`hwkit.tools.base` (argument list, log file, timeout) and reads the reports with
hls4ml's report parser into a plain dict."""
from __future__ import annotations

import contextlib
import io

from typing import Optional

from hwkit.tools.base import run_tool
from hwkit.tools.vitis import find_hls_tool, hls_tool_line


def _argv(tool: str, exe: str, csim: bool, synth: bool, cosim: bool, export: bool) -> list[str]:
    if tool == "vitis-run":
        return [exe, "--tcl", "build_prj.tcl", "--mode", "hls"]
    opts = f"reset=0 csim={int(csim)} synth={int(synth)} cosim={int(cosim)} validation=0 export={int(export)} " \
           "vsynth=0 fifo_opt=0"
    return [exe, "-f", "build_prj.tcl", opts]


def synthesize(project, csim: bool = False, synth: bool = True, cosim: bool = False, export: bool = False,
               path: Optional[str] = None, timeout: float = 4 * 3600) -> dict:
    """Run HLS synthesis if the backend's tool is found on ``path`` (default $PATH).

    Returns {'synthesized': False, 'message': one line} when no tool is found, else the parsed
    report (hls4ml.report.parse_vivado_report) under 'report'. A failing tool raises
    BuildFailedError naming the log."""
    found = find_hls_tool(project.backend, path)
    if found is None:
        return {"synthesized": False, "message": hls_tool_line(project.backend, path)}
    tool, exe = found
    out = project.out_dir
    (out / "build_opt.tcl").write_text(
        "array set opt {\n" + "".join(f"    {k:<10} {int(v)}\n" for k, v in (
            ("reset", False), ("csim", csim), ("synth", synth), ("cosim", cosim), ("validation", False),
            ("export", export), ("vsynth", False), ("fifo_opt", False))) + "}\n")
    env = {"PATH": path} if path is not None else None
    res = run_tool(_argv(tool, exe, csim, synth, cosim, export), cwd=out, log=out / "logs" / "hls_synth.log",
                   timeout=timeout, env=env, stage=f"hls4ml {project.backend} HLS synthesis")
    from hls4ml.report import parse_vivado_report

    with contextlib.redirect_stdout(io.StringIO()):  # the parser prints what it cannot find
        report = parse_vivado_report(str(out)) or {}
    return {"synthesized": True, "tool": tool, "seconds": round(res.seconds, 1), "report": _plain(report),
            **csynth_summary(report)}


def csynth_summary(report: dict) -> dict:
    """hwkit's view of hls4ml's parsed C-synthesis report: resource totals in the board's units (Xilinx
    block RAM in 36 Kb blocks, so two BRAM_18K are one), latency and interval in cycles, clock in ns.
    Empty when the tool wrote no C-synthesis report."""
    cs = report.get("CSynthesisReport") if report else None
    if not cs:
        return {}

    def num(key, kind=int):
        try:
            return kind(cs[key])
        except (KeyError, TypeError, ValueError):
            return None

    bram18 = num("BRAM_18K")
    return {"total": {"lut": num("LUT"), "ff": num("FF"), "bram": None if bram18 is None else bram18 / 2,
                      "dsp": num("DSP")},
            "latency_cycles": [num("BestLatency"), num("WorstLatency")],
            "interval_cycles": [num("IntervalMin"), num("IntervalMax")],
            "clock_ns": {"target": num("TargetClockPeriod", float), "estimated": num("EstimatedClockPeriod", float)}}


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return str(obj)
