"""FINN backend: builds through finn-plus in its own environment (``.venv-finn``).

hwkit never imports FINN: it writes a job file into the build directory and runs
``hwkit/backends/finn_worker`` with the FINN venv's Python (argument list, timeout, log). Without
Vivado/Vitis only FINN's estimate-only step list runs; with them the full step list.

    finn_build(qonnx, out_dir, board="pynq-z1")          -> results dict (estimates, step times)
    verify_finn_build(qonnx, out_dir, x)                 -> FINN's graphs vs the reference, per step
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union


from hwkit.atomic import write_json
from hwkit.backends.finn_env import finn_python
from hwkit.backends.finn_reports import import_estimate_reports, import_synth_reports, read_folding
from hwkit.errors import BuildFailedError, ConfigError, ToolMissingError
from hwkit.tools.base import run_tool

WORKER = Path(__file__).resolve().parent / "finn_worker" / "__main__.py"

# hwkit board name -> FINN's board name (finn.util.basic.pynq_part_map) for the Zynq shell flow
FINN_BOARDS = {"pynq-z1": "Pynq-Z1", "pynq-z2": "Pynq-Z2", "ultra96-v2": "Ultra96-V2",
               "zcu104": "ZCU104", "kv260": "KV260_SOM"}

# Which vendor program each part of FINN's full step list needs (FINN finds them on PATH).
VENDOR_STEPS = (
    (("vitis_hls", "vitis-run"), "step_generate_hardware (HLS layers -> IP)"),
    (("vivado",), "step_create_stitched_ip, FIFO sizing and rtlsim (XSim), step_out_of_context_synthesis, "
                  "step_synthesize_bitfile"),
)

Folding = Union[None, str, os.PathLike, dict, Sequence[dict]]


def detect_vendor_tools(path: Optional[str] = None) -> dict:
    """{'vivado', 'vitis_hls', 'vitis-run'} -> absolute path or None, looked up on ``path``."""
    path = os.environ.get("PATH", "") if path is None else path
    return {name: shutil.which(name, path=path) for name in ("vivado", "vitis_hls", "vitis-run")}


def missing_tools_line(tools: dict) -> Optional[str]:
    """One line naming which FINN step needs which missing tool; None when all are present."""
    missing = [f"{steps} need{'s' if ',' not in steps else ''} {' or '.join(names)}"
               for names, steps in VENDOR_STEPS if not any(tools.get(n) for n in names)]
    if not missing:
        return None
    return ("FINN ran its estimate-only steps: " + "; ".join(missing)
            + ", not on PATH (AMD Vivado/Vitis, not pip-installable: source settings64.sh)")


def vivado_root(vivado: str) -> str:
    """XILINX_VIVADO for a ``.../Vivado/<version>/bin/vivado`` executable."""
    return str(Path(vivado).resolve().parent.parent) if not os.environ.get("XILINX_VIVADO") \
        else os.environ["XILINX_VIVADO"]


def run_worker(command: str, job: dict, work_dir: Path, venv: Optional[Path] = None,
               timeout: float = 7200, log_name: Optional[str] = None, env: Optional[dict] = None) -> dict:
    """Run one worker command in the FINN venv; returns its result JSON (raises on failure)."""
    py = finn_python(venv)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    job_path = work_dir / f"hwkit_finn_{command}.json"
    write_json(job_path, job, default=str)
    result_path = job_path.with_name(job_path.stem + ".result.json")
    result_path.unlink(missing_ok=True)
    log = work_dir / (log_name or f"hwkit_finn_{command}.log")
    run_tool([py, "-I", WORKER, command, job_path], cwd=work_dir, log=log, timeout=timeout,
             env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **(env or {})}, check=False,
             stage=f"finn {command}")
    if not result_path.exists():
        raise BuildFailedError(f"finn {command}: the FINN worker wrote no result (log: {log})")
    result = json.loads(result_path.read_text())
    if not result.get("ok"):
        raise BuildFailedError(f"finn {command}: {result.get('error', 'failed')} (log: {log})")
    return result


def finn_compatible(qonnx_path: Path, out_dir: Path) -> tuple[Path, list[str]]:
    """Semantics-preserving fixes for FINN's importer; returns (model FINN should read, fixes).

    qonnx's ExtractBiasFromConv (run by step_qonnx_to_finn) reshapes a quantized conv bias's scale
    and zero point unless their shape is exactly (1,); Brevitas exports 0-d scalars there, which
    then fail with "cannot reshape array of size 1". Scalars become shape (1,)."""
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(qonnx_path))
    fixes = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 3:
            continue
        producer = model.find_producer(node.input[2])
        if producer is None or producer.op_type not in ("Quant", "IntQuant"):
            continue
        for idx in (1, 2):
            value = model.get_initializer(producer.input[idx])
            if value is not None and value.shape == ():
                model.set_initializer(producer.input[idx], value.reshape(1))
                fixes.append(f"{producer.name}: {'scale' if idx == 1 else 'zero point'} of the bias of "
                             f"{node.name} reshaped () -> (1,) for qonnx ExtractBiasFromConv")
    if not fixes:
        return qonnx_path, []
    fixed = Path(out_dir) / "hwkit_finn_input.onnx"
    model.save(str(fixed))
    return fixed, fixes


def tie_job(qonnx_path: Path, out_dir: Path) -> tuple[dict, list[str]]:
    """The job entry that makes FINN's thresholds round ties like the golden model (see
    hwkit.backends.finn_ties), or a note why the model keeps FINN's ties-up rounding."""
    from hwkit.backends.finn_ties import tie_table

    try:
        from hwkit.ir import lower

        graph = lower(str(qonnx_path))
    except Exception as err:  # FINN may build what hwkit does not lower: it then rounds ties up
        return {}, [f"rounding ties not corrected (hwkit does not lower the model: {err})"]
    path = Path(out_dir) / "hwkit_finn_ties_table.json"
    write_json(path, tie_table(graph))
    return {"ties": str(path)}, []


