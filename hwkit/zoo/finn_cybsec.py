"""FINN's end-to-end network-intrusion MLP (the UNSW-NB15 example of FINN's
``notebooks/end2end_example/cybersecurity``) as a user would bring it: 600 binary input features,
three 64-wide hidden layers with 2-bit weights, float-scale BatchNorm and 2-bit ReLU, one output
quantized to a bipolar bit. Random weights and BatchNorm statistics drawn away from (0, 1), so the
thresholds they fold into are not trivial.

    python -m hwkit.zoo.finn_cybsec out/cybsec_w2a2.onnx [--clean]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

IN_FEATURES, HIDDEN = 600, 64


def build(seed: int = 0, *, hidden: int = HIDDEN, wbits: int = 2, abits: int = 2) -> torch.nn.Module:
    """The network in eval mode (``seed`` draws every weight and statistic)."""
    from brevitas.core.quant import QuantType
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU

    torch.manual_seed(seed)
    layers: list = [QuantIdentity(bit_width=1, signed=False, scaling_impl_type="const", scaling_init=1.0,
                                  return_quant_tensor=True)]     # the features arrive as 0/1 bits
    width = IN_FEATURES
    for _ in range(3):
        layers += [QuantLinear(width, hidden, bias=True, weight_bit_width=wbits), torch.nn.BatchNorm1d(hidden),
                   QuantReLU(bit_width=abits)]
        width = hidden
    layers += [QuantLinear(width, 1, bias=True, weight_bit_width=wbits),
               QuantIdentity(quant_type=QuantType.BINARY, bit_width=1, min_val=-1.0, max_val=1.0)]
    model = torch.nn.Sequential(*layers)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 2.0)
                m.running_var.copy_(torch.rand(n, generator=g) * 4.0 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def export(path: str | os.PathLike, *, clean: bool = False, seed: int = 0) -> Path:
    """Write the network as QONNX at ``path`` (see :func:`hwkit.zoo.bnn_pynq.write_qonnx`)."""
    from hwkit.zoo.bnn_pynq import write_qonnx

    return write_qonnx(build(seed), (IN_FEATURES,), path, clean=clean)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--clean"]
    if len(args) != 1:
        sys.exit("usage: python -m hwkit.zoo.finn_cybsec OUT.onnx [--clean]")
    print(export(args[0], clean="--clean" in sys.argv))
