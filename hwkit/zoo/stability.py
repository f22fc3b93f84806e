"""Forward stability of symmetric blocks: measure and enforce ``h * ||K||_2^2 * max s' <= 2``.

Why the bound: linearised, a symmetric block maps a perturbation ``d`` to ``(I - h K^T S K) d``
with ``0 <= S <= max s'``; its eigenvalues lie in ``[1 - h ||K||^2 max s', 1]``, so the step does
not amplify ``d`` exactly when ``h ||K||^2 max s' <= 2`` (forward Euler on a diffusion).

``||K||_2`` is exact (an SVD) for fully connected K and a power iteration on the padded
convolution operator at the block's feature-map size for conv K. ``enforce`` rescales the latent
float weight; ``quantized=True`` also checks the quantized weight (rounding can push it back over)
and shrinks until the float and the quantized K both satisfy it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hwkit.zoo.stable import MAX_SLOPE, SymmetricConvBlock, SymmetricLinearBlock

BOUND = 2.0
DEFAULT_SPATIAL = (8, 8)


def _conv_norm(w: torch.Tensor, spatial, iters: int, block=None) -> float:
    """Largest singular value of x -> conv2d(x, w, padding=1) on (C, *spatial) maps."""
    shape = (1, w.shape[1], *spatial)
    u = getattr(block, "_power_u", None)
    if u is None or u.shape != shape:
        u = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    for _ in range(iters):
        u = F.conv_transpose2d(F.conv2d(u, w, padding=1), w, padding=1)
        u = u / u.norm().clamp_min(1e-30)
    if block is not None:
        block._power_u = u  # warm start: one or two iterations per training step suffice
    return float(F.conv2d(u, w, padding=1).norm())


def operator_norm(block, quantized: bool = True, iters: int = 100) -> float:
    w = (block.K.quant_weight().value if quantized else block.K.weight).detach()
    if isinstance(block, SymmetricConvBlock):
        return _conv_norm(w, getattr(block, "spatial", DEFAULT_SPATIAL), iters, block)
    return float(torch.linalg.matrix_norm(w, ord=2))


def symmetric_blocks(model):
    """The blocks whose second operator is K^T (residual blocks are skipped: no such bound)."""
    return [m for m in model.modules() if isinstance(m, (SymmetricLinearBlock, SymmetricConvBlock))
            and getattr(m, "share", False)]


def stability_report(model, iters: int = 100) -> list[dict]:
    """Per symmetric block: h, ||K||_2 and h * ||K||_2^2 * max s' for the float and the quantized K."""
    rows = []
    with torch.no_grad():
        for i, block in enumerate(symmetric_blocks(model)):
            slope = MAX_SLOPE[block.act_kind]
            nf, nq = operator_norm(block, False, iters), operator_norm(block, True, iters)
            rows.append({"block": i, "h": block.h, "norm_float": nf, "norm_quant": nq,
                         "stability_float": block.h * nf ** 2 * slope,
                         "stability_quant": block.h * nq ** 2 * slope})
    return rows


@torch.no_grad()
def enforce(model, bound: float = BOUND, quantized: bool = False, iters: int = 2, max_rounds: int = 12) -> int:
    """Rescale every symmetric block's K so that h * ||K||^2 * max s' <= bound; returns how many
    blocks were rescaled. Called after each optimizer step (cheap: warm power iteration)."""
    changed = 0
    for block in symmetric_blocks(model):
        slope = MAX_SLOPE[block.act_kind]
        limit = math.sqrt(bound / (block.h * slope))
        for rnd in range(max_rounds):
            it = iters if rnd == 0 else max(iters, 20)
            n = operator_norm(block, False, it)
            if quantized:  # both must hold: the float K trains on, the quantized K is the hardware's
                n = max(n, operator_norm(block, True, it))
            if n <= limit:
                break
            # 1 % under the limit for the power iteration's underestimate; quantized rounds shrink harder
            block.K.weight.mul_(limit / n * (0.99 if not quantized else 0.97))
            changed += rnd == 0
            if not quantized:
                break
    return changed
