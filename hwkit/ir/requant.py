"""Exact requantization: elementwise chains on an integer accumulator and the quantizer after them.

A value pending requantization is ``real = chain(n)`` with ``n`` the integer on a hardware stream and
``chain`` a list of per-channel monotone pieces (affine, max, min). Constants are Python
``Fraction`` so that thresholds are exact: every float32 in a model is a dyadic rational, and a square
root (BatchNorm) is taken to 60 decimal digits, far below any float32 tie.

A quantizer is described by the set of reals mapped to level >= k, for every level k. Pulling those
sets back through the chain gives, per channel, the smallest integer ``n`` reaching each level: the
thresholds. Nothing here evaluates floats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np

INF = float("inf")


def frac(x) -> Fraction:
    return Fraction(float(x)) if not isinstance(x, Fraction) else x


def fvec(values, n: int | None = None) -> np.ndarray:
    """Object array of Fractions (exact copies of float32/float64 values)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if n is not None and arr.size == 1:
        arr = np.full(n, arr[0])
    out = np.empty(arr.size, dtype=object)
    for i, v in enumerate(arr):
        out[i] = Fraction(float(v))
    return out


def exact_sqrt(x: Fraction) -> Fraction:
    getcontext().prec = 60
    d = Decimal(x.numerator) / Decimal(x.denominator)
    return Fraction(d.sqrt())


@dataclass
class Affine:
    a: np.ndarray  # per channel, Fractions
    b: np.ndarray


@dataclass
class Max:
    m: np.ndarray


@dataclass
class Min:
    m: np.ndarray


def compose(chain: list) -> list:
    """Merge consecutive affine pieces (keeps the chain short and its meaning unchanged)."""
    out: list = []
    for op in chain:
        if isinstance(op, Affine) and out and isinstance(out[-1], Affine):
            prev = out[-1]
            out[-1] = Affine(op.a * prev.a, op.a * prev.b + op.b)
        else:
            out.append(op)
    return out


def as_affine(chain: list):
    """(a, b) if the chain is a single affine map, else None."""
    chain = compose(chain)
    if len(chain) == 1 and isinstance(chain[0], Affine):
        return chain[0].a, chain[0].b
    if not chain:
        return None
    return None


# ---- quantizers: for level k, the set {u : R(u) >= k} as ('ge'|'gt', t) ---------------------------

def round_level(mode: str, k: int):
    """Condition on the real u for ``R(u) >= k`` where R is a qonnx rounding mode (k an integer)."""
    mode = mode.upper()
    half = Fraction(2 * k - 1, 2)
    if mode in ("ROUND", "HALF_EVEN"):
        return ("ge", half) if k % 2 == 0 else ("gt", half)
    if mode == "FLOOR":
        return ("ge", Fraction(k))
    if mode == "CEIL":
        return ("gt", Fraction(k - 1))
    if mode == "HALF_UP":  # half away from zero
        return ("ge", half) if k > 0 else ("gt", half)
    if mode == "HALF_DOWN":
        return ("gt", half) if k > 0 else ("ge", half)
    if mode in ("ROUND_TO_ZERO", "DOWN"):
        return ("ge", Fraction(k)) if k > 0 else ("gt", Fraction(k - 1))
    if mode == "UP":
        return ("gt", Fraction(k - 1)) if k > 0 else ("ge", Fraction(k))
    raise ValueError(f"unknown rounding mode {mode}")


