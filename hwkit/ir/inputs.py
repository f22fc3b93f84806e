"""Integer inputs of an HwGraph: quantize float data exactly as the QONNX graph does (float32), or
draw random points of the input quantizer's grid."""
from __future__ import annotations

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import HwGraph, InputPrep


def _prep(graph: HwGraph) -> InputPrep:
    prep = graph.input_prep
    if prep is None:
        raise ConfigError(f"graph '{graph.name}' has no input quantizer record (was it made by hwkit.ir.lower?)")
    return prep


def quantize_input(graph: HwGraph, x_float) -> np.ndarray:
    """Float model inputs (N, *onnx_input_shape) -> integer input stream (N, *stream_shape)."""
    from qonnx.custom_op.general.quant import resolve_rounding_mode

    prep = _prep(graph)
    x = np.asarray(x_float, dtype=np.float32)
    want = tuple(prep.model_input_shape)
    if x.ndim < 1 or int(np.prod(x.shape[1:])) != int(np.prod(want)):
        raise ConfigError(f"inputs of shape {x.shape} do not fit the model input (N, {', '.join(map(str, want))})")
    n = x.shape[0]
    x = x.reshape((n,) + want)
    for op in prep.ops:
        if op.kind == "Reshape":
            x = x.reshape((n,) + tuple(op.arg[1:]))
        elif op.kind == "Transpose":
            x = x.transpose(op.arg)
        else:
            c = op.const
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op.kind]
            x = (f(c, x) if op.swapped else f(x, c)).astype(np.float32)
    shape = tuple(prep.onnx_shape)
    try:
        x = x.reshape((n,) + shape)
    except ValueError:
        raise ConfigError(f"inputs of shape {x_float.shape[1:]} do not fit the model input {shape}") from None
    u = x / prep.scale + prep.zeropt
    if prep.bipolar:
        q = np.where(u >= 0, 1, -1)
    else:
        q = resolve_rounding_mode(prep.mode)(np.clip(u, prep.qmin, prep.qmax))
    return to_stream(graph, q.astype(np.int64))


def to_stream(graph: HwGraph, q_onnx: np.ndarray) -> np.ndarray:
    """(N, *onnx_shape) integers in ONNX layout -> (N, *stream_shape) channels-last."""
    prep = _prep(graph)
    st = graph.streams[prep.stream]
    n = q_onnx.shape[0]
    flat = np.empty((n, int(np.prod(st.shape))), dtype=np.int64)
    flat[:, prep.index.ravel()] = q_onnx.reshape(n, -1)
    return flat.reshape((n,) + tuple(st.shape))


def to_onnx(graph: HwGraph, stream: str, values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(N, *stream_shape) -> (N, *onnx_shape) through a probe index."""
    n = values.shape[0]
    return values.reshape(n, -1)[:, index.ravel()].reshape((n,) + index.shape)


def random_grid_inputs(graph: HwGraph, n: int, seed: int = 0) -> np.ndarray:
    """``n`` integer inputs drawn uniformly from the input quantizer's grid (stream layout)."""
    prep = _prep(graph)
    st = graph.streams[prep.stream]
    rng = np.random.default_rng(seed)
    shape = (int(n),) + tuple(st.shape)
    if prep.bipolar:
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)
    return rng.integers(prep.qmin, prep.qmax + 1, size=shape, dtype=np.int64)


def grid_to_float(graph: HwGraph, x_int: np.ndarray) -> np.ndarray:
    """Integer input stream -> the float tensor (ONNX layout) that the first quantizer maps onto it."""
    prep = _prep(graph)
    q = to_onnx(graph, prep.stream, x_int, prep.index).astype(np.float32)
    return ((q - prep.zeropt) * prep.scale).astype(np.float32)
