"""Any-precision MLP: one set of 8-bit integer weights serves 2, 4 and 8 bits at run time.

The k-bit network uses the top k bit-planes of the 8-bit weights, ``w_k = floor(w8 / 2**(8-k))``
(an arithmetic shift), at scale ``s8 * 2**(8-k)``: the k-bit weights are exactly a shift of the
8-bit ones, so one weight memory and a bit-plane datapath serve every precision
(hwkit.kinds.mvu_bp). Activations are 4-bit at every precision, each precision with its own learned
power-of-two activation scales (its own quantizers, hence its own thresholds after lowering). The
classifier has no bias, so the logits are the last accumulator times one scale per precision.

Training is plain PyTorch fake quantization with straight-through estimators (Brevitas cannot tie
one weight tensor to several bit widths); :func:`export_precision` rebuilds a standard Brevitas
model with constant power-of-two quantizers for one precision, whose QONNX hwkit lowers as usual.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwkit.errors import ConfigError

PRECISIONS = (2, 4, 8)
WBITS = 8          # the stored weights
ABITS = 4          # activation width at every precision
IBITS = 8          # input quantizer: scale 2**-8, codes 0..255
HIDDEN = (64, 64, 64)


def _round(x):
    return x + (torch.round(x) - x).detach()


def _floor(x):
    return x + (torch.floor(x) - x).detach()


class AnyPrecMLP(nn.Module):
    """Flatten -> 8-bit input quantizer -> [linear -> ReLU -> 4-bit quantizer] * len(hidden) -> linear.
    ``forward(x, k)`` runs the k-bit network (k in ``precisions``)."""

    def __init__(self, in_features: int = 64, hidden=HIDDEN, num_classes: int = 10, precisions=PRECISIONS):
        super().__init__()
        if not precisions or any(not isinstance(k, int) or not 1 <= k <= WBITS for k in precisions):
            raise ConfigError(f"precisions must be integers in 1..{WBITS}, got {precisions}")
        self.precisions = tuple(sorted(precisions))
        sizes = [in_features, *hidden, num_classes]
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:]))
        # one bias per precision and hidden layer: each folds into that precision's thresholds
        self.biases = nn.Parameter(torch.zeros(len(self.precisions), len(hidden), max(hidden)))
        # log2 of each (precision, hidden layer) activation scale; 2**-3 = the zoo's max_val 2.0 at 4 bits
        self.act_log2 = nn.Parameter(torch.full((len(self.precisions), len(hidden)), -3.0))
        # log2 of each layer's 8-bit weight scale s8, learned (LSQ-style) by every precision's loss: a
        # max-based scale lets outliers push the 2-bit planes to {-1, 0} and the network dies
        self.w_log2 = nn.Parameter(torch.tensor([math.log2(3 * float(l.weight.std()) / 128) for l in self.linears]))

    def bias(self, p: int, i: int):
        return self.biases[p, i, :self.linears[i].out_features]

    def weight_scale(self, i: int):
        """s8: a power of two (straight-through rounded log2)."""
        return 2.0 ** _round(self.w_log2[i])

    def int_weights(self, i: int, k: int):
        """(w_k as float tensor of integers (STE), its scale s8 * 2**(8-k))."""
        s8 = self.weight_scale(i)
        w8 = torch.clamp(_round(self.linears[i].weight / s8), -(1 << (WBITS - 1)), (1 << (WBITS - 1)) - 1)
        return _floor(w8 / 2.0 ** (WBITS - k)), s8 * 2.0 ** (WBITS - k)

    def act_scale(self, p: int, i: int) -> float:
        return float(2.0 ** torch.round(self.act_log2[p, i].detach()))

    def forward(self, x, k: int = None):
        k = self.precisions[-1] if k is None else k
        if k not in self.precisions:
            raise ConfigError(f"precision {k} is not one of {self.precisions}")
        p = self.precisions.index(k)
        sx = 2.0 ** -IBITS
        x = torch.clamp(_round(x.flatten(1) / sx), 0, (1 << IBITS) - 1) * sx
        for i, lin in enumerate(self.linears):
            wk, sw = self.int_weights(i, k)
            y = x @ (wk * sw).t()
            if i == len(self.linears) - 1:
                return y
            y = y + _round(self.bias(p, i) / (sw * sx)) * (sw * sx)   # Int32Bias: on the accumulator grid
            sa = 2.0 ** _round(self.act_log2[p, i])
            x = torch.clamp(_round(torch.relu(y) / sa), 0, (1 << ABITS) - 1) * sa
            sx = sa.detach()


def train_anyprec(precisions=PRECISIONS, epochs: int = 30, seed: int = 0, lr: float = 0.01, batch_size: int = 64,
                  dataset: str = "digits") -> tuple[AnyPrecMLP, dict]:
    """Joint training (sum of the losses over ``precisions`` per batch); one precision = an ordinary
    fixed-precision model of the same shape. Returns (model, {precision: test accuracy})."""
    from hwkit.data import load_dataset
    from hwkit.train import seed_everything

    seed_everything(seed)
    data = load_dataset(dataset)
    model = AnyPrecMLP(int(np.prod(data.in_shape)), HIDDEN, data.num_classes, precisions)
    xt, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs)))
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = sum(loss_fn(model(xt[idx], k), yt[idx]) for k in model.precisions)
            loss.backward()
            opt.step()
    return model.eval(), {k: accuracy(model, data.x_test, data.y_test, k) for k in model.precisions}


@torch.no_grad()
def accuracy(model: AnyPrecMLP, x: np.ndarray, y: np.ndarray, k: int) -> float:
    return float((model(torch.from_numpy(x), k).argmax(1).numpy() == y).mean())


def brevitas_model(model: AnyPrecMLP, k: int) -> nn.Module:
    """A standard Brevitas MLP that computes ``model(x, k)``: constant power-of-two quantizers whose
    integers are exactly w_k, the same integer biases, the same activation scales."""
    from brevitas import nn as qnn
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint

    from hwkit.zoo.quant import quant_spec

    class WConst(Int8WeightPerTensorFixedPoint):
        scaling_impl_type = ScalingImplType.CONST   # scale = scaling_const / 2**(bits-1)
        scaling_const = 1.0

    class AConst(Uint8ActPerTensorFixedPoint):
        scaling_impl_type = ScalingImplType.CONST   # scale = scaling_const / 2**bits
        scaling_const = 1.0

    p = model.precisions.index(k)
    last = len(model.linears) - 1
    layers: list[nn.Module] = [nn.Flatten(), qnn.QuantIdentity(**quant_spec("pot").input(IBITS))]
    n = len(model.linears)
    for i, lin in enumerate(model.linears):
        wk, sw = model.int_weights(i, k)
        sw = float(sw)
        q = qnn.QuantLinear(lin.in_features, lin.out_features, bias=i < last,
                            weight_quant=WConst, weight_bit_width=k, weight_narrow_range=False,
                            weight_scaling_const=sw * 2.0 ** (k - 1),
                            bias_quant=Int32Bias if i < last else None, return_quant_tensor=i < n - 1)
        with torch.no_grad():
            q.weight.copy_(wk.detach() * sw)
            if i < last:
                q.bias.copy_(model.bias(p, i).detach())
        layers.append(q)
        if i < n - 1:
            sa = model.act_scale(p, i)
            layers.append(qnn.QuantReLU(act_quant=AConst, bit_width=ABITS, scaling_const=sa * 2 ** ABITS,
                                        max_val=sa * 2 ** ABITS, return_quant_tensor=True))
    return nn.Sequential(*layers).eval()


def export_precision(model: AnyPrecMLP, k: int, path, in_shape=(1, 8, 8)) -> Path:
    """The k-bit network as an ordinary QONNX file (hwkit.export.export_qonnx)."""
    from hwkit.export import export_qonnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(brevitas_model(model, k), tuple(in_shape), path)
    return Path(path)


def stored_weights(model: AnyPrecMLP) -> list[np.ndarray]:
    """The one set of 8-bit integer weights, per layer (int64 (out, in))."""
    out = []
    for i in range(len(model.linears)):
        w8, _ = model.int_weights(i, WBITS)
        out.append(w8.detach().numpy().astype(np.int64))
    return out
