"""The first model pass: refuse a malformed model in one line before any qonnx transformation or the
translation sees it (they would fail later with a misleading message, a traceback, or a 2 GB
allocation).

Checked, in this order: a graph with nodes and one input; initializer names unique and sizes sane
(declared size within :data:`MAX_ELEMENTS`, stored bytes matching the declared shape); every tensor
written once (by one node, never also an initializer or graph input); no cycle; static shapes within
:data:`MAX_ELEMENTS`; quantizer parameters (scale finite and > 0, zero point finite, bit width an
integer >= 1) and weights (NaN refused: it has no integer value; +-Inf warned: the quantizer
saturates it; NaN/Inf in other constants warned). Node-level checks (inputs, quantizer attributes, ONNX
schemas, trial shape inference) are in :mod:`hwkit.ir.validate_nodes`.
"""
from __future__ import annotations

import warnings

import numpy as np

from hwkit.errors import ConfigError, HwkitWarning, UnsupportedModelError
from hwkit.ir.validate_nodes import QUANT_OPS, _check_nodes, _name, _trial_shapes

MAX_BITS = 32              # quantizer widths (Int32Bias is the widest Brevitas exports)
MAX_ELEMENTS = 1 << 26      # 64 M values (256 MB as float32) in one tensor: far beyond any FPGA network
# which inputs of each quantizer are scale / zero point / bit widths (qonnx custom op signatures)
_PARAMS = {"Quant": {1: "scale", 2: "zero point", 3: "bit width"},
           "BipolarQuant": {1: "scale"},
           "Trunc": {1: "scale", 2: "zero point", 3: "input bit width", 4: "output bit width"},
           "Trunc6": {1: "scale", 2: "zero point", 3: "input bit width", 4: "output scale", 5: "output bit width"}}


def _dims(tensor_type) -> list:
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]


def _check_initializers(graph) -> dict:
    from onnx import TensorProto, helper, numpy_helper

    seen, arrays = set(), {}
    for init in graph.initializer:
        if init.name in seen:
            raise ConfigError(f"malformed model: initializer '{init.name}' is defined twice")
        seen.add(init.name)
        if any(d < 0 for d in init.dims):
            raise ConfigError(f"malformed model: initializer '{init.name}' has a negative dimension {list(init.dims)}")
        size = int(np.prod(init.dims, dtype=object)) if init.dims else 1
        if size > MAX_ELEMENTS:
            raise UnsupportedModelError(f"initializer '{init.name}' declares {size:,} values (shape {list(init.dims)}); "
                                        f"hwkit handles tensors up to {MAX_ELEMENTS:,}")
        if init.data_location == TensorProto.EXTERNAL:
            continue
        if init.HasField("raw_data"):
            try:
                itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
            except Exception:  # noqa: BLE001 - an unknown data type code
                raise ConfigError(f"malformed model: initializer '{init.name}' has unknown data type "
                                  f"{init.data_type}") from None
            if len(init.raw_data) != size * itemsize:
                raise ConfigError(f"malformed model: initializer '{init.name}' declares shape {list(init.dims)} "
                                  f"({size * itemsize} bytes) but stores {len(init.raw_data)} bytes")
        try:
            arrays[init.name] = numpy_helper.to_array(init)
        except Exception as err:  # noqa: BLE001 - the file's data does not match its header
            raise ConfigError(f"malformed model: initializer '{init.name}' cannot be read "
                              f"({type(err).__name__})") from None
    return arrays


def _check_writers(graph, arrays: dict) -> dict:
    producer = {}
    sources = {i.name for i in graph.input} | set(arrays)
    for i, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in producer:
                raise ConfigError(f"malformed model: tensor '{out}' is written by two nodes, "
                                  f"'{producer[out][1]}' and '{_name(node, i)}'")
            if out in sources:
                raise ConfigError(f"malformed model: node '{_name(node, i)}' writes '{out}', which is already "
                                  "a graph input or an initializer")
            producer[out] = (i, _name(node, i))
    return producer


