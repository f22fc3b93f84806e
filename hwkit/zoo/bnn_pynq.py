"""Networks hwkit did not make: Brevitas' ``brevitas_examples.bnn_pynq`` (FINN's TFC/SFC/LFC MLPs and
the CNV CIFAR-10 network), with random weights and non-trivial BatchNorm statistics, written as a
user would have them: the raw Brevitas QONNX export (its own node names), or cleaned by hwkit.

    python -m hwkit.zoo.bnn_pynq tfc_1w1a out/tfc_1w1a.onnx [--clean]
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from hwkit.errors import ConfigError

NAMES = ("tfc_1w1a", "tfc_1w2a", "tfc_2w2a", "sfc_1w1a", "sfc_1w2a", "sfc_2w2a", "lfc_1w1a", "lfc_1w2a",
         "lfc_2w2a", "cnv_1w1a", "cnv_1w2a", "cnv_2w2a")
# networks Brevitas ships no config for: (the config they derive from, [QUANT] values changed). LFC W2A2
# (issue 12's acceptance list) is LFC W1A2 with 2-bit weights: 2.9 M weights, 5.8 Mbit
DERIVED = {"lfc_2w2a": ("lfc_1w2a", {"WEIGHT_BIT_WIDTH": "2"})}


def in_shape(name: str) -> tuple[int, ...]:
    """The input the network takes: MNIST 1x28x28 for the MLPs, CIFAR-10 3x32x32 for CNV."""
    return (3, 32, 32) if name.startswith("cnv") else (1, 28, 28)


def build(name: str, seed: int = 0) -> torch.nn.Module:
    """The named network in eval mode: uniform random weights, and BatchNorm/TensorNorm running
    statistics drawn away from (0, 1) so that the thresholds they fold into are not trivial."""
    if name not in NAMES:
        raise ConfigError(f"unknown bnn_pynq network '{name}': choose one of {', '.join(NAMES)}")
    from brevitas_examples.bnn_pynq.models import get_model_cfg, model_impl

    torch.manual_seed(seed)
    base, quant = DERIVED.get(name, (name, {}))
    cfg = get_model_cfg(base)
    for key, value in quant.items():
        cfg.set("QUANT", key, value)
    model = model_impl[cfg.get("MODEL", "ARCH")](cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "running_mean") and hasattr(m, "running_var"):
                n = m.running_mean.numel()
                # the pre-activation of a fan-in-F +-1 layer has spread ~sqrt(F): centre and scale around it
                m.running_mean.copy_(torch.randn(n, generator=g) * 2.0)
                m.running_var.copy_(torch.rand(n, generator=g) * 20.0 + 1.0)
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def export(name: str, path: str | os.PathLike, *, clean: bool = False, seed: int = 0) -> Path:
    """Write the network as QONNX at ``path``: Brevitas' raw export (batch 1, the node names a user's
    file has), or with ``clean`` hwkit's export (qonnx cleanup, renamed nodes)."""
    return write_qonnx(build(name, seed), in_shape(name), path, clean=clean)


def write_qonnx(model: torch.nn.Module, shape: tuple[int, ...], path: str | os.PathLike, *,
                clean: bool = False) -> Path:
    """``model`` (input ``shape`` without batch) as QONNX at ``path``, raw Brevitas or hwkit-cleaned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean:
        from hwkit.export import export_qonnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_qonnx(model, shape, path)
        return path
    from brevitas.export import export_qonnx as brevitas_export

    x = torch.rand(1, *shape)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        part = Path(tmp) / "model.onnx"
        brevitas_export(model, args=x, export_path=str(part), dynamo=False)
        os.replace(part, path)
    return path


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--clean"]
    if len(args) != 2:
        sys.exit(f"usage: python -m hwkit.zoo.bnn_pynq NAME OUT.onnx [--clean]  (NAME: {', '.join(NAMES)})")
    print(export(args[0], args[1], clean="--clean" in sys.argv))
