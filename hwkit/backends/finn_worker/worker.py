"""FINN-side tasks. Data comes and goes through files in the build directory (.onnx, .npy, .json).

build    run FINN's step list (estimate-only or full) with per-step timing; copy the reports
execute  run models with FINN's python execution (finn.core.onnx_exec) on an input .npy
trace    per-layer activation tensors of models for one input, to name the layer that changed
cppsim   the specialized partition as compiled HLS C++ (needs finn-hlslib and Vitis HLS headers)
versions versions of the packages in this environment
"""
from __future__ import annotations

import copy
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import boot
import ties

RESULT = "hwkit_finn_result.json"
# Ops whose python execution hardcodes batch 1 (normal shapes built as (1, H, W, C)). Im2Col and
# ConvolutionInputGenerator run batched through batch_im2col; FMPadding and Pool batch as they are.
_BATCH1_OPS = ("StreamingMaxPool", "StreamingDataflowPartition", "Shuffle", "LabelSelect", "GlobalAccPool",
               "UpsampleNearestNeighbour", "DuplicateStreams", "StreamingConcat", "StreamingSplit")


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def cmd_versions(job: dict) -> dict:
    import importlib.metadata as md

    names = ["finn-plus", "qonnx", "onnx", "onnxruntime", "numpy", "brevitas", "torch"]
    return {n: md.version(n) for n in names}


def _timed_steps(bd_config, names: list[str], timings: list):
    """FINN's step functions wrapped to record wall time at sub-second resolution; each keeps
    its name because FINN names intermediate models after ``__name__``."""
    from finn.builder.build_dataflow_steps import build_dataflow_step_lookup

    wrapped = []
    for name in names:
        fn = build_dataflow_step_lookup[name] if isinstance(name, str) else name

        def step(model, cfg, _fn=fn, _name=getattr(fn, "__name__", str(name))):
            start = time.perf_counter()
            try:
                return _fn(model, cfg)
            finally:
                timings.append({"step": _name, "seconds": round(time.perf_counter() - start, 4)})

        step.__name__ = getattr(fn, "__name__", str(name))
        wrapped.append(step)
    return wrapped


def _ordered_folding_step(folding: list[dict]):
    """Apply PE/SIMD given per matrix-vector layer in graph order (hwkit's cycle model knows its
    layers, not FINN's node names); the applied result is written as a FINN folding config."""
    def step_hwkit_ordered_folding(model, cfg):
        from qonnx.custom_op.registry import getCustomOp

        mv = [n for n in model.graph.node if n.op_type.startswith(("MVAU", "VVAU"))]
        if len(mv) != len(folding):
            raise ValueError(f"folding lists {len(folding)} layers, FINN has {len(mv)} MVAU/VVAU nodes "
                             f"({', '.join(n.name for n in mv)})")
        applied = {"Defaults": {}}
        for node, attrs in zip(mv, folding):
            inst = getCustomOp(node)
            for key in ("PE", "SIMD"):
                if key in attrs and not (key == "SIMD" and node.op_type.startswith("VVAU")
                                         and "SIMD" not in inst.get_nodeattr_types()):
                    inst.set_nodeattr(key, int(attrs[key]))
            applied[node.name] = {k: int(attrs[k]) for k in ("PE", "SIMD") if k in attrs}
        _write(cfg.get_report_directory() / "hwkit_folding_config.json", applied)
        return model

    return step_hwkit_ordered_folding


def _exact_ties_step(table: dict, out: Path, report: dict):
    """FINN's step_streamline, then its thresholds moved to the golden model's tie rounding
    (ties.py). Same name, so the saved step_streamline.onnx and every later step are corrected."""
    from finn.builder.build_dataflow_steps import build_dataflow_step_lookup

    streamline = build_dataflow_step_lookup["step_streamline"]

    def step_streamline(model, cfg):
        model, rep = ties.apply_tie_table(streamline(model, cfg), table)
        report.update(rep)
        _write(out / "hwkit_finn_ties.json", rep)
        return model

    return step_streamline


