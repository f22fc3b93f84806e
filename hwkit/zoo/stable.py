"""Stable networks from "Quantized CNNs through the lens of PDEs" (symmetric residual blocks).

A symmetric block computes ``x_{j+1} = Q(x_j - h K_j^T Q(s(K_j x_j)))``. Because the second
operator is the transpose of the first, the block is a forward-Euler step of a diffusion-like
PDE: with a monotone ``s`` and ``h * ||K||_2^2 * max s' <= 2`` it does not amplify perturbations,
and that survives quantization. In hardware K and K^T read *one* weight memory; here K^T uses the
very same quantized weight tensor (``self.K.quant_weight()``), so changing K changes K^T.

The residual counterparts (``residual_*``) have the same sizes but an independent second weight
(``share=False``). Architecture knobs (depth, width, hidden, h, activation, share, tv) arrive as
keyword arguments from ``hwkit.zoo.build_model(..., arch={...})``; the defaults are the shipped models.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from brevitas import nn as qnn
from torch import nn

from hwkit.errors import ConfigError
from hwkit.zoo.mlp import activation as relu_activation
from hwkit.zoo.quant import QuantSpec

STEP = 0.5  # h: a power of two, so the step is a shift in hardware
ACTIVATIONS = ("relu", "hardtanh")
MAX_SLOPE = {"relu": 1.0, "hardtanh": 1.0}  # max s' of the float activation (the STE slope when quantized)


def _stream_quant(q: QuantSpec, bits: int) -> nn.Module:
    return qnn.QuantIdentity(**q.signed_act(bits), return_quant_tensor=True)


def _activation(q: QuantSpec, bits: int, kind: str) -> nn.Module:
    if kind == "relu":
        return relu_activation(q, bits)
    return qnn.QuantIdentity(**q.signed_act(bits), return_quant_tensor=True)  # clip to the signed range


class SymmetricLinearBlock(nn.Module):
    share = True

    def __init__(self, q: QuantSpec, width: int, hidden: int, wbits: int, abits: int, h: float = STEP,
                 act: str = "relu"):
        super().__init__()
        self.h, self.act_kind = h, act
        self.K = qnn.QuantLinear(width, hidden, bias=False, **q.weight(wbits))
        self.act = _activation(q, abits, act)
        self.out_quant = _stream_quant(q, abits)

    def transpose_op(self, z):
        """K^T z with K's own quantized weight: one tensor, two uses."""
        return F.linear(z.value, self.K.quant_weight().value.t())

    def forward(self, x):
        z = self.act(self.K(x))
        return self.out_quant(x.value - self.h * self.transpose_op(z))


class ResidualLinearBlock(SymmetricLinearBlock):
    share = False

    def __init__(self, q: QuantSpec, width: int, hidden: int, wbits: int, abits: int, h: float = STEP,
                 act: str = "relu"):
        super().__init__(q, width, hidden, wbits, abits, h, act)
        self.K2 = qnn.QuantLinear(hidden, width, bias=False, **q.weight(wbits))

    def transpose_op(self, z):
        return self.K2(z)


class SymmetricConvBlock(nn.Module):
    share = True

    def __init__(self, q: QuantSpec, channels: int, hidden: int, wbits: int, abits: int, h: float = STEP,
                 act: str = "relu"):
        super().__init__()
        self.h, self.act_kind = h, act
        self.K = qnn.QuantConv2d(channels, hidden, 3, padding=1, bias=False, **q.weight(wbits))
        self.act = _activation(q, abits, act)
        self.out_quant = _stream_quant(q, abits)

    def transpose_op(self, z):
        """K^T as the adjoint convolution (conv_transpose) of K's own quantized weight."""
        return F.conv_transpose2d(z.value, self.K.quant_weight().value, padding=1)

    def forward(self, x):
        self.spatial = tuple(x.shape[-2:])  # the operator norm of a padded conv depends on the map size
        z = self.act(self.K(x))
        return self.out_quant(x.value - self.h * self.transpose_op(z))


class ResidualConvBlock(SymmetricConvBlock):
    share = False

    def __init__(self, q: QuantSpec, channels: int, hidden: int, wbits: int, abits: int, h: float = STEP,
                 act: str = "relu"):
        super().__init__(q, channels, hidden, wbits, abits, h, act)
        self.K2 = qnn.QuantConv2d(hidden, channels, 3, padding=1, bias=False, **q.weight(wbits))

    def transpose_op(self, z):
        return self.K2(z)


def _blocks(kind, q, width, hidden, depth, wbits, abits, h, act, tv, share):
    sym, res = kind
    block = sym if share else res
    layers = []
    for _ in range(depth):
        layers.append(block(q, width, hidden, wbits, abits, h, act))
        if tv:
            from hwkit.zoo.tv import TVSmoothing

            layers.append(TVSmoothing(q, width, abits))
    return nn.Sequential(*layers)