def _tie_summary(rep: Optional[dict], requested: bool) -> dict:
    """How FINN's thresholds treat rounding ties: 'exact' (golden's half to even), 'partial' (some
    MultiThreshold nodes could not be paired with hwkit's requantizers) or 'up' (FINN's own)."""
    if not requested or not rep:
        return {"rounding": "up", "changed": 0, "skipped": []}
    skipped = rep.get("skipped", []) + rep.get("notes", [])
    return {"rounding": "partial" if skipped else "exact", "changed": rep.get("changed", 0),
            "skipped": skipped, "nodes": rep.get("nodes", [])}


def _board_settings(board, part, clock_mhz) -> tuple[Optional[str], str, float]:
    if board is not None:
        from hwkit.boards import load_board

        b = load_board(board)
        if b.vendor != "xilinx":
            raise ConfigError(f"FINN targets AMD/Xilinx parts; board '{b.name}' is {b.vendor} ({b.part}): "
                              "use the rtl backend for it")
        return b.name, part or b.part, float(clock_mhz or b.clock_mhz)
    if not part:
        raise ConfigError("finn_build needs a board (e.g. 'pynq-z1') or an FPGA part (e.g. 'xc7z020clg400-1')")
    return None, part, float(clock_mhz or 100.0)


def _folding_job(folding: Folding, out_dir: Path) -> dict:
    """FINN folding config file (path or dict keyed by FINN node names) or an ordered list of
    {'PE', 'SIMD'} per MVAU/VVAU layer (what hwkit's cycle model produces)."""
    if folding is None:
        return {}
    if isinstance(folding, (str, os.PathLike)):
        path = Path(folding).resolve()
        if not path.is_file():
            raise ConfigError(f"folding config '{folding}' does not exist")
        return {"folding_file": str(path)}
    if isinstance(folding, dict):
        path = Path(out_dir).resolve() / "hwkit_folding_input.json"
        write_json(path, {"Defaults": {}, **folding})
        return {"folding_file": str(path)}
    layers = list(folding)
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not set(layer) & {"PE", "SIMD"} or \
                not all(isinstance(v, int) and v > 0 for v in layer.values()):
            raise ConfigError(f"folding layer {i}: expected {{'PE': int, 'SIMD': int}}, got {layer!r}")
    return {"ordered_folding": layers}