def cmd_build(job: dict) -> dict:
    import os

    os.environ.pop("PYTEST_CURRENT_TEST", None)  # FINN re-raises instead of reporting under pytest
    out = Path(job["out_dir"]).resolve()
    bd, xsi_note = boot.boot(out, job.get("vivado_root"))
    import finn.builder.build_dataflow_config as bc

    names = list(bc.estimate_only_dataflow_steps if job.get("flow", "estimate") == "estimate"
                 else bc.default_build_dataflow_steps)
    notes = [xsi_note] if xsi_note and job.get("flow") == "full" else []
    outputs = [bc.DataflowOutputType.ESTIMATE_REPORTS]
    kwargs = dict(output_dir=str(out), synth_clk_period_ns=1000.0 / float(job["clock_mhz"]),
                  save_intermediate_models=True, verbose=False)
    if job.get("fpga_part"):
        kwargs["fpga_part"] = job["fpga_part"]
    if job.get("flow") == "full":
        outputs += [bc.DataflowOutputType.STITCHED_IP, bc.DataflowOutputType.OOC_SYNTH,
                    bc.DataflowOutputType.BITFILE, bc.DataflowOutputType.PYNQ_DRIVER,
                    bc.DataflowOutputType.DEPLOYMENT_PACKAGE]
        kwargs["board"] = job.get("finn_board")
        kwargs["shell_flow_type"] = bc.ShellFlowType.VIVADO_ZYNQ
        if xsi_note:  # FIFO sizing and performance measurement simulate RTL
            kwargs["auto_fifo_depths"] = False
            names.remove("step_measure_rtlsim_performance")
            notes.append("without XSI: minimal FIFO depths, no rtlsim performance measurement")
    if job.get("target_fps"):
        kwargs["target_fps"] = int(job["target_fps"])
    if job.get("folding_file"):
        kwargs["folding_config_file"] = Path(job["folding_file"]).resolve()
    tie_report: dict = {}
    if job.get("ties"):
        table = json.loads(Path(job["ties"]).read_text())
        names = [_exact_ties_step(table, out, tie_report) if n == "step_streamline" else n for n in names]
    timings: list = []
    steps = _timed_steps(bc, names, timings)
    if job.get("ordered_folding"):
        at = names.index("step_apply_folding_config")
        steps.insert(at + 1, _timed_steps(bc, [_ordered_folding_step(job["ordered_folding"])], timings)[0])
    cfg = bc.DataflowBuildConfig(steps=steps, generate_outputs=outputs, **kwargs)
    start = time.perf_counter()
    error = None
    try:
        rc = bd.build_dataflow_cfg(job["model"], cfg)
    except Exception as err:  # FINN normally returns -1 itself; keep the step record either way
        rc, error = -1, f"{type(err).__name__}: {err}"
    result = {"rc": rc, "seconds": round(time.perf_counter() - start, 3), "steps": timings,
              "step_names": [s.__name__ for s in steps], "notes": notes, "ties": tie_report or None}
    if rc != 0:
        log = out / "build_dataflow.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log.exists() else []
        result["error_tail"] = tail + ([error] if error else [])
    return result


def _load(path: str):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(path)


def _io(model):
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    return iname, oname, tuple(model.get_tensor_shape(iname))


