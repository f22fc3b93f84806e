"""Brevitas -> QONNX: the one door out of software (DESIGN rule 1: QONNX is the interchange)."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

from hwkit.errors import ConfigError, UnsupportedModelError


def _is_pow2(values: np.ndarray) -> bool:
    values = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if values.size == 0 or np.any(values == 0):
        return False
    mantissa, _ = np.frexp(values)
    return bool(np.all(mantissa == 0.5))


def cleanup(model: ModelWrapper) -> ModelWrapper:
    """qonnx's standard cleanup: shapes, constants folded, names made unique and readable."""
    from qonnx.util.cleanup import cleanup_model

    return cleanup_model(model)


def set_batch_size(model: ModelWrapper, batch_size: Optional[int]) -> ModelWrapper:
    """Bake ``batch_size`` into the graph, or make the batch dimension dynamic (``None``).

    The exporter traces with batch 1 and writes it into Reshape shapes; qonnx's ChangeBatchSize
    rewrites those. A dynamic batch suits onnxruntime; qonnx's executor needs a fixed one."""
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(ChangeBatchSize(1 if batch_size is None else int(batch_size)))
    model = model.transform(InferShapes())
    if batch_size is None:
        for tensor in list(model.graph.input) + list(model.graph.output):
            tensor.type.tensor_type.shape.dim[0].dim_param = "batch"
        for node in model.get_nodes_by_op_type("Reshape"):
            shape = model.get_initializer(node.input[1])
            if shape is not None and shape.size and -1 not in shape[1:]:
                model.set_initializer(node.input[1], np.concatenate([[-1], shape[1:]]).astype(np.int64))
    return model


def hardware_friendliness(model: ModelWrapper) -> list[str]:
    """Everything that keeps hardware from matching software exactly, one line each:
    Quant nodes whose scale is not a power of two, and float (unquantized) biases."""
    issues = []
    for node in model.graph.node:
        if node.op_type in ("Quant", "BipolarQuant", "Trunc"):
            scale = model.get_initializer(node.input[1])
            if scale is not None and not _is_pow2(scale):
                issues.append(f"{node.op_type} node '{node.name}': scale {np.ravel(scale)[:3].tolist()} "
                              "is not a power of two")
        if node.op_type == "Add":
            for inp in node.input:
                value = model.get_initializer(inp)
                if value is not None and model.find_producer(inp) is None and value.size > 1:
                    issues.append(f"Add node '{node.name}': float bias '{inp}' is not quantized")
        if node.op_type == "BatchNormalization":
            issues.append(f"BatchNormalization node '{node.name}': float affine (folded into thresholds)")
    return issues


def check_finite(model: torch.nn.Module) -> None:
    """NaN or Inf in a parameter or buffer has no integer (hardware) value: refuse to export it."""
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point():
            bad = int((~torch.isfinite(t.detach())).sum())
            if bad:
                raise ConfigError(f"{'parameter' if isinstance(t, torch.nn.Parameter) else 'buffer'} '{name}' holds "
                                  f"{bad} NaN/infinite value(s) of {t.numel()}: retrain (a diverged training?) "
                                  "before exporting")


def export_qonnx(model: torch.nn.Module, in_shape: tuple[int, ...], path: str | os.PathLike,
                 batch_size: Optional[int] = 1, strict: bool = False) -> ModelWrapper:
    """Export ``model`` to a cleaned QONNX file at ``path`` and return it as a ModelWrapper.

    Writes atomically (temporary name, then rename): a failed export leaves no file behind.
    ``strict`` turns hardware-friendliness warnings into an UnsupportedModelError."""
    from brevitas.export import export_qonnx as brevitas_export

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"export batch size must be an integer >= 1 (or None for dynamic), got {batch_size!r}")
    check_finite(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x = torch.rand(1, *in_shape)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            brevitas_export(model, args=x, export_path=str(raw), dynamo=False)
        wrapped = set_batch_size(cleanup(ModelWrapper(str(raw))), batch_size)
        issues = hardware_friendliness(wrapped)
        if strict and issues:
            raise UnsupportedModelError(f"not hardware friendly: {issues[0]} (and {len(issues) - 1} more)"
                                        if len(issues) > 1 else f"not hardware friendly: {issues[0]}")
        for issue in issues:
            warnings.warn(issue)
        part = Path(tmp) / "model.onnx"
        wrapped.save(str(part))
        os.replace(part, path)
    return ModelWrapper(str(path))


def export_checkpoint(checkpoint: Path, out: Optional[Path] = None, batch_size: Optional[int] = 1,
                      strict: bool = False) -> tuple[Path, list[str]]:
    """Checkpoint (from hwkit.train) -> QONNX file; returns the path and hardware issues."""
    from hwkit.checkpoint import load_checkpoint

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"export batch size must be an integer >= 1 (or None for dynamic), got {batch_size!r}")
    model, cfg = load_checkpoint(checkpoint)
    out = Path(out) if out else Path(checkpoint).with_suffix(".onnx")
    if out.suffix != ".onnx":
        raise ConfigError(f"export path must end in .onnx, got '{out}'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = export_qonnx(model, tuple(cfg["in_shape"]), out, batch_size, strict)
    return out, hardware_friendliness(wrapped)


__all__ = ["export_qonnx", "export_checkpoint", "hardware_friendliness", "set_batch_size", "cleanup"]