class StableMLP(nn.Module):
    """input quant -> QuantLinear opening -> n blocks -> QuantLinear classifier."""

    def __init__(self, q: QuantSpec, in_features: int, num_classes: int, wbits: int, abits: int,
                 ibits: int, width: int = 32, hidden: int = 32, depth: int = 2, symmetric: bool = True,
                 h: float = STEP, activation: str = "relu"):
        super().__init__()
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        self.opening = qnn.QuantLinear(in_features, width, **q.weight(wbits), **q.bias())
        self.open_quant = _stream_quant(q, abits)
        self.blocks = _blocks((SymmetricLinearBlock, ResidualLinearBlock), q, width, hidden, depth,
                              wbits, abits, h, activation, False, symmetric)
        self.classifier = qnn.QuantLinear(width, num_classes, **q.weight(wbits), **q.bias())

    def forward(self, x):
        x = self.open_quant(self.opening(self.input_quant(x.flatten(1))))
        return self.classifier(self.blocks(x))


class StableCNN(nn.Module):
    """input quant -> conv opening -> n conv blocks (each optionally followed by a TV step) ->
    maxpool -> FC classifier."""

    def __init__(self, q: QuantSpec, in_shape: tuple[int, ...], num_classes: int, wbits: int,
                 abits: int, ibits: int, channels: int = 8, hidden: int = 8, depth: int = 2,
                 symmetric: bool = True, h: float = STEP, activation: str = "relu", tv: bool = False):
        super().__init__()
        cin, hh, ww = in_shape
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        self.opening = qnn.QuantConv2d(cin, channels, 3, padding=1, **q.weight(wbits), **q.bias())
        self.open_quant = _stream_quant(q, abits)
        self.blocks = _blocks((SymmetricConvBlock, ResidualConvBlock), q, channels, hidden, depth,
                              wbits, abits, h, activation, tv, symmetric)
        self.pool = nn.MaxPool2d(2)
        self.classifier = qnn.QuantLinear(channels * (hh // 2) * (ww // 2), num_classes,
                                          **q.weight(wbits), **q.bias())

    def forward(self, x):
        x = self.open_quant(self.opening(self.input_quant(x)))
        x = self.pool(self.blocks(x))
        return self.classifier(x.flatten(1))


ARCH_KEYS = ("depth", "width", "hidden", "h", "activation", "share", "tv")


def check_arch(arch: dict, conv: bool) -> dict:
    """Validate architecture keywords; ConfigError names the bad one."""
    arch = dict(arch or {})
    allowed = ARCH_KEYS if conv else tuple(k for k in ARCH_KEYS if k != "tv")
    for key in arch:
        if key not in allowed:
            raise ConfigError(f"unknown architecture key '{key}': choose from {', '.join(allowed)}")
    for key in ("depth", "width", "hidden"):
        if key in arch and (not isinstance(arch[key], int) or isinstance(arch[key], bool) or arch[key] < 1):
            raise ConfigError(f"arch '{key}' must be a positive integer, got {arch[key]!r}")
    if "h" in arch:
        h = arch["h"]
        if not isinstance(h, (int, float)) or h <= 0 or math.frexp(h)[0] != 0.5 or h > 1:
            raise ConfigError(f"step h must be a power of two in (0, 1] (a shift in hardware), got {h!r}")
        arch["h"] = float(h)
    if arch.get("activation", "relu") not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{arch['activation']}': choose one of {', '.join(ACTIVATIONS)}")
    for key in ("share", "tv"):
        if key in arch and not isinstance(arch[key], bool):
            raise ConfigError(f"arch '{key}' must be true or false, got {arch[key]!r}")
    return arch


def build_stable_mlp(q, wbits, abits, ibits, in_shape, num_classes, symmetric=True, arch=None):
    a = check_arch(arch, conv=False)
    return StableMLP(q, math.prod(in_shape), num_classes, wbits, abits, ibits, width=a.get("width", 32),
                     hidden=a.get("hidden", 32), depth=a.get("depth", 2), symmetric=a.get("share", symmetric),
                     h=a.get("h", STEP), activation=a.get("activation", "relu"))


def build_stable_cnn(q, wbits, abits, ibits, in_shape, num_classes, symmetric=True, arch=None):
    a = check_arch(arch, conv=True)
    return StableCNN(q, in_shape, num_classes, wbits, abits, ibits, channels=a.get("width", 8),
                     hidden=a.get("hidden", 8), depth=a.get("depth", 2), symmetric=a.get("share", symmetric),
                     h=a.get("h", STEP), activation=a.get("activation", "relu"), tv=a.get("tv", False))
