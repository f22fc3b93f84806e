"""Stable networks from "Quantized CNNs through the lens of PDEs" (symmetric residual blocks).

A symmetric block computes ``x_{j+1} = Q(x_j - h K_j^T Q(s(K_j x_j)))``. Because the second
operator is the transpose of the first, the block is a forward-Euler step of a diffusion-like
PDE: with a monotone ``s`` and ``h`` small enough it does not amplify perturbations, and that
survives quantization. In hardware K and K^T read *one* weight memory; here K^T uses the very
same quantized weight tensor (``self.K.quant_weight()``), so changing K changes K^T.

The residual counterparts (``residual_*``) have the same sizes but an independent second weight.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from brevitas import nn as qnn
from torch import nn

from hwkit.zoo.mlp import activation
from hwkit.zoo.quant import QuantSpec

STEP = 0.5  # h: a power of two, so the step is a shift in hardware


def _stream_quant(q: QuantSpec, bits: int) -> nn.Module:
    return qnn.QuantIdentity(**q.signed_act(bits), return_quant_tensor=True)


class SymmetricLinearBlock(nn.Module):
    def __init__(self, q: QuantSpec, width: int, hidden: int, wbits: int, abits: int, h: float = STEP):
        super().__init__()
        self.h = h
        self.K = qnn.QuantLinear(width, hidden, bias=False, **q.weight(wbits))
        self.act = activation(q, abits)
        self.out_quant = _stream_quant(q, abits)

    def transpose_op(self, z):
        """K^T z with K's own quantized weight: one tensor, two uses."""
        return F.linear(z.value, self.K.quant_weight().value.t())

    def forward(self, x):
        z = self.act(self.K(x))
        return self.out_quant(x.value - self.h * self.transpose_op(z))


class ResidualLinearBlock(SymmetricLinearBlock):
    def __init__(self, q: QuantSpec, width: int, hidden: int, wbits: int, abits: int, h: float = STEP):
        super().__init__(q, width, hidden, wbits, abits, h)
        self.K2 = qnn.QuantLinear(hidden, width, bias=False, **q.weight(wbits))

    def transpose_op(self, z):
        return self.K2(z)


class SymmetricConvBlock(nn.Module):
    def __init__(self, q: QuantSpec, channels: int, hidden: int, wbits: int, abits: int, h: float = STEP):
        super().__init__()
        self.h = h
        self.K = qnn.QuantConv2d(channels, hidden, 3, padding=1, bias=False, **q.weight(wbits))
        self.act = activation(q, abits)
        self.out_quant = _stream_quant(q, abits)

    def transpose_op(self, z):
        """K^T as the adjoint convolution (conv_transpose) of K's own quantized weight."""
        return F.conv_transpose2d(z.value, self.K.quant_weight().value, padding=1)

    def forward(self, x):
        z = self.act(self.K(x))
        return self.out_quant(x.value - self.h * self.transpose_op(z))


class ResidualConvBlock(SymmetricConvBlock):
    def __init__(self, q: QuantSpec, channels: int, hidden: int, wbits: int, abits: int, h: float = STEP):
        super().__init__(q, channels, hidden, wbits, abits, h)
        self.K2 = qnn.QuantConv2d(hidden, channels, 3, padding=1, bias=False, **q.weight(wbits))

    def transpose_op(self, z):
        return self.K2(z)


class StableMLP(nn.Module):
    """input quant -> QuantLinear opening -> n blocks -> QuantLinear classifier."""

    def __init__(self, q: QuantSpec, in_features: int, num_classes: int, wbits: int, abits: int,
                 ibits: int, width: int = 32, hidden: int = 32, depth: int = 2, symmetric: bool = True):
        super().__init__()
        block = SymmetricLinearBlock if symmetric else ResidualLinearBlock
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        self.opening = qnn.QuantLinear(in_features, width, **q.weight(wbits), **q.bias())
        self.open_quant = _stream_quant(q, abits)
        self.blocks = nn.Sequential(*[block(q, width, hidden, wbits, abits) for _ in range(depth)])
        self.classifier = qnn.QuantLinear(width, num_classes, **q.weight(wbits), **q.bias())

    def forward(self, x):
        x = self.open_quant(self.opening(self.input_quant(x.flatten(1))))
        return self.classifier(self.blocks(x))


class StableCNN(nn.Module):
    """input quant -> conv opening -> n conv blocks -> maxpool -> FC classifier."""

    def __init__(self, q: QuantSpec, in_shape: tuple[int, ...], num_classes: int, wbits: int,
                 abits: int, ibits: int, channels: int = 8, hidden: int = 8, depth: int = 2,
                 symmetric: bool = True):
        super().__init__()
        block = SymmetricConvBlock if symmetric else ResidualConvBlock
        cin, h, w = in_shape
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        self.opening = qnn.QuantConv2d(cin, channels, 3, padding=1, **q.weight(wbits), **q.bias())
        self.open_quant = _stream_quant(q, abits)
        self.blocks = nn.Sequential(*[block(q, channels, hidden, wbits, abits) for _ in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.classifier = qnn.QuantLinear(channels * (h // 2) * (w // 2), num_classes,
                                          **q.weight(wbits), **q.bias())

    def forward(self, x):
        x = self.open_quant(self.opening(self.input_quant(x)))
        x = self.pool(self.blocks(x))
        return self.classifier(x.flatten(1))


def build_stable_mlp(q, wbits, abits, ibits, in_shape, num_classes, symmetric=True):
    return StableMLP(q, math.prod(in_shape), num_classes, wbits, abits, ibits, symmetric=symmetric)


def build_stable_cnn(q, wbits, abits, ibits, in_shape, num_classes, symmetric=True):
    return StableCNN(q, in_shape, num_classes, wbits, abits, ibits, symmetric=symmetric)