def rebatch(model, n: int):
    """Copy of ``model`` whose batch dimension is ``n``, or None where FINN's python execution
    hardcodes batch 1. Only shape metadata changes; callers check it against batch-1 runs."""
    from qonnx.transformation.infer_shapes import InferShapes

    if any(node.op_type.startswith(_BATCH1_OPS) for node in model.graph.node):
        return None
    m = copy.deepcopy(model)
    g = m.graph
    for t in list(g.input) + list(g.output):
        t.type.tensor_type.shape.dim[0].dim_value = n
    for node in g.node:
        if node.op_type == "Reshape":
            shape = m.get_initializer(node.input[1])
            if shape is not None and shape.size and shape[0] == 1:
                m.set_initializer(node.input[1], np.concatenate([[n], shape[1:]]).astype(np.int64))
        for a in node.attribute:
            if a.name == "numInputVectors" and len(a.ints):
                a.ints[0] = n
            elif a.name == "input_shape" and node.op_type == "Im2Col" and a.s.startswith(b"(1,"):
                a.s = b"(%d," % n + a.s[3:]  # the shape string Im2Col infers its output from
            elif a.name in ("lhs_shape", "rhs_shape", "out_shape") and len(a.ints) > 1 and a.ints[0] == 1:
                which = {"lhs_shape": 0, "rhs_shape": 1}.get(a.name)
                if which is None or m.get_initializer(node.input[which]) is None:
                    a.ints[0] = n
    inits = {t.name for t in g.initializer}
    for vi in g.value_info:  # FINN ops check their input shapes during inference: keep them known
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and len(dims) > 1 and dims[0].dim_value == 1:
            dims[0].dim_value = n
    return m.transform(InferShapes())


def batch_im2col() -> None:
    """qonnx's Im2Col orders a batch wrongly (its im2col output is (k, position, sample) but read
    back as (sample, ...)); run it per sample instead, so graphs with convolutions run batched.
    FINN's ConvolutionInputGenerator executes through the same method."""
    from qonnx.custom_op.general.im2col import Im2Col

    if getattr(Im2Col.execute_node, "hwkit_batched", False):
        return
    single = Im2Col.execute_node

    def execute_node(self, context, graph):
        iname, oname = self.onnx_node.input[0], self.onnx_node.output[0]
        x = context[iname]
        if x.shape[0] == 1:
            return single(self, context, graph)
        outs = []
        for i in range(x.shape[0]):
            ctx = {iname: x[i:i + 1], oname: None}
            single(self, ctx, graph)
            outs.append(ctx[oname])
        context[oname] = np.concatenate(outs)

    execute_node.hwkit_batched = True
    Im2Col.execute_node = execute_node


def run_model(model, x: np.ndarray, chunk: int = 256, check: int = 16) -> tuple[np.ndarray, str]:
    """Outputs of ``model`` for every row of ``x`` with FINN's python execution.

    Batched where the graph allows it; the batched copy must reproduce the batch-1 outputs on the
    first ``check`` inputs, else every input runs at batch 1."""
    from finn.core.onnx_exec import execute_onnx

    iname, oname, shape = _io(model)
    per = tuple(shape[1:])
    one = [execute_onnx(model, {iname: x[i].reshape((1,) + per)})[oname] for i in range(min(check, len(x)))]
    if len(x) <= check:
        return np.concatenate(one), "batch1"
    outs, mode = None, "batch1"
    try:
        big = rebatch(model, chunk)
        if big is not None:
            outs, cache = [], {chunk: big}
            for s in range(0, len(x), chunk):
                part = x[s:s + chunk]
                if len(part) not in cache:
                    cache[len(part)] = rebatch(model, len(part))
                outs.append(execute_onnx(cache[len(part)], {iname: part.reshape((len(part),) + per)})[oname])
                if s == 0 and not np.array_equal(outs[0][:len(one)], np.concatenate(one)):
                    raise ValueError("batched execution differs from batch 1")
            outs, mode = np.concatenate(outs), f"batch{chunk}"
    except Exception:  # FINN op without batch support: fall back to batch 1
        outs = None
    if outs is None:
        rest = [execute_onnx(model, {iname: x[i].reshape((1,) + per)})[oname] for i in range(len(one), len(x))]
        outs = np.concatenate(one + rest)
    return outs, mode


def cmd_execute(job: dict) -> dict:
    out = Path(job["out_dir"]).resolve()
    boot.boot(Path(job["build_dir"]), None, builder=False)
    batch_im2col()
    x = np.load(job["inputs"]).astype(np.float32)
    result = {}
    for label, path in job["models"]:
        start = time.perf_counter()
        y, mode = run_model(_load(path), x)
        np.save(out / f"{label}.npy", y)
        secs = time.perf_counter() - start
        result[label] = {"seconds": round(secs, 3), "mode": mode, "ms_per_input": round(1e3 * secs / len(x), 3),
                         "output": str(out / f"{label}.npy")}
    return result