@dataclass
class Quantizer:
    """``q = clip(R(v / scale + zeropt), qmin, qmax)`` per channel; bipolar: ``q = +-1 (v/s+z >= 0)``.

    ``trunc_shift`` > 0 models QONNX Trunc: ``q = R(round_half_even(v/s + z) / 2**shift)``."""

    scale: np.ndarray  # per channel Fractions, > 0
    zeropt: np.ndarray
    qmin: int
    qmax: int
    mode: str = "ROUND"
    bipolar: bool = False
    trunc_shift: int = 0

    def levels(self) -> list[int]:
        return [1] if self.bipolar else list(range(self.qmin + 1, self.qmax + 1))

    def condition(self, c: int, k: int):
        """Condition on v (the real before the quantizer) for output level >= k."""
        s, z = self.scale[c], self.zeropt[c]
        if self.bipolar:
            kind, tu = "ge", Fraction(0)
        elif self.trunc_shift:
            kind, tw = round_level(self.mode, k)
            # w = u_int / 2**shift with u_int integer: smallest integer u_int satisfying it
            lim = tw * (1 << self.trunc_shift)
            kmin = math.ceil(lim) if kind == "ge" else math.floor(lim) + 1
            kind, tu = round_level("ROUND", kmin)
        else:
            kind, tu = round_level(self.mode, k)
        return kind, (tu - z) * s


def pull_back(chain: list, c: int, cond):
    """Pull a condition on the chain's output back to its input (channel c)."""
    kind, t = cond
    for op in reversed(chain):
        if kind in ("all", "none"):
            return kind, t
        if isinstance(op, Affine):
            a, b = op.a[c], op.b[c]
            if a == 0:
                holds = {"ge": b >= t, "gt": b > t, "le": b <= t, "lt": b < t}[kind]
                return ("all" if holds else "none"), 0
            t = (t - b) / a
            if a < 0:
                kind = {"ge": "le", "gt": "lt", "le": "ge", "lt": "gt"}[kind]
        elif isinstance(op, Max):  # max(x, m) ? t
            m = op.m[c]
            if kind == "ge" and m >= t or kind == "gt" and m > t:
                return "all", 0
            if kind == "le" and m > t or kind == "lt" and m >= t:
                return "none", 0
        elif isinstance(op, Min):  # min(x, m) ? t
            m = op.m[c]
            if kind == "ge" and m < t or kind == "gt" and m <= t:
                return "none", 0
            if kind == "le" and m <= t or kind == "lt" and m < t:
                return "all", 0
        else:
            raise TypeError(op)
    return kind, t


def thresholds(chain: list, quant: Quantizer, channels: int, lo: int, hi: int):
    """Integer thresholds (C, L) on the accumulator n in [lo, hi], and per-channel direction.

    Returns ``(T, negate)``: for channels with ``negate`` True the map is non-increasing and ``T``
    applies to ``-n`` (the producer must negate that output). ``T`` entries are clipped to
    [lo', hi'+1] of the (possibly negated) range so that they fit a type one bit wider at most.
    """
    chain = compose(chain)
    levels = quant.levels()
    T = np.zeros((channels, len(levels)), dtype=np.int64)
    negate = np.zeros(channels, dtype=bool)
    for c in range(channels):
        conds = [pull_back(chain, c, quant.condition(c, k)) for k in levels]
        kinds = {k for k, _ in conds} - {"all", "none"}
        if kinds and kinds <= {"le", "lt"}:
            negate[c] = True
        elif kinds and not kinds <= {"ge", "gt"}:
            raise ValueError("non-monotone requantization")
        clo, chi = (-hi, -lo) if negate[c] else (lo, hi)
        for j, (kind, t) in enumerate(conds):
            if kind == "all":
                v = clo
            elif kind == "none":
                v = chi + 1
            else:
                if negate[c]:
                    kind, t = {"le": "ge", "lt": "gt"}[kind], -t
                v = math.ceil(t) if kind == "ge" else math.floor(t) + 1
            T[c, j] = min(max(v, clo), chi + 1)
        T[c] = np.maximum.accumulate(T[c])
    return T, negate


def boundaries(chain: list, quant: Quantizer, channels: int) -> np.ndarray:
    """The exact real boundaries (as float64) on n for each (channel, level): used to flag ties."""
    chain = compose(chain)
    out = np.full((channels, len(quant.levels())), np.nan)
    for c in range(channels):
        for j, k in enumerate(quant.levels()):
            kind, t = pull_back(chain, c, quant.condition(c, k))
            if kind not in ("all", "none"):
                out[c, j] = float(t)
    return out
