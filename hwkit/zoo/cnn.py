"""A small CNV-style network: 3x3 conv + max-pool stacks, then a fully connected classifier."""
from __future__ import annotations

from brevitas import nn as qnn
from torch import nn

from hwkit.zoo.mlp import activation
from hwkit.zoo.quant import QuantSpec, per_layer


class QuantCNV(nn.Module):
    """input quant -> [conv3x3 -> act -> conv3x3 -> act -> maxpool2] per stage -> FC -> FC.

    'same' padding keeps the arithmetic simple for 8x8 inputs (8 -> 4 -> 2) and 28x28 inputs
    (28 -> 14 -> 7); padding is with zeros, which is exact on every integer grid.
    """

    def __init__(self, q: QuantSpec, in_shape: tuple[int, ...], num_classes: int, wbits,
                 abits, ibits: int, channels=(16, 32), fc: int = 64):
        super().__init__()
        cin, h, w = in_shape
        n_conv = 2 * len(channels)
        # per layer: the convolutions, then fc1, then the classifier (weights); conv + fc1 (activations)
        wlist, alist = per_layer(wbits, n_conv + 2, "weight"), per_layer(abits, n_conv + 1, "activation")
        self.input_quant = qnn.QuantIdentity(**q.input(ibits))
        layers: list[nn.Module] = []
        i = 0
        for cout in channels:
            for _ in range(2):
                layers.append(qnn.QuantConv2d(cin, cout, 3, padding=1, **q.weight(wlist[i]), **q.bias()))
                if q.preset == "float":
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(activation(q, alist[i]))
                cin, i = cout, i + 1
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.fc1 = qnn.QuantLinear(cin * h * w, fc, **q.weight(wlist[-2]), **q.bias())
        self.fc_act = activation(q, alist[-1])
        self.classifier = qnn.QuantLinear(fc, num_classes, **q.weight(wlist[-1]), **q.bias())

    def forward(self, x):
        x = self.features(self.input_quant(x))
        x = self.fc_act(self.fc1(x.flatten(1)))
        return self.classifier(x)
