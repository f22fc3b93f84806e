"""The model zoo: Brevitas builders parameterized by weight/activation/input bit widths (1..8).

``build_model(name, ...)`` is the one entry point; ``MODELS`` lists what exists. The stable and
residual models take architecture keywords through ``arch`` (see hwkit.zoo.stable.ARCH_KEYS).
Weight and activation widths are one int for the whole model, or (MLPs, CNV) one per layer: a list
of ``ZooEntry.layers`` = (weight layers, activation layers) entries, in forward order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from torch import nn

from hwkit.errors import ConfigError
from hwkit.zoo.cnn import QuantCNV
from hwkit.zoo.mlp import HIDDEN, build_mlp
from hwkit.zoo.quant import per_layer, quant_spec
from hwkit.zoo.stable import build_stable_cnn, build_stable_mlp


@dataclass(frozen=True)
class ZooEntry:
    kind: str
    description: str
    build: Callable[..., nn.Module]
    default_in_shape: tuple[int, ...] = (1, 8, 8)
    layers: Optional[tuple[int, int]] = None  # (weight, activation) layers that take per-layer widths


def _mlp_layers(name: str) -> tuple[int, int]:
    return len(HIDDEN[name]) + 1, len(HIDDEN[name])


def _mlp(name):
    return lambda q, w, a, i, shape, n: build_mlp(name, q, w, a, i, shape, n)


MODELS: dict[str, ZooEntry] = {
    "tfc": ZooEntry("mlp", "FINN TFC: 3 hidden layers of 64", _mlp("tfc"),
                    layers=_mlp_layers("tfc")),
    "sfc": ZooEntry("mlp", "FINN SFC: 3 hidden layers of 256", _mlp("sfc"),
                    layers=_mlp_layers("sfc")),
    "lfc": ZooEntry("mlp", "FINN LFC: 3 hidden layers of 1024", _mlp("lfc"),
                    layers=_mlp_layers("lfc")),
    "jet": ZooEntry("mlp", "hls4ml jet tagger shape 16-64-32-32-5", _mlp("jet"), (16,),
                    layers=_mlp_layers("jet")),
    "cnv": ZooEntry("cnn", "small CNV: 2x(conv3x3, conv3x3, maxpool) + 2 FC",
                    lambda q, w, a, i, s, n: QuantCNV(q, s, n, w, a, i), layers=(6, 5)),
    "stable_mlp": ZooEntry("stable", "symmetric blocks x - h K^T s(K x), K shared (MLP)",
                           lambda q, w, a, i, s, n, arch=None: build_stable_mlp(q, w, a, i, s, n, True, arch)),
    "residual_mlp": ZooEntry("residual", "plain residual blocks of the same size (MLP)",
                             lambda q, w, a, i, s, n, arch=None: build_stable_mlp(q, w, a, i, s, n, False, arch)),
    "stable_cnv": ZooEntry("stable", "symmetric conv blocks, K^T = conv_transpose of K",
                           lambda q, w, a, i, s, n, arch=None: build_stable_cnn(q, w, a, i, s, n, True, arch)),
    "residual_cnv": ZooEntry("residual", "plain residual conv blocks of the same size",
                             lambda q, w, a, i, s, n, arch=None: build_stable_cnn(q, w, a, i, s, n, False, arch)),
}


Bits = Union[int, Sequence[int]]


def layer_widths(name: str, wbits: Bits, abits: Bits) -> tuple[list[int], list[int]]:
    """Per-layer (weight, activation) widths of zoo model ``name``, checked: ConfigError names the problem."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(MODELS)} (see `hwkit zoo`)")
    layers = MODELS[name].layers
    if layers is None:
        if isinstance(wbits, (list, tuple)) or isinstance(abits, (list, tuple)):
            raise ConfigError(f"model '{name}' takes one weight and one activation width, not per-layer lists "
                              f"(per-layer: {', '.join(n for n, e in MODELS.items() if e.layers)})")
        return [wbits], [abits]
    wl, al = per_layer(wbits, layers[0], "weight"), per_layer(abits, layers[1], "activation")
    q = quant_spec("pot")
    for what, values in (("weight", wl), ("activation", al)):
        for b in values:
            q._check(b, what)
    return wl, al


def build_model(name: str, wbits: Bits = 2, abits: Bits = 2, ibits: int = 8,
                in_shape: tuple[int, ...] | None = None, num_classes: int = 10,
                preset: str = "pot", arch: dict | None = None) -> nn.Module:
    """A fresh (untrained) Brevitas model. Raises ConfigError on unknown names or bit widths.
    ``wbits``/``abits``: one width, or a per-layer list (see :func:`layer_widths`).

    ``arch``: architecture keywords of the stable/residual models (depth, width, hidden, h,
    activation, share, tv); empty or None gives the default (shipped) architecture."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(MODELS)} (see `hwkit zoo`)")
    q = quant_spec(preset)
    layer_widths(name, wbits, abits)
    q._check(ibits, "input")
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


def load_widths(path) -> tuple:
    """(wbits, abits) from a YAML file ``{wbits: [..] or int, abits: [..] or int}``: the per-layer
    widths as a file, so a mixed-precision design is one artefact a search can hand to `hwkit train`."""
    from pathlib import Path

    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"bit-width file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"{path.name} is not valid YAML") from None
    if not isinstance(data, dict) or not {"wbits", "abits"} <= set(data):
        raise ConfigError(f"{path.name}: expected a mapping with 'wbits' and 'abits' (an int or a list each)")
    out = []
    for key in ("wbits", "abits"):
        v = data[key]
        ok = (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, list) and v and all(isinstance(b, int) and not isinstance(b, bool) for b in v))
        if not ok:
            raise ConfigError(f"{path.name}: '{key}' must be an int or a list of ints, got {v!r}")
        out.append(v)
    return tuple(out)
