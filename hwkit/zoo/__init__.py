"""The model zoo: Brevitas builders parameterized by weight/activation/input bit widths (1..8).

``build_model(name, ...)`` is the one entry point; ``MODELS`` lists what exists. The stable and
residual models take architecture keywords through ``arch`` (see hwkit.zoo.stable.ARCH_KEYS).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from hwkit.errors import ConfigError
from hwkit.zoo.cnn import QuantCNV
from hwkit.zoo.mlp import build_mlp
from hwkit.zoo.quant import quant_spec
from hwkit.zoo.stable import build_stable_cnn, build_stable_mlp


@dataclass(frozen=True)
class ZooEntry:
    kind: str
    description: str
    build: Callable[..., nn.Module]
    default_in_shape: tuple[int, ...] = (1, 8, 8)


def _mlp(name):
    return lambda q, w, a, i, shape, n: build_mlp(name, q, w, a, i, shape, n)


MODELS: dict[str, ZooEntry] = {
    "tfc": ZooEntry("mlp", "FINN TFC: 3 hidden layers of 64", _mlp("tfc")),
    "sfc": ZooEntry("mlp", "FINN SFC: 3 hidden layers of 256", _mlp("sfc")),
    "lfc": ZooEntry("mlp", "FINN LFC: 3 hidden layers of 1024", _mlp("lfc")),
    "jet": ZooEntry("mlp", "hls4ml jet tagger shape 16-64-32-32-5", _mlp("jet"), (16,)),
    "cnv": ZooEntry("cnn", "small CNV: 2x(conv3x3, conv3x3, maxpool) + 2 FC",
                    lambda q, w, a, i, s, n: QuantCNV(q, s, n, w, a, i)),
    "stable_mlp": ZooEntry("stable", "symmetric blocks x - h K^T s(K x), K shared (MLP)",
                           lambda q, w, a, i, s, n, arch=None: build_stable_mlp(q, w, a, i, s, n, True, arch)),
    "residual_mlp": ZooEntry("residual", "plain residual blocks of the same size (MLP)",
                             lambda q, w, a, i, s, n, arch=None: build_stable_mlp(q, w, a, i, s, n, False, arch)),
    "stable_cnv": ZooEntry("stable", "symmetric conv blocks, K^T = conv_transpose of K",
                           lambda q, w, a, i, s, n, arch=None: build_stable_cnn(q, w, a, i, s, n, True, arch)),
    "residual_cnv": ZooEntry("residual", "plain residual conv blocks of the same size",
                             lambda q, w, a, i, s, n, arch=None: build_stable_cnn(q, w, a, i, s, n, False, arch)),
}


def build_model(name: str, wbits: int = 2, abits: int = 2, ibits: int = 8,
                in_shape: tuple[int, ...] | None = None, num_classes: int = 10,
                preset: str = "pot", arch: dict | None = None) -> nn.Module:
    """A fresh (untrained) Brevitas model. Raises ConfigError on unknown names or bit widths.

    ``arch``: architecture keywords of the stable/residual models (depth, width, hidden, h,
    activation, share, tv); empty or None gives the default (shipped) architecture."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(MODELS)} (see `hwkit zoo`)")
    q = quant_spec(preset)
    for what, bits in (("weight", wbits), ("activation", abits), ("input", ibits)):
        q._check(bits, what)
    entry = MODELS[name]
    shape = tuple(in_shape) if in_shape is not None else entry.default_in_shape
    if entry.kind in ("cnn",) or name.endswith("_cnv"):
        if len(shape) != 3:
            raise ConfigError(f"model '{name}' needs image inputs (C, H, W), got shape {shape}")
    if arch:
        if entry.kind not in ("stable", "residual"):
            raise ConfigError(f"model '{name}' takes no architecture keywords (only stable_* and residual_* do)")
        return entry.build(q, wbits, abits, ibits, shape, num_classes, arch=arch)
    return entry.build(q, wbits, abits, ibits, shape, num_classes)
