"""FINN's intermediate graphs against the reference, step by step, with FINN's own python execution.

Every step FINN saves (intermediate_models/<step>.onnx) up to the dataflow partition still runs in
python (MultiThreshold, MatMul, generic MVAU/Thresholding HW layers). Each one must reproduce the
reference outputs exactly; the first step that does not is named, and the first layer whose
activations changed against the previous step is named too.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from hwkit.atomic import write_json
from hwkit.backends.finn import run_worker
from hwkit.errors import ConfigError, ToolMissingError

HLSLIB_ENV = "HWKIT_FINN_HLSLIB"

# Steps whose saved model FINN's python execution can run. Later steps hold _hls/_rtl nodes,
# which only run in cppsim (finn-hlslib + HLS headers) or rtlsim (Vivado XSim).
PYTHON_STEPS = ("step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw",
                "step_minimize_bit_width_initial", "step_create_dataflow_partition")
# dataflow_parent runs its partition at batch 1 and holds the same layers as the step before it
DEFAULT_STEPS = PYTHON_STEPS[:-1]
# The two graphs the acceptance criteria name: streamlined, and generic HW layers before specialization
KEY_STEPS = ("step_streamline", "step_convert_to_hw")


def make_inputs(qonnx_path, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """``n`` float inputs on the model's input grid (hwkit.ir when it lowers the model, else a
    uniform 8-bit grid in [0, 1)), shaped like the model input; returns (x, source)."""
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(qonnx_path))
    shape = tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]
    try:
        from hwkit.ir import grid_to_float, lower, random_grid_inputs

        graph = lower(str(qonnx_path))
        x = np.asarray(grid_to_float(graph, random_grid_inputs(graph, n, seed=seed)), dtype=np.float32)
        return x.reshape((n,) + shape), "hwkit.ir.random_grid_inputs"
    except Exception:  # lowering not available for this model: the 8-bit grid hwkit's zoo uses
        rng = np.random.default_rng(seed)
        return (rng.integers(0, 256, size=(n,) + shape) / 256.0).astype(np.float32), "uniform 8-bit grid"


def _input_shape(qonnx_path) -> tuple:
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(qonnx_path))
    return tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]


def golden_outputs(qonnx_path, x: np.ndarray) -> Optional[np.ndarray]:
    """Float outputs of hwkit's golden model (hwkit.sim on the lowered HwGraph), or None when the
    model does not lower or has more than one output."""
    try:
        from hwkit.ir import lower, quantize_input
        from hwkit.sim import simulate

        graph = lower(str(qonnx_path))
        outs = list(graph.float_outputs.values())
        if len(outs) != 1:
            return None
        res = simulate(graph, quantize_input(graph, x))
        return np.asarray(res.float_outputs[outs[0].name]).reshape(len(x), -1)
    except Exception:  # the golden model is the preferred reference, not a precondition
        return None


def golden_tie_hits(qonnx_path, x: np.ndarray) -> Optional[dict]:
    """Per requantizer, accumulator elements of the golden run on ``x`` that sit exactly on a tie the
    golden model rounds down (FINN's own thresholds round them up): how much the inputs exercise ties."""
    try:
        from hwkit.backends.finn_ties import count_tie_hits
        from hwkit.ir import lower, quantize_input

        graph = lower(str(qonnx_path))
        return count_tie_hits(graph, quantize_input(graph, x))
    except Exception:  # like golden_outputs: informative, not a precondition
        return None


def build_tie_rounding(build_dir: Path) -> Optional[dict]:
    """The build's record of how its thresholds round ties (hwkit.backends.finn._tie_summary)."""
    import json

    record = Path(build_dir) / "hwkit_finn_build.json"
    if not record.is_file():
        return None
    ties = json.loads(record.read_text()).get("ties")
    return {k: ties[k] for k in ("rounding", "changed", "skipped")} if ties else None


def reference_outputs(qonnx_path, x: np.ndarray, ties_up: bool = False) -> tuple[np.ndarray, str]:
    """Outputs of the original QONNX model (qonnx's executor, batched) in hwkit's venv.

    ``ties_up``: with FINN's rounding convention instead of the model's. QONNX's Quant ROUND is
    round-half-to-even; FINN turns activation Quant nodes into MultiThreshold nodes with thresholds
    at k + 1/2 and ``x >= t``, i.e. ties round up. On power-of-two grids pre-activations land
    exactly on ties, so the two differ there; this reference shows which differences are only that."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hwkit.verify import qonnx_output

    model = ModelWrapper(str(qonnx_path))
    if not ties_up:
        return qonnx_output(model, x), "qonnx execution of the original QONNX"
    import qonnx.custom_op.general.intquant as intquant

    original = intquant.resolve_rounding_mode

    def finn_rounding(mode):
        if mode.upper() in ("ROUND", "HALF_EVEN"):
            return lambda v: np.floor(v + 0.5)
        return original(mode)

    intquant.resolve_rounding_mode = finn_rounding  # scoped: restored below
    try:
        return qonnx_output(model, x), "qonnx execution with FINN's ties-up rounding"
    finally:
        intquant.resolve_rounding_mode = original


def inexact_scales(qonnx_path) -> list[str]:
    """Quantizer scales that are not powers of two: float execution of such a model is not exact
    (e.g. a sum of +-0.1 weights that is 0 in integers comes out as +-1e-8 and flips a sign)."""
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(qonnx_path))
    out = []
    for node in model.graph.node:
        if node.op_type in ("Quant", "IntQuant", "BipolarQuant", "Trunc"):
            scale = model.get_initializer(node.input[1])
            if scale is None:
                continue
            mant, _ = np.frexp(np.abs(np.asarray(scale, dtype=np.float64)).ravel())
            if np.any(mant != 0.5):
                out.append(f"{node.op_type} {node.name}: scale {np.ravel(scale)[:2].tolist()}")
    return out


def compare_outputs(ref: np.ndarray, got: np.ndarray) -> dict:
    """Exact comparison; mismatching elements, inputs, and the first one (input, element, values)."""
    ref = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    if ref.shape != got.shape:
        return {"mismatches": int(ref.size), "inputs_with_mismatch": len(ref),
                "first": f"shape {got.shape} != reference {ref.shape}"}
    bad = ref != got  # exact, like hwkit.verify.compare with rtol = atol = 0
    first = None
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        first = {"input": i, "element": j, "reference": float(ref[i, j]), "finn": float(got[i, j])}
    return {"mismatches": int(bad.sum()), "inputs_with_mismatch": int(bad.any(axis=1).sum()), "first": first}


def _model_path(build_dir: Path, step: str) -> Path:
    models = build_dir / "intermediate_models"
    if step == "step_create_dataflow_partition":  # the partition alone lacks what FINN kept outside
        return models / "dataflow_parent.onnx"
    return models / f"{step}.onnx"


def localize(qonnx_path, build_dir: Path, good: Optional[str], bad: str, x1: np.ndarray,
             venv=None) -> dict:
    """First layer whose quantized activations differ between step ``good`` (None: the original
    QONNX) and step ``bad`` on one input. Activations are compared as sorted multisets because
    layouts change between steps; counts per layer must also match."""
    work = build_dir / "verify"
    np.save(work / "trace_input.npy", x1.astype(np.float32))
    a_path = str(qonnx_path) if good is None else str(_model_path(build_dir, good))
    job = {"build_dir": str(build_dir), "inputs": str(work / "trace_input.npy"), "out_dir": str(work),
           "models": [["good", a_path], ["bad", str(_model_path(build_dir, bad))]]}
    res = run_worker("trace", job, work, venv)
    ga, ba = np.load(res["good"]["file"]), np.load(res["bad"]["file"])
    gl, bl = res["good"]["layers"], res["bad"]["layers"]
    scale_free = good is None  # QONNX Quant outputs carry scales; FINN's thresholds emit integers
    for k in range(min(len(gl), len(bl))):
        a, b = ga[f"a{k:03d}"], ba[f"a{k:03d}"]
        if scale_free and a.size == b.size:
            # compare the integer codes: rank-order of distinct values (scale and offset free)
            a = np.unique(a, return_inverse=True)[1]
            b = np.unique(b, return_inverse=True)[1]
        if a.shape != b.shape or not np.array_equal(a, b):
            return {"layer_index": k, "node": bl[k][0] or f"{bl[k][1]}#{k}", "op_type": bl[k][1],
                    "previous_node": gl[k][0] or f"{gl[k][1]}#{k}",
                    "compared_with": good or "original QONNX"}
    if len(gl) != len(bl):
        return {"layer_index": min(len(gl), len(bl)), "node": None, "op_type": None,
                "compared_with": good or "original QONNX",
                "note": f"{len(gl)} activation layers before, {len(bl)} after"}
    return {"layer_index": None, "node": None, "op_type": None, "compared_with": good or "original QONNX",
            "note": "all activation layers agree: the difference is in the output tail (scale/bias/argmax)"}


def verify_finn_build(qonnx_path, build_dir, x: Optional[np.ndarray] = None, n: int = 1000,
                      steps: Sequence[str] = DEFAULT_STEPS, reference: Optional[np.ndarray] = None,
                      seed: int = 0, venv=None) -> dict:
    """Run FINN's saved intermediate models on the same inputs as the reference and compare.

    Each step gets ``mismatches`` against the reference (the model's own semantics) and
    ``unexplained``: 0 when the step matches the reference or the same model with FINN's ties-up
    rounding, else its mismatches against the latter. A build made with exact ties (finn_build's
    default) matches the reference from step_streamline on; steps before it keep FINN's ties-up
    conversion, reported with the step and layer that introduced it (``tie_step``/``tie_layer``).
    Any other difference fails (``first_failing_step``/``layer``). ``golden_tie_hits`` counts the
    accumulator elements that sit on a tie the golden model rounds down.
    Returns a dict, also written to <build_dir>/verify/verify_report.json."""
    build_dir = Path(build_dir).resolve()
    qonnx_path = Path(qonnx_path).resolve()
    for step in steps:
        if step not in PYTHON_STEPS:
            raise ConfigError(f"FINN step '{step}' has no python execution (choose from {', '.join(PYTHON_STEPS)})")
        if not _model_path(build_dir, step).is_file():
            raise ConfigError(f"{_model_path(build_dir, step)} missing: run finn_build into {build_dir} first")
    source = "caller"
    if x is None:
        x, source = make_inputs(qonnx_path, n, seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    shape = _input_shape(qonnx_path)
    if x.shape[1:] != shape and x[:1].size == int(np.prod(shape)):  # e.g. (N, 1, 8, 8) for a (N, 64) model
        x = x.reshape((len(x),) + shape)
    ref_source = "caller"
    if reference is None:
        reference, ref_source = golden_outputs(qonnx_path, x), "hwkit golden model (hwkit.sim)"
        if reference is None:
            reference, ref_source = reference_outputs(qonnx_path, x)
    ties_ref, _ = reference_outputs(qonnx_path, x, ties_up=True)
    work = build_dir / "verify"
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "inputs.npy", x)
    job = {"build_dir": str(build_dir), "inputs": str(work / "inputs.npy"), "out_dir": str(work),
           "models": [[s, str(_model_path(build_dir, s))] for s in steps]}
    start = time.perf_counter()
    res = run_worker("execute", job, work, venv)
    report = {"inputs": len(x), "input_source": source, "reference": ref_source, "steps": {},
              "first_failing_step": None, "layer": None, "tie_step": None, "tie_layer": None,
              "reference_tie_elements": int(compare_outputs(reference, ties_ref)["mismatches"]),
              "golden_tie_hits": golden_tie_hits(qonnx_path, x), "tie_rounding": build_tie_rounding(build_dir),
              "execute_seconds": round(time.perf_counter() - start, 2)}
    previous = None
    for step in steps:
        got = np.load(res[step]["output"])
        exact, vs_ties = compare_outputs(reference, got), compare_outputs(ties_ref, got)
        if not exact["mismatches"]:  # exact: nothing to explain, whatever the ties-up model says
            vs_ties = {"mismatches": 0, "first": None}
        entry = {"mismatches": exact["mismatches"], "inputs_with_mismatch": exact["inputs_with_mismatch"],
                 "first": exact["first"], "unexplained": vs_ties["mismatches"],
                 "first_unexplained": vs_ties["first"], "seconds": res[step]["seconds"],
                 "mode": res[step]["mode"], "ms_per_input": res[step]["ms_per_input"]}
        report["steps"][step] = entry
        if vs_ties["mismatches"] and report["first_failing_step"] is None:
            report["first_failing_step"] = step
            if isinstance(vs_ties["first"], dict):
                report["layer"] = localize(qonnx_path, build_dir, previous, step, x[vs_ties["first"]["input"]], venv)
        elif exact["mismatches"] and not vs_ties["mismatches"] and report["tie_step"] is None:
            report["tie_step"] = step
            report["tie_layer"] = localize(qonnx_path, build_dir, None, step, x[exact["first"]["input"]], venv)
        if not vs_ties["mismatches"]:
            previous = step
    outs = [np.load(res[step]["output"]) for step in steps]
    report["pairwise"] = {f"{a} -> {b}": compare_outputs(oa, ob)["mismatches"]
                          for a, b, oa, ob in zip(steps, steps[1:], outs, outs[1:])}
    report["reference_inexact_scales"] = inexact_scales(qonnx_path)
    report["internal_ok"] = all(v == 0 for v in report["pairwise"].values())
    report["ok"] = report["first_failing_step"] is None
    report["explanation"] = _explain(report)
    report["bit_exact"] = report["ok"] and all(e["mismatches"] == 0 for e in report["steps"].values())
    write_json(work / "verify_report.json", report)
    return report


def _explain(report: dict) -> list[str]:
    """One line per kind of difference, with step and layer."""
    lines = []
    if report["tie_step"]:
        layer = report["tie_layer"] or {}
        n = max(e["mismatches"] for e in report["steps"].values())
        tied = [k for k, e in report["steps"].items() if e["mismatches"]]
        lines.append(f"{n} output elements differ only by rounding ties (at {', '.join(tied)}): "
                     "FINN's step_qonnx_to_finn turns Quant (round half to even) into MultiThreshold "
                     f"(ties round up); first differing layer {layer.get('node')} (was {layer.get('previous_node')})")
        rounding = (report.get("tie_rounding") or {}).get("rounding")
        if rounding in ("exact", "partial"):
            lines.append(f"hwkit corrected the thresholds at step_streamline ({rounding}); steps before it keep "
                         "FINN's ties-up conversion")
    if report["first_failing_step"]:
        layer = report["layer"] or {}
        cause = ("non-power-of-two scales make float execution inexact ("
                 + "; ".join(report["reference_inexact_scales"][:2]) + ")"
                 if report["reference_inexact_scales"] else "FINN changed the function")
        lines.append(f"{report['first_failing_step']} differs from the reference at {layer.get('node')} "
                     f"(was {layer.get('previous_node')}): {cause}")
    bad = {k: v for k, v in report["pairwise"].items() if v}
    if bad:
        lines.append("FINN steps disagree with each other: " + ", ".join(f"{k}: {v}" for k, v in bad.items()))
    return lines


def cppsim_requirements() -> tuple[Optional[dict], str]:
    """({'hlslib', 'xilinx_hls'}, '') when the cppsim tier can run, else (None, reason).

    finn-hlslib is on no package registry (FINN clones it at run time, impossible here) and
    cppsim links Vitis HLS's headers and csim library: the user points hwkit at both."""
    hlslib, hls = os.environ.get(HLSLIB_ENV), os.environ.get("XILINX_HLS")
    if not hlslib or not (Path(hlslib) / "mvau.hpp").is_file():
        return None, (f"cppsim needs a finn-hlslib checkout: set {HLSLIB_ENV} to the directory holding "
                      "mvau.hpp (not on any package registry)")
    if not hls or not (Path(hls) / "include" / "ap_int.h").is_file():
        return None, "cppsim needs Vitis HLS headers and csim libraries: set XILINX_HLS to the Vitis HLS install"
    return {"hlslib": str(Path(hlslib).resolve()), "xilinx_hls": str(Path(hls).resolve())}, ""


def verify_cppsim(qonnx_path, build_dir, x: np.ndarray, reference: Optional[np.ndarray] = None,
                  venv=None) -> dict:
    """Opt-in tier: FINN's specialized HLS layers compiled to C++ and run on ``x``."""
    need, reason = cppsim_requirements()
    if need is None:
        raise ToolMissingError(reason)
    build_dir = Path(build_dir).resolve()
    work = build_dir / "verify"
    deps = work / "finn_deps"
    deps.mkdir(parents=True, exist_ok=True)
    link = deps / "finn-hlslib"
    if not link.exists():
        link.symlink_to(need["hlslib"], target_is_directory=True)
    np.save(work / "cppsim_inputs.npy", np.ascontiguousarray(x, dtype=np.float32))
    models = build_dir / "intermediate_models"
    job = {"build_dir": str(build_dir), "out_dir": str(work), "deps_dir": str(deps),
           "xilinx_hls": need["xilinx_hls"], "inputs": str(work / "cppsim_inputs.npy"),
           "parent": str(models / "dataflow_parent.onnx"), "child": str(models / "step_minimize_bit_width.onnx")}
    res = run_worker("cppsim", job, work, venv)
    if reference is None:
        reference, _ = reference_outputs(qonnx_path, x, ties_up=True)
    return {**compare_outputs(reference, np.load(res["cppsim"]["output"])), **res["cppsim"]}
