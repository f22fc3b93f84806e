"""Quantized-vs-float deviation per block of a stable/residual network.

Definitions (what the study reports):

- The *quantized* network is the trained Brevitas module itself; its block outputs ``x_q^j`` are the
  values of the residual-stream quantizers (``out_quant``) read from a Brevitas forward pass. For the
  ``pot`` preset these are exactly the golden simulator's integer streams times their power-of-two
  scales (DESIGN rule 2); the study checks that at the logits on every hardware point.
- The *float* network has the same quantized weights (``K.quant_weight()``, and K2's) and the same
  quantized input and opening layer, but no activation quantizer: the stream is not rounded or
  clipped and ``s`` is the plain float ReLU (hardtanh: clipped to its quantizer's range, without
  rounding). With ``float_weights=True`` the latent float weights are used instead.
- Block ``j`` deviation is ``||x_q^j - x_f^j||_2 / ||x_f^j||_2`` per sample (the whole feature
  vector or map), averaged over samples; ``j = 0`` is the opening's output, ``j = depth`` the last
  block's.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hwkit.zoo.stable import ResidualConvBlock, ResidualLinearBlock, StableCNN, SymmetricConvBlock


def relative_deviation(xq, xf, eps: float = 1e-12) -> np.ndarray:
    """Per-sample ``||xq - xf|| / ||xf||`` over all but the first axis."""
    xq, xf = (np.asarray(getattr(t, "detach", lambda: t)(), dtype=np.float64) for t in (xq, xf))
    xq, xf = xq.reshape(len(xq), -1), xf.reshape(len(xf), -1)
    return np.linalg.norm(xq - xf, axis=1) / np.maximum(np.linalg.norm(xf, axis=1), eps)


def _w(layer, float_weights: bool):
    return layer.weight if float_weights else layer.quant_weight().value


def _float_act(block, z):
    if block.act_kind == "relu":
        return F.relu(z)
    q = block.act.act_quant
    scale, bits = float(q.scale()), int(q.bit_width())
    return torch.clamp(z, -scale * 2 ** (bits - 1), scale * (2 ** (bits - 1) - 1))


def float_block(block, x, float_weights: bool = False):
    """One block of the float network: the block's own operators on unquantized values."""
    if hasattr(block, "float_forward"):  # e.g. the TV smoothing step
        return block.float_forward(x)
    conv = isinstance(block, SymmetricConvBlock)
    w = _w(block.K, float_weights)
    z = _float_act(block, F.conv2d(x, w, padding=1) if conv else F.linear(x, w))
    if isinstance(block, (ResidualLinearBlock, ResidualConvBlock)):
        w2 = _w(block.K2, float_weights)
        back = F.conv2d(z, w2, padding=1) if conv else F.linear(z, w2)
    else:
        back = F.conv_transpose2d(z, w, padding=1) if conv else F.linear(z, w.t())
    return x - block.h * back


@torch.no_grad()
def traces(model, x: torch.Tensor, float_weights: bool = False) -> tuple[list, list, torch.Tensor, torch.Tensor]:
    """(quantized stream per block, float stream per block, quantized logits, float logits)."""
    model.eval()
    cnn = isinstance(model, StableCNN)
    xin = model.input_quant(x if cnn else x.flatten(1))
    pre = model.opening(xin)
    sq, sf = model.open_quant(pre), pre.value if hasattr(pre, "value") else pre
    tq, tf = [sq.value], [sf]
    for block in model.blocks:
        sq, sf = block(sq), float_block(block, sf, float_weights)
        tq.append(sq.value)
        tf.append(sf)
    head_q = model.pool(sq) if cnn else sq
    logits_q = model.classifier(head_q.flatten(1))
    head_f = F.max_pool2d(sf, 2) if cnn else sf
    c = model.classifier
    logits_f = F.linear(head_f.flatten(1), _w(c, float_weights), c.bias)
    return tq, tf, logits_q.value if hasattr(logits_q, "value") else logits_q, logits_f


def block_deviation(model, x, float_weights: bool = False, batch: int = 500) -> dict:
    """Mean (over samples) relative deviation per block, plus both networks' logits."""
    devs, lq, lf = [], [], []
    for i in range(0, len(x), batch):
        tq, tf, q, f = traces(model, torch.as_tensor(x[i:i + batch]), float_weights)
        devs.append(np.stack([relative_deviation(a, b) for a, b in zip(tq, tf)], axis=1))
        lq.append(q.numpy())
        lf.append(f.numpy())
    d = np.concatenate(devs)
    return {"deviation": d.mean(0).tolist(), "deviation_std": d.std(0).tolist(),
            "logits_quant": np.concatenate(lq), "logits_float": np.concatenate(lf)}