def finn_build(qonnx_path, out_dir, board: Optional[str] = None, part: Optional[str] = None,
               clock_mhz: Optional[float] = None, target_fps: Optional[int] = None,
               folding: Folding = None, flow: str = "auto", venv: Optional[Path] = None,
               path: Optional[str] = None, timeout: float = 7200, exact_ties: bool = True) -> dict:
    """Build ``qonnx_path`` with FINN into ``out_dir``; returns a plain results dict.

    ``flow``: 'auto' (full step list when vivado and vitis_hls/vitis-run are on ``path``, else
    estimate-only), 'estimate', or 'full' (ToolMissingError without the tools). Folding: FINN's
    ``target_fps``, or ``folding`` (see _folding_job); neither = FINN's default PE=SIMD=1.
    ``exact_ties``: FINN's streamlined thresholds round ties like the golden model (QONNX's half to
    even) instead of up; False keeps FINN's own conversion."""
    qonnx_path = Path(qonnx_path).resolve()
    if not qonnx_path.is_file():
        raise ConfigError(f"QONNX model '{qonnx_path}' does not exist")
    if flow not in ("auto", "estimate", "full"):
        raise ConfigError(f"FINN flow must be auto, estimate or full, got '{flow}'")
    if target_fps is not None and (not isinstance(target_fps, int) or target_fps <= 0):
        raise ConfigError(f"target_fps must be a positive integer, got {target_fps!r}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    board_name, part, clock_mhz = _board_settings(board, part, clock_mhz)
    tools = detect_vendor_tools(path)
    missing = missing_tools_line(tools)
    if flow == "full" and missing:
        raise ToolMissingError(missing)
    use_full = flow == "full" or (flow == "auto" and missing is None)
    finn_input, fixes = finn_compatible(qonnx_path, out_dir)
    ties, tie_notes = tie_job(qonnx_path, out_dir) if exact_ties else ({}, [])
    job = {"model": str(finn_input), "out_dir": str(out_dir), "fpga_part": part, "clock_mhz": clock_mhz,
           "target_fps": target_fps, "flow": "full" if use_full else "estimate", **_folding_job(folding, out_dir),
           **ties}
    if use_full:
        job["vivado_root"] = vivado_root(tools["vivado"])
        job["finn_board"] = FINN_BOARDS.get(board_name or "")
        if job["finn_board"] is None:
            raise ConfigError(f"FINN's full flow needs a Zynq board ({', '.join(FINN_BOARDS)}); "
                              f"got {board_name or 'a bare part'}: use flow='estimate'")
    # the worker must see the PATH the tools were detected on
    result = run_worker("build", job, out_dir, venv, timeout, env=None if path is None else {"PATH": path})
    report = out_dir / "report"
    res = {
        "backend": "finn", "flow": job["flow"], "board": board_name, "part": part, "clock_mhz": clock_mhz,
        "target_fps": target_fps, "folding_source": "config" if folding is not None else
        ("target_fps" if target_fps else "default"), "out_dir": str(out_dir),
        "model": str(qonnx_path), "finn_input_fixes": fixes,
        "steps": result["steps"], "build_seconds": result["seconds"], "notes": result.get("notes", []) + tie_notes,
        "ties": _tie_summary(result.get("ties"), exact_ties),
        "skipped": missing if not use_full else None, "tools": tools,
        "estimate": import_estimate_reports(report),
        "folding": read_folding(out_dir / "intermediate_models" / "step_generate_estimate_reports.onnx"),
    }
    if use_full:
        res["post_synth"] = import_synth_reports(report)
    write_json(out_dir / "hwkit_finn_build.json", res, default=str)
    if result["rc"] != 0:
        tail = " | ".join(result.get("error_tail", [])[-3:])
        done = [s["step"] for s in result["steps"]]
        failed = done[-1] if done else "start"
        raise BuildFailedError(f"FINN build failed in {failed} (log: {out_dir / 'build_dataflow.log'}): {tail[:300]}")
    return res
