"""Fully connected networks: FINN's TFC/SFC/LFC family and the hls4ml jet tagger shape."""
from __future__ import annotations

import math

import torch
from brevitas import nn as qnn
from torch import nn

from hwkit.zoo.quant import QuantSpec, per_layer


def activation(q: QuantSpec, bits: int) -> nn.Module:
    """ReLU-type activation; 1 bit is the sign activation of binarized networks."""
    if bits == 1:
        return qnn.QuantIdentity(**q.signed_act(1), return_quant_tensor=True)
    return qnn.QuantReLU(**q.relu(bits), return_quant_tensor=True)


class QuantMLP(nn.Module):
    """Flatten -> input quantizer -> [QuantLinear -> (BatchNorm) -> act] * n -> QuantLinear.

    The last layer returns plain float logits (its integer accumulator times a known scale, plus
    integer bias), which lowering keeps as the accelerator's output stream.
    """

    def __init__(self, q: QuantSpec, in_features: int, hidden: list[int], num_classes: int,
                 wbits, abits, ibits: int, batchnorm: bool = False):
        super().__init__()
        # per layer: one weight width per linear layer, one activation width per hidden layer
        wlist, alist = per_layer(wbits, len(hidden) + 1, "weight"), per_layer(abits, len(hidden), "activation")
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        layers: list[nn.Module] = []
        width = in_features
        for out, wb, ab in zip(hidden, wlist, alist):
            layers.append(qnn.QuantLinear(width, out, **q.weight(wb), **q.bias(),
                                          return_quant_tensor=False))
            if batchnorm:
                layers.append(nn.BatchNorm1d(out))
            layers.append(activation(q, ab))
            width = out
        self.features = nn.Sequential(*layers)
        self.classifier = qnn.QuantLinear(width, num_classes, **q.weight(wlist[-1]), **q.bias())

    def forward(self, x):
        x = self.input_quant(x.flatten(1))
        return self.classifier(self.features(x))


HIDDEN = {"tfc": [64, 64, 64], "sfc": [256, 256, 256], "lfc": [1024, 1024, 1024], "jet": [64, 32, 32]}


def build_mlp(name: str, q: QuantSpec, wbits, abits, ibits: int,
              in_shape: tuple[int, ...], num_classes: int) -> QuantMLP:
    # FINN's float BNNs put BatchNorm between layers; the PoT preset folds it away by design
    return QuantMLP(q, math.prod(in_shape), HIDDEN[name], num_classes, wbits, abits, ibits,
                    batchnorm=q.preset == "float")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if isinstance(p, torch.nn.Parameter))
