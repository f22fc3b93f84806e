"""Node-level checks of :mod:`hwkit.ir.validate`: every input provided, quantizers with their inputs
and attributes, standard ops matching their ONNX schema, and a trial of qonnx's shape inference, so
that a malformed node is refused in one line before any later pass meets it."""
from __future__ import annotations

import numpy as np

from hwkit.errors import ConfigError

QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")


def _name(node, i: int) -> str:
    return node.name or f"{node.op_type}_{i}"


_ARITY = {"Quant": (4,), "BipolarQuant": (2,), "Trunc": (5, 6)}   # qonnx Trunc v2 adds an output scale
_QUANT_ATTRS = {"Quant": ("signed", "narrow", "rounding_mode"), "Trunc": ("rounding_mode",), "BipolarQuant": ()}
ROUNDING = {"ROUND", "HALF_EVEN", "CEIL", "FLOOR", "ROUND_TO_ZERO", "UP", "DOWN", "HALF_UP", "HALF_DOWN"}


def _check_nodes(graph, producer: dict, arrays: dict, opset: int) -> None:
    """Inputs exist; quantizers have their inputs and attributes; standard ops match their ONNX schema
    (input count, attribute names and required attributes) so that later passes meet no surprise."""
    from onnx import defs, helper

    known = {i.name for i in graph.input} | set(arrays) | set(producer)
    for i, node in enumerate(graph.node):
        where = f"node '{_name(node, i)}' ({node.op_type})"
        for t in node.input:
            if t and t not in known:
                raise ConfigError(f"malformed model: {where} reads '{t}', which no node, initializer or graph "
                                  "input provides")
        attrs = {a.name: a for a in node.attribute}
        if node.op_type in _ARITY:
            if len(node.input) not in _ARITY[node.op_type] or not all(node.input):
                raise ConfigError(f"malformed model: {where} needs {' or '.join(map(str, _ARITY[node.op_type]))} "
                                  f"inputs, has {len([t for t in node.input if t])}")
            for name in _QUANT_ATTRS[node.op_type]:
                if name not in attrs and name != "rounding_mode":
                    raise ConfigError(f"malformed model: {where} lacks attribute '{name}'")
                if name not in attrs:
                    continue
                value = helper.get_attribute_value(attrs[name])
                if name == "rounding_mode":
                    text = value.decode(errors="replace") if isinstance(value, bytes) else value
                    if not isinstance(text, str) or text.upper() not in ROUNDING:
                        raise ConfigError(f"malformed model: {where}: rounding_mode {value!r} is not one of "
                                          f"{', '.join(sorted(ROUNDING))}")
                elif value not in (0, 1) or isinstance(value, float):
                    raise ConfigError(f"malformed model: {where}: attribute '{name}' must be 0 or 1, got {value!r}")
            continue
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = defs.get_schema(node.op_type, opset, "")
        except Exception:  # noqa: BLE001 - not an ONNX op: the translation names it as unsupported
            continue
        n_in = len(node.input)
        if not schema.min_input <= n_in <= schema.max_input:
            raise ConfigError(f"malformed model: {where} has {n_in} inputs, ONNX allows "
                              f"{schema.min_input}..{schema.max_input}")
        for name, a in attrs.items():
            if name not in schema.attributes:
                raise ConfigError(f"malformed model: {where} has an attribute '{name}' that {node.op_type} "
                                  "does not define")
            if a.type != schema.attributes[name].type:
                raise ConfigError(f"malformed model: {where}: attribute '{name}' has the wrong type")
            value = helper.get_attribute_value(a)
            if isinstance(value, float) and not np.isfinite(value):
                raise ConfigError(f"malformed model: {where}: attribute '{name}' is {value}")
        for name, spec in schema.attributes.items():
            if spec.required and name not in attrs:
                raise ConfigError(f"malformed model: {where} lacks required attribute '{name}'")


def _trial_shapes(model) -> None:
    """qonnx's shape inference on a copy: a failure here is the file's, said in one line now rather
    than as a traceback from the clean-up pass."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    trial = ModelWrapper(model.model.SerializeToString())
    for node in trial.graph.node:
        if node.op_type in QUANT_OPS:
            node.domain = "qonnx.custom_op.general"
    try:
        trial = trial.transform(InferShapes())
    except Exception as err:  # noqa: BLE001 - onnx/qonnx raise bare Exceptions for malformed graphs
        msg = " ".join(str(err).split())[:200]
        raise ConfigError(f"malformed model: shape inference fails ({type(err).__name__}: {msg})") from None
    for i, node in enumerate(trial.graph.node):     # quantizer parameters must broadcast onto their input
        if node.op_type == "Gemm":
            _check_gemm(trial, node, i)
        if node.op_type not in QUANT_OPS or not node.input:
            continue
        shape = trial.get_tensor_shape(node.input[0])
        if shape is None or any(not isinstance(d, int) or d < 1 for d in shape):
            continue
        for k in range(1, len(node.input)):
            p = trial.get_initializer(node.input[k])
            if p is None:
                continue
            try:
                ok = np.broadcast_shapes(tuple(shape), p.shape) == tuple(shape)
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"malformed model: {node.op_type} node '{_name(node, i)}': parameter "
                                  f"'{node.input[k]}' of shape {list(p.shape)} does not broadcast onto its input "
                                  f"{list(shape)}")


def _check_gemm(model, node, i: int) -> None:
    """Inner dimensions of A and B agree under transA/transB (shape inference does not insist)."""
    a, b = (model.get_tensor_shape(t) for t in node.input[:2])
    if not a or not b or len(a) != 2 or len(b) != 2 or not all(isinstance(d, int) and d > 0 for d in (*a, *b)):
        return
    attrs = {x.name: x.i for x in node.attribute if x.name in ("transA", "transB")}
    ka = a[0] if attrs.get("transA") else a[1]
    kb = b[1] if attrs.get("transB") else b[0]
    if ka != kb:
        raise ConfigError(f"malformed model: Gemm node '{_name(node, i)}': A {a} and B {b} do not multiply "
                          f"(transA={attrs.get('transA', 0)}, transB={attrs.get('transB', 0)})")


