"""ONNX-level passes run before translation: each is ``ModelWrapper -> ModelWrapper`` and pure
(it works on a copy). They reuse qonnx transformations and only normalise what real exports
contain, so that :mod:`hwkit.ir.translate` sees one canonical form."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hwkit.errors import ConfigError, UnsupportedModelError


def load(model_or_path):
    """Path or ModelWrapper or onnx ModelProto -> a private ModelWrapper copy."""
    from qonnx.core.modelwrapper import ModelWrapper

    if isinstance(model_or_path, ModelWrapper):
        return ModelWrapper(model_or_path.model.SerializeToString())
    if isinstance(model_or_path, (str, Path)):
        p = Path(model_or_path)
        if not p.is_file():
            raise ConfigError(f"model file not found: {p}")
        try:
            return ModelWrapper(str(p))
        except Exception as e:  # noqa: BLE001 - any parse failure is the user's file
            raise ConfigError(f"cannot read {p} as ONNX: {type(e).__name__}: {e}") from None
    if hasattr(model_or_path, "SerializeToString"):
        return ModelWrapper(model_or_path.SerializeToString())
    raise ConfigError(f"expected a QONNX path or ModelWrapper, got {type(model_or_path).__name__}")


def fix_batch(model):
    """Give the single graph input batch size 1 (exports may leave it symbolic or >1)."""
    from qonnx.transformation.change_batchsize import ChangeBatchSize

    if len(model.graph.input) != 1:
        raise UnsupportedModelError(f"graph has {len(model.graph.input)} inputs; hwkit lowers single-input models")
    inp = model.graph.input[0]
    dims = inp.type.tensor_type.shape.dim
    if not dims:
        raise UnsupportedModelError(f"graph input '{inp.name}' has no static shape")
    for d in dims[1:]:
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise UnsupportedModelError(f"graph input '{inp.name}' has a dynamic non-batch dimension")
    if not dims[0].HasField("dim_value") or dims[0].dim_value != 1:
        dims[0].ClearField("dim_param")
        dims[0].dim_value = 1
        model = cleanup(model.transform(ChangeBatchSize(1)))
    return model


def cleanup(model):
    """qonnx clean-up without renaming: InferShapes, FoldConstants (quantizers kept), nodes no output
    depends on (a dangling branch would become hardware whose output nobody reads, stalling the
    stream that feeds it), unused and static inputs removed. Node and tensor names stay the user's,
    so errors can name them."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import RemoveStaticGraphInputs, RemoveUnusedTensors
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.remove import RemoveUnusedNodes

    for node in model.graph.node:
        if node.op_type in ("Quant", "BipolarQuant", "Trunc"):
            node.domain = "qonnx.custom_op.general"
    for t in (InferShapes(), FoldConstants(exclude_op_types=["Quant", "BipolarQuant"]), RemoveUnusedNodes(),
              RemoveUnusedTensors(),
              RemoveStaticGraphInputs(), InferShapes()):
        model = model.transform(t)
    taken = {n.name for n in model.graph.node}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
    return model


def check_static_shapes(model):
    """Every tensor the translation touches needs a known shape with batch 1."""
    for node in model.graph.node:
        for name in node.output:
            shape = model.get_tensor_shape(name)
            if shape is None or any((not isinstance(d, (int, np.integer))) or d <= 0 for d in shape):
                raise UnsupportedModelError(
                    f"node '{node.name}' ({node.op_type}) output '{name}' has dynamic shape {shape}")
    return model


from hwkit.ir.validate import validate_model  # noqa: E402 (hwkit/ir/validate.py: malformed models in one line)

MODEL_PASSES = [validate_model, cleanup, fix_batch, check_static_shapes]
