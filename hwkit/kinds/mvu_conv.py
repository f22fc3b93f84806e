"""A SlidingWindow feeding one MVU, run as a convolution without materializing the whole im2col.

The batch is cut into chunks whose im2col fits in the L2 cache: each chunk is copied into a reused
padded buffer (its border written once with the pad value), unrolled into a reused im2col buffer
and multiplied straight into its rows of the output. The full-batch im2col (9x the activations for
a 3x3 kernel) never goes through main memory, and the input is cast to the MVU's exact arithmetic
type before the unroll, not after.

Two samples per float lane: when the accumulators are small (|acc| <= B, B < 2**(p-1)), samples a and
b run as one input ``a + 2**p * b``. The convolution is linear, so the packed accumulator is
``acc_a + 2**p * acc_b``; if ``B * (1 + 2**p)`` stays below the lane's exact-integer limit (2**24
for float32, 2**53 for float64), every partial sum of it is an exact integer, and it splits back
exactly: ``acc_b = rint(packed / 2**p)`` (|acc_a / 2**p| < 1/2), ``acc_a = packed - 2**p * acc_b``.
This halves the im2col copies and the matrix product. Results equal SlidingWindow then MVU bit for
bit (tests/test_sim_conv.py checks both sides of the packing bound)."""
from __future__ import annotations

import threading

import numpy as np

from hwkit.ir.graph import MVU, SlidingWindow

CHUNK_BYTES = 1 << 18  # im2col bytes per chunk: inside L2 with the GEMM's own buffers (256-512 KiB measured best)
EXACT = {np.dtype(np.float32): 1 << 24, np.dtype(np.float64): 1 << 53}


def fusable(win: SlidingWindow, mvu: MVU, in_type) -> bool:
    """The fused path reads the pad value as an input value, so the MVU's exactness bound (computed
    from the input type) must cover it."""
    return tuple(win.dilation) == (1, 1) and abs(int(win.pad_value)) <= max(abs(in_type.min), abs(in_type.max))


def pack_shift(wt: np.ndarray, acc_bound: int, in_bound: int) -> int:
    """The shift p that packs two samples per lane, or 0 when packing is not exact or not worth it.
    ``acc_bound`` bounds |acc| and every partial sum in integer units, ``in_bound`` bounds |input|."""
    limit = EXACT.get(wt.dtype)
    K, O = wt.shape
    if limit is None or K < 2 * O:  # unpacking costs a few passes over the output: needs K >> O
        return 0
    p = acc_bound.bit_length() + 1  # acc_bound < 2**(p-1)
    if acc_bound * ((1 << p) + 1) >= limit or in_bound * ((1 << p) + 1) >= limit:
        return 0
    return p


class Arena:
    """Arrays reused from one simulate call to the next (fresh multi-100-KiB arrays cost page
    faults on every call). One slot per key, per thread; only for values that never leave
    ``simulate`` (graph outputs are copied out). An arena belongs to one frozen graph (keys are
    layer names, unique there); buffers are scratch, rewritten on every use."""

    MAX_BYTES = 1 << 24  # larger arrays are allocated per call: their page faults are a small share then

    def __init__(self):
        self._local = threading.local()

    def __reduce__(self):  # a copied or pickled graph starts with an empty arena
        return (Arena, ())

    def get(self, key, shape: tuple, dtype, fill=None) -> np.ndarray:
        slots = self._local.__dict__.setdefault("slots", {})
        a = slots.get(key)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
            if a.nbytes <= self.MAX_BYTES:
                slots[key] = a
        return a


def conv(win: SlidingWindow, x: np.ndarray, wt: np.ndarray, bias: np.ndarray | None = None, pack: int = 0,
         unit: float = 1.0, arena: Arena | None = None) -> np.ndarray:
    """``im2col(x) @ wt + bias`` for x (N, H, W, C), wt (KH*KW*C, O) and bias (O,) in wt's dtype:
    (N, OH, OW, O). ``pack`` > 0 packs two samples per lane with that shift (see
    :func:`pack_shift`, whose bound must cover the bias); ``unit`` is the value of one integer step
    of the accumulator (2**-shift when wt and bias are prescaled). With an ``arena``, the result
    lives in it until the next call for this window."""
    arena = arena or Arena()
    x = x[:, None] if x.ndim == 3 else x   # a 1-D map (L, C) is (1, L, C)
    dt = wt.dtype
    n = x.shape[0]
    pad_value = win.pad_value
    if pack and n > 1:
        h = (n + 1) // 2
        xa = arena.get((win.name, "xa"), (h,) + x.shape[1:], dt)  # packed input, pad value packed alike
        xa[:] = x[:h]
        xa[:n - h] += x[h:] * dt.type(2.0 ** pack)
        pad_value = pad_value * (1 + 2 ** pack)
        packed = _conv(win, xa, wt, pad_value, arena, None if bias is None else bias * dt.type(1 + 2 ** pack))
        hi = arena.get((win.name, "hi"), packed.shape, dt)
        np.multiply(packed, dt.type(2.0 ** -pack / unit), out=hi)
        np.rint(hi, out=hi)  # acc_b in integer units
        out = arena.get((win.name, "out"), (n,) + packed.shape[1:], dt)
        np.multiply(hi[:n - h], dt.type(unit), out=out[h:])
        np.multiply(hi, dt.type(-(2.0 ** pack) * unit), out=out[:h])
        out[:h] += packed
        return out
    return _conv(win, x, wt, pad_value, arena, bias)


def _conv(win: SlidingWindow, x: np.ndarray, wt: np.ndarray, pad_value, arena: Arena, bias=None) -> np.ndarray:
    """The chunked unroll and product. A bias rides in the product as one more im2col column of
    ones (written once, when the buffer is made) against a weight row holding the bias."""
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
    # only the interior is ever written: the border keeps the pad value from the first fill
    xp = arena.get((win.name, "xp", pad_value), (nb, Hp, Wp, C), dt, fill=pad_value)
    if bias is not None:
        wt = np.concatenate([wt, bias.reshape(1, O).astype(dt)])
    K1 = wt.shape[0]
    col = arena.get((win.name, "col"), (nb, oh, ow, K1), dt, fill=1)  # column K stays 1
    acc = arena.get((win.name, "acc"), (n * oh * ow, O), dt)
    s0, s1, s2, s3 = xp.strides
    # kernel row i of every window: kw*C values contiguous in the padded (H, W, C) map, one run each
    rows = [np.ndarray((nb, oh, ow, kw * C), dt, xp, i * s1, (s0, s1 * sh, s2 * sw, s3)) for i in range(kh)]
    # one channel: runs of kw values are too short; copy tap by tap (runs along the output row)
    taps = [(col[..., i * kw + j],
             np.ndarray((nb, oh, ow), dt, xp, i * s1 + j * s2, (s0, s1 * sh, s2 * sw)))
            for i in range(kh) for j in range(kw)] if C == 1 else []
    inner = xp[:, t:t + H, l:l + W]
    for i0 in range(0, n, nb):
        m = min(nb, n - i0)
        inner[:m] = x[i0:i0 + m]
        for dst, src in taps:
            dst[:m] = src[:m]
        for i in range(kh if C > 1 else 0):
            col[:m, :, :, i * kw * C:(i + 1) * kw * C] = rows[i][:m]
        np.matmul(col[:m].reshape(m * oh * ow, K1), wt, out=acc[i0 * oh * ow:(i0 + m) * oh * ow])
    return acc.reshape(n, oh, ow, O)