def _is_activation(model, node) -> bool:
    """Nodes whose output is a quantized activation: the tensors each FINN step must preserve."""
    op = node.op_type
    if op in ("Quant", "BipolarQuant"):
        return model.get_initializer(node.input[0]) is None  # weights are quantized initializers
    if op.startswith(("MVAU", "VVAU")):
        from qonnx.custom_op.registry import getCustomOp

        return getCustomOp(node).get_nodeattr("noActivation") == 0
    return op == "MultiThreshold" or op.startswith("Thresholding")


def cmd_trace(job: dict) -> dict:
    """For each model: [(node name, op type, sorted activation values)] in graph order, for one
    input. Values are sorted because layouts differ between steps (NCHW vs NHWC)."""
    from finn.core.onnx_exec import execute_onnx

    boot.boot(Path(job["build_dir"]), None, builder=False)
    x = np.load(job["inputs"]).astype(np.float32)
    out = Path(job["out_dir"]).resolve()
    result = {}
    for label, path in job["models"]:
        model = _load(path)
        iname, _oname, shape = _io(model)
        ctx = execute_onnx(model, {iname: x.reshape(shape)}, return_full_exec_context=True)
        acts = [(n.name, n.op_type, n.output[0]) for n in model.graph.node if _is_activation(model, n)]
        arrays = {f"a{i:03d}": np.sort(np.asarray(ctx[t]).ravel()) for i, (_n, _o, t) in enumerate(acts)}
        np.savez(out / f"trace_{label}.npz", **arrays)
        result[label] = {"layers": [[n, o] for n, o, _t in acts], "file": str(out / f"trace_{label}.npz")}
    return result


def cmd_cppsim(job: dict) -> dict:
    """The specialized, folded partition (HLS C++ per layer) compiled with g++ against finn-hlslib
    and Vitis HLS headers, run inside the dataflow parent on the inputs."""
    import os

    out = Path(job["out_dir"]).resolve()
    os.environ["FINN_DEPS"] = job["deps_dir"]  # holds finn-hlslib (a link to the user's checkout)
    os.environ["XILINX_HLS"] = job["xilinx_hls"]
    boot.boot(Path(job["build_dir"]), None, builder=False)
    from finn.transformation.fpgadataflow.compile_cppsim import CompileCppSim
    from finn.transformation.fpgadataflow.prepare_cppsim import PrepareCppSim
    from finn.transformation.fpgadataflow.set_exec_mode import SetExecMode
    from qonnx.custom_op.registry import getCustomOp

    child = _load(job["child"]).transform(SetExecMode("cppsim")).transform(PrepareCppSim())
    child = child.transform(CompileCppSim())
    child.save(str(out / "cppsim_child.onnx"))
    parent = _load(job["parent"])
    for node in parent.graph.node:
        if node.op_type == "StreamingDataflowPartition":
            getCustomOp(node).set_nodeattr("model", str(out / "cppsim_child.onnx"))
    x = np.load(job["inputs"]).astype(np.float32)
    start = time.perf_counter()
    y, mode = run_model(parent, x)
    np.save(out / "cppsim.npy", y)
    return {"cppsim": {"output": str(out / "cppsim.npy"), "mode": mode,
                       "seconds": round(time.perf_counter() - start, 3)}}


COMMANDS = {"build": cmd_build, "execute": cmd_execute, "trace": cmd_trace, "cppsim": cmd_cppsim,
            "versions": cmd_versions}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        print(f"usage: finn_worker {{{'|'.join(COMMANDS)}}} JOB.json", file=sys.stderr)
        return 2
    job_path = Path(argv[1])
    job = json.loads(job_path.read_text())
    result_path = job_path.with_name(job_path.stem + ".result.json")
    try:
        result = {"ok": True, **COMMANDS[argv[0]](job)}
    except Exception as err:
        result = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    _write(result_path, result)
    print(f"[finn_worker] {argv[0]} {'ok' if result['ok'] else 'FAILED: ' + result['error']}")
    return 0 if result["ok"] else 1
