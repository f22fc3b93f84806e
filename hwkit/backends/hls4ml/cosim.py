"""C-simulation of an hls4ml project against the golden model, on integer-grid inputs."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.errors import ConfigError, UnsupportedModelError


def _input_shape(mw) -> tuple:
    return tuple(int(d) for d in mw.get_tensor_shape(mw.graph.input[0].name))


def to_clean_layout(x: np.ndarray, orig_shape: tuple, clean_shape: tuple) -> np.ndarray:
    """Inputs are given in the exported model's layout (NCHW); the cleaned model may be channels-last."""
    if tuple(x.shape[1:]) == tuple(clean_shape[1:]):
        return x
    if len(clean_shape) == 2 and int(np.prod(x.shape[1:])) == clean_shape[1]:
        return x.reshape(len(x), -1)
    if x.ndim == 4 and tuple(clean_shape[1:]) == (orig_shape[2], orig_shape[3], orig_shape[1]):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.ndim == 3 and tuple(clean_shape[1:]) == (orig_shape[2], orig_shape[1]):
        return np.ascontiguousarray(x.transpose(0, 2, 1))
    raise ConfigError(f"input shape {x.shape[1:]} does not match the model input {orig_shape[1:]}")


def grid_inputs(grid, shape: tuple, n: int, seed: int = 0) -> np.ndarray:
    """Uniform random integers over the input type's whole range (the integer grid)."""
    rng = np.random.default_rng(seed)
    return rng.integers(grid.lo, grid.hi + 1, size=(n, *shape), dtype=np.int64)


def quantize_to_grid(grid, x: np.ndarray) -> np.ndarray:
    """Float inputs -> input integers the way QONNX Quant does it (round half to even, saturate)."""
    return np.clip(np.round(np.asarray(x, np.float64) * 2.0**grid.frac), grid.lo, grid.hi).astype(np.int64)


def golden_inputs_and_outputs(model, n: int, x, seed: int):
    """Golden model path: inputs drawn/quantized by hwkit.ir, outputs of hwkit.sim as real values
    (integer * stream scale, exact in float64 for power-of-two scales). Returns (x_onnx, ref, graph)."""
    from hwkit.ir import grid_to_float, lower, quantize_input, random_grid_inputs
    from hwkit.sim import simulate

    graph = lower(model)
    parts = [random_grid_inputs(graph, n, seed)] if n else []
    if x is not None:
        parts.append(quantize_input(graph, x))
    if not parts:
        raise ConfigError("cosim needs n > 0 or inputs x")
    x_int = np.concatenate(parts)
    x_onnx = grid_to_float(graph, x_int).astype(np.float64)
    from hwkit.ir.graph import FloatTail

    out = graph.outputs[0]
    res = simulate(graph, x_int)
    y = res.outputs[out]
    # the golden graph may move the last bias and scale into a host-side FloatTail; hls4ml computes
    # them in fixed point, so compare against the tail's exact float64 result when it is affine only
    tail = next((lay for lay in graph.layers if isinstance(lay, FloatTail) and list(lay.inputs) == [out]), None)
    if tail is not None and not tail.softmax and not tail.ops:
        ref = np.asarray(res.float_outputs[tail.outputs[0]], np.float64)
    else:
        ref = y.astype(np.float64) * np.asarray(graph.streams[out].scale, np.float64)
    return x_onnx, ref.reshape(len(y), -1), graph


def _compare(ref: np.ndarray, got: np.ndarray) -> dict:
    try:
        from hwkit.verify import compare
    except ImportError:
        compare = None
    if compare is not None:
        rep = compare({"output": ref}, {"output": got}, backend="hls4ml")
        detail = "; ".join(str(e) for e in rep.entries[:5])
        return {"mismatches": int(rep.mismatches), "ok": bool(rep.ok), "detail": detail}
    bad = np.argwhere(ref != got)
    detail = ""
    if len(bad):
        s, e = bad[0]
        detail = f"first mismatch: input {s}, output element {e}: golden {ref[s, e]!r} hls4ml {got[s, e]!r}"
    return {"mismatches": int(len(bad)), "ok": not len(bad), "detail": detail}


def cosim_hls4ml(qonnx_model, out_dir, n: int = 1000, x: Optional[np.ndarray] = None, seed: int = 0,
                 io_type: str = "parallel", backend: str = "Vitis", reuse_factor=1, part: Optional[str] = None,
                 approximate: bool = False, name: str = "hwkit", project=None, reference: str = "golden") -> dict:
    """Generate + compile (cached) + run ``n`` random grid inputs and the float inputs ``x`` (quantized to
    the input grid, e.g. a test set) through the C emulation and the reference; count mismatches.

    The reference is the golden model; a model it cannot lower is an UnsupportedModelError. qonnx's
    own execution is used only when asked for by name (``reference="qonnx"``), and the result says so:
    the reference never changes silently."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hwkit.backends.hls4ml.project import DEFAULT_PART, compile_project, generate_hls4ml_project

    if project is None:
        project = generate_hls4ml_project(qonnx_model, out_dir, io_type=io_type, part=part or DEFAULT_PART,
                                          reuse_factor=reuse_factor, backend=backend, approximate=approximate,
                                          name=name)
    compile_project(project)
    orig = ModelWrapper(str(qonnx_model)) if isinstance(qonnx_model, (str, Path)) else qonnx_model
    orig_shape, clean_shape = _input_shape(orig), _input_shape(ModelWrapper(str(project.qonnx_clean)))
    if reference not in ("golden", "qonnx"):
        raise ConfigError(f"cosim reference must be 'golden' or 'qonnx', got '{reference}'")
    t0 = time.monotonic()
    if reference == "golden":
        try:
            x_ref, ref, _ = golden_inputs_and_outputs(project.qonnx_ref, n, x, seed)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"hls4ml cosim compares with the golden model, which cannot lower this "
                                        f"model: {str(err).splitlines()[0][:200]}") from None
        reference = "hwkit.sim (golden)"
    else:  # asked for by name: qonnx's own execution of the model
        g = project.in_grid
        parts = [grid_inputs(g, orig_shape[1:], n, seed)] if n else []
        if x is not None:
            parts.append(quantize_to_grid(g, x).reshape(len(x), *orig_shape[1:]))
        if not parts:
            raise ConfigError("cosim needs n > 0 or inputs x")
        x_ref = np.concatenate(parts) * 2.0**-g.frac
        from hwkit.verify import qonnx_output

        ref = qonnx_output(project.qonnx_ref, x_ref).astype(np.float64).reshape(len(x_ref), -1)
        reference = "qonnx.execute_onnx (asked for instead of the golden model)"
    t_ref = time.monotonic() - t0
    x_real = to_clean_layout(x_ref, orig_shape, clean_shape)
    t0 = time.monotonic()
    got = project.predict(x_real)
    t_hls = time.monotonic() - t0
    res = _compare(ref, got)
    res.update({"samples": int(len(x_real)), "grid_samples": int(n), "dataset_samples": 0 if x is None else len(x),
                "reference": reference,
                "hls_samples_per_s": round(len(x_real) / max(t_hls, 1e-9), 1),
                "reference_samples_per_s": round(len(x_real) / max(t_ref, 1e-9), 1),
                "compile_seconds": round(project.compile_seconds, 3), "compile_cached": project.cached,
                **{k: v for k, v in project.info().items() if k in ("backend", "io_type", "out_dir", "project",
                                                                     "notes", "reuse_factor")}})
    return res