def _check_acyclic(graph, producer: dict) -> None:
    """Kahn's algorithm over node -> node edges; a node left over sits on a cycle."""
    n = len(graph.node)
    users = [[] for _ in range(n)]
    indeg = [0] * n
    for j, node in enumerate(graph.node):
        for t in {t for t in node.input if t in producer}:
            users[producer[t][0]].append(j)
            indeg[j] += 1
    ready = [j for j in range(n) if indeg[j] == 0]
    done = 0
    while ready:
        j = ready.pop()
        done += 1
        for k in users[j]:
            indeg[k] -= 1
            if indeg[k] == 0:
                ready.append(k)
    if done < n:
        stuck = next(j for j in range(n) if indeg[j] > 0)
        raise ConfigError(f"malformed model: the graph has a cycle through node '{_name(graph.node[stuck], stuck)}'")


def _check_shapes(graph) -> None:
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if not vi.type.HasField("tensor_type"):
            continue
        dims = _dims(vi.type.tensor_type)
        if any(d is not None and d < 0 for d in dims):
            raise ConfigError(f"malformed model: tensor '{vi.name}' has a negative dimension {dims}")
        known = [d for d in dims[1:] if d]      # the batch dimension is rewritten to 1 later
        size = int(np.prod(known, dtype=object)) if known else 1
        if size > MAX_ELEMENTS:
            raise UnsupportedModelError(f"tensor '{vi.name}' has shape {dims} ({size:,} values per sample); "
                                        f"hwkit handles tensors up to {MAX_ELEMENTS:,}")


def _check_quantizers(graph, arrays: dict) -> None:
    weights = set()
    for i, node in enumerate(graph.node):
        if node.op_type not in QUANT_OPS:
            continue
        where = f"{node.op_type} node '{_name(node, i)}'"
        if node.input and node.input[0] in arrays:
            weights.add(node.input[0])
        kind = "Trunc6" if node.op_type == "Trunc" and len(node.input) == 6 else node.op_type
        for k, what in _PARAMS[kind].items():
            if k >= len(node.input) or node.input[k] not in arrays:
                continue
            v = arrays[node.input[k]]
            if v.dtype.kind not in "iuf":
                raise ConfigError(f"malformed model: {where}: {what} has data type {v.dtype}")
            if v.size == 0:
                raise ConfigError(f"malformed model: {where}: {what} '{node.input[k]}' is empty")
            v = v.astype(np.float64)
            if not np.isfinite(v).all():
                raise ConfigError(f"{where}: {what} '{node.input[k]}' contains NaN or Inf; the quantizer has no "
                                  "integer meaning (fix the export or retrain)")
            if what == "scale" and (v <= 0).any():
                raise ConfigError(f"{where}: scale '{node.input[k]}' must be > 0, got {v.min():g}")
            if "bit width" in what and ((v < 1).any() or (v != np.round(v)).any()):
                raise ConfigError(f"{where}: {what} '{node.input[k]}' must be an integer >= 1, got "
                                  f"{np.ravel(v)[:4].tolist()}")
            if "bit width" in what and (v > MAX_BITS).any():
                raise UnsupportedModelError(f"{where}: {what} {v.max():g} exceeds the {MAX_BITS} bits hwkit "
                                            "quantizers handle")
    for name, v in arrays.items():
        if v.dtype.kind != "f" or v.size == 0:
            continue
        nan, inf = int(np.isnan(v).sum()), int(np.isinf(v).sum())
        if nan and name in weights:
            raise ConfigError(f"weights '{name}' hold {nan} NaN value(s): NaN has no integer value "
                              "(retrain or fix the export)")
        if nan or inf:
            what = "weights" if name in weights else "constant"
            effect = "the quantizer saturates them" if name in weights and not nan else "results may be meaningless"
            warnings.warn(f"{what} '{name}' hold {nan} NaN and {inf} infinite value(s): {effect}", HwkitWarning,
                          stacklevel=2)


def _opset(model) -> int:
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


def validate_model(model):
    """``ModelWrapper -> ModelWrapper`` (unchanged): ConfigError/UnsupportedModelError on the first problem."""
    graph = model.graph
    if len(graph.node) == 0:
        raise ConfigError("malformed model: the graph has no nodes (an empty file, or not an ONNX model)")
    if len(graph.input) == 0 or len(graph.output) == 0:
        raise ConfigError("malformed model: the graph declares no input or no output")
    arrays = _check_initializers(graph)
    producer = _check_writers(graph, arrays)
    _check_acyclic(graph, producer)
    _check_nodes(graph, producer, arrays, _opset(model))
    _check_shapes(graph)
    _check_quantizers(graph, arrays)
    _trial_shapes(model)
    return model


__all__ = ["validate_model", "MAX_ELEMENTS"]
