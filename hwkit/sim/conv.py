"""A SlidingWindow feeding one MVU, run as a convolution without materializing the whole im2col.

The batch is cut into chunks whose im2col fits in the L2 cache: each chunk is copied into a reused
padded buffer (its border written once with the pad value), unrolled into a reused im2col buffer
and multiplied straight into its rows of the output. The full-batch im2col (9x the activations for
a 3x3 kernel) never goes through main memory, and the input is cast to the MVU's exact arithmetic
type before the unroll, not after. Results equal SlidingWindow then MVU bit for bit: the same
products in the same exact arithmetic (see ``core._mvu_plan``)."""
from __future__ import annotations

import numpy as np

from hwkit.ir.graph import MVU, SlidingWindow

CHUNK_BYTES = 1 << 19  # im2col bytes per chunk: well inside a 1-2 MiB L2 with the GEMM's own buffers


def fusable(win: SlidingWindow, mvu: MVU, in_type) -> bool:
    """The fused path reads the pad value as an input value, so the MVU's exactness bound (computed
    from the input type) must cover it."""
    return abs(int(win.pad_value)) <= max(abs(in_type.min), abs(in_type.max))


def conv(win: SlidingWindow, x: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """``im2col(x) @ wt`` for x (N, H, W, C) and wt (KH*KW*C, O) in wt's dtype: (N, OH, OW, O)."""
    dt = wt.dtype
    t, l, b, r = win.pad
    n, H, W, C = x.shape
    kh, kw = win.kernel
    sh, sw = win.stride
    Hp, Wp = H + t + b, W + l + r
    oh, ow = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    K, O = wt.shape
    if K != kh * kw * C:
        raise ValueError(f"window '{win.name}' yields {kh * kw * C} values per pixel, MVU expects {K}")
    nb = int(max(1, min(n, CHUNK_BYTES // max(1, oh * ow * K * dt.itemsize))))
    xp = np.full((nb, Hp, Wp, C), win.pad_value, dtype=dt)
    col = np.empty((nb, oh, ow, kh, kw * C), dtype=dt)
    acc = np.empty((n * oh * ow, O), dtype=dt)
    s0, s1, s2, s3 = xp.strides
    # kernel row i of every window: kw*C values contiguous in the padded (H, W, C) map, one run each
    rows = [np.lib.stride_tricks.as_strided(xp[:, i:], (nb, oh, ow, kw * C), (s0, s1 * sh, s2 * sw, s3))
            for i in range(kh)]
    inner = xp[:, t:t + H, l:l + W]
    for i0 in range(0, n, nb):
        m = min(nb, n - i0)
        inner[:m] = x[i0:i0 + m]
        for i in range(kh):
            col[:m, :, :, i] = rows[i][:m]
        np.matmul(col[:m].reshape(m * oh * ow, K), wt, out=acc[i0 * oh * ow:(i0 + m) * oh * ow])
    return acc.reshape(n, oh, ow, O)
