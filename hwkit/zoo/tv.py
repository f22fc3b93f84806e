"""Edge-aware total-variation (TV) smoothing of feature maps, in a quantized hardware form.

One explicit step of TV flow per channel:  ``x <- Q(x - h D^T (w * D x))`` with
``w = Q_w(1 / sqrt(|D x|^2 + eps))``, where ``D = (D_x, D_y)`` are 3x3 forward differences (zero
padding, as a sliding-window stencil streams them) and ``D^T`` their adjoint (a transposed
convolution with the same taps). Where the gradient is small the step diffuses; across an edge
``w`` is small and the edge survives, so maps become piecewise constant and isolated outliers are
pulled towards their neighbours.

Why it is hardware friendly: ``x`` lives on a power-of-two grid, so ``D x`` and ``|D x|^2`` are
integers on that grid with a known small range; ``w`` is a monotone function of that integer
quantized to a few bits, i.e. a lookup table or ``2**wbits - 1`` thresholds on ``|D x|^2``. Every
other operation is a fixed-tap depthwise convolution, a multiply and a shift (``h`` a power of two).
Stability of the explicit step: ``||D||_2^2 <= 8`` and ``max w = 1/sqrt(eps)``, so the default
``h = 1/8, eps = 1/4`` meets ``h * 8 / sqrt(eps) <= 2`` exactly.

It exports to QONNX as standard ops: Conv (fixed kernels, group = C), Pow, Add, Sqrt, Reciprocal, Mul,
Relu, Quant, ConvTranspose, Sub; :mod:`hwkit.ir.ops_tv` lowers that composition to one exact integer
layer (:mod:`hwkit.kinds.tv`, Verilog ``hls/rtl/hk_tv.v``). Since ``|w * D x| < 1``, one step moves a value
by less than about ``4 h``: on a stream whose quantization step is ``>= 8 h`` it rounds to the identity.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas import nn as qnn
from torch import nn

from hwkit.zoo.quant import QuantSpec

TV_STEP = 0.125
TV_EPS = 0.25


def difference_kernels(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise 3x3 forward differences: (D_x x)[i, j] = x[i, j+1] - x[i, j], (D_y x) likewise down."""
    dx = torch.zeros(channels, 1, 3, 3)
    dy = torch.zeros(channels, 1, 3, 3)
    dx[:, 0, 1, 1], dx[:, 0, 1, 2] = -1.0, 1.0
    dy[:, 0, 1, 1], dy[:, 0, 2, 1] = -1.0, 1.0
    return dx, dy


class TVSmoothing(nn.Module):
    def __init__(self, q: QuantSpec, channels: int, abits: int, h: float = TV_STEP, eps: float = TV_EPS,
                 wbits: int = 3):
        super().__init__()
        self.h, self.eps, self.channels = h, eps, channels
        dx, dy = difference_kernels(channels)
        self.register_buffer("dx", dx, persistent=False)  # constants: rebuilt, not checkpointed
        self.register_buffer("dy", dy, persistent=False)
        # w in (0, 1/sqrt(eps)]: unsigned, power-of-two scale; wbits levels = the lookup table's size
        self.w_quant = qnn.QuantReLU(**{**q.relu(wbits), "max_val": eps ** -0.5}, return_quant_tensor=False)
        self.out_quant = qnn.QuantIdentity(**q.signed_act(abits), return_quant_tensor=True)

    def _step(self, v, weight_fn):
        c = self.channels
        gx, gy = F.conv2d(v, self.dx, padding=1, groups=c), F.conv2d(v, self.dy, padding=1, groups=c)
        # pow, not gx * gx: qonnx renames only one input of a node that reads a tensor twice
        w = weight_fn(1.0 / torch.sqrt(gx.pow(2) + gy.pow(2) + self.eps))
        back = (F.conv_transpose2d(gx * w, self.dx, padding=1, groups=c)
                + F.conv_transpose2d(gy * w, self.dy, padding=1, groups=c))
        return v - self.h * back

    def forward(self, x):
        v = x.value if hasattr(x, "value") else x
        return self.out_quant(self._step(v, self.w_quant))

    def float_forward(self, v):
        """The same step without any quantizer (the float network of hwkit.study.deviation)."""
        return self._step(v, lambda w: w)


def outlier_ratio(values, q: float = 99.0) -> float:
    """max |a| / (q-th percentile of |a|): how far the largest activation sits above the bulk."""
    import numpy as np

    a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    p = np.percentile(a, q)
    return float(a.max() / p) if p > 0 else float("inf")
