"""Exact requantization math against brute force on every accumulator value."""
from fractions import Fraction

import numpy as np
import pytest
from qonnx.custom_op.general.quant import resolve_rounding_mode

from hwkit.ir import requant as rq

MODES = ["ROUND", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "DOWN", "UP"]


@pytest.mark.parametrize("mode", MODES)
def test_round_level_matches_qonnx_rounding(mode):
    fn = resolve_rounding_mode(mode)
    us = [Fraction(i, 4) for i in range(-40, 41)]
    for k in range(-8, 9):
        kind, t = rq.round_level(mode, k)
        for u in us:
            want = fn(np.float64(u)) >= k
            got = u >= t if kind == "ge" else u > t
            assert want == got, (mode, k, u)


def _reference(chain, quant, c, n):
    v = Fraction(n)
    for op in chain:
        if isinstance(op, rq.Affine):
            v = op.a[c] * v + op.b[c]
        elif isinstance(op, rq.Max):
            v = max(v, op.m[c])
        else:
            v = min(v, op.m[c])
    u = v / quant.scale[c] + quant.zeropt[c]
    if quant.bipolar:
        return 1 if u >= 0 else -1
    # np.float64(u) rounds u only far below 0.5 ulp of a tie for these values; clip as qonnx does
    q = int(resolve_rounding_mode(quant.mode)(np.float64(u)))
    return min(max(q, quant.qmin), quant.qmax)


def _apply(T, neg, n, c, base, bipolar):
    x = -n if neg[c] else n
    cnt = int(np.sum(x >= T[c]))
    return 2 * cnt - 1 if bipolar else base + cnt


@pytest.mark.parametrize("seed", range(6))
def test_thresholds_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    C = 5
    a = rq.fvec(rng.choice([-1, 1], C) * rng.uniform(0.05, 0.6, C).astype(np.float32))
    b = rq.fvec(rng.uniform(-3, 3, C).astype(np.float32))
    # dyadic scale so that np.float64(u) in the reference is exact
    scale = rq.fvec(np.full(C, 0.25))
    chain = [rq.Affine(a, b)]
    if seed % 2:
        chain = [rq.Affine(rq.fvec(np.abs(rng.uniform(0.05, 0.6, C)).astype(np.float32)), b),
                 rq.Max(rq.fvec(np.zeros(C)))]
    bits = 2 + seed % 3
    signed = seed % 2 == 0
    qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    quant = rq.Quantizer(scale, rq.fvec(np.zeros(C)), qmin, qmax, MODES[seed % 3])
    lo, hi = -40, 40
    T, neg = rq.thresholds(chain, quant, C, lo, hi)
    for c in range(C):
        for n in range(lo, hi + 1):
            assert _apply(T, neg, n, c, qmin, False) == _reference(chain, quant, c, n), (c, n)


def test_bipolar_thresholds():
    C = 3
    a, b = rq.fvec([0.5, -0.25, 1.0]), rq.fvec([0.3, 0.1, -2.0])
    quant = rq.Quantizer(rq.fvec(np.ones(C)), rq.fvec(np.zeros(C)), -1, 1, "ROUND", bipolar=True)
    T, neg = rq.thresholds([rq.Affine(a, b)], quant, C, -10, 10)
    for c in range(C):
        for n in range(-10, 11):
            assert _apply(T, neg, n, c, -1, True) == _reference([rq.Affine(a, b)], quant, c, n)


def test_exact_tie_goes_to_even():
    # v = n / 2 exactly; half-even rounding: n=1 -> 0, n=3 -> 2, n=5 -> 2
    quant = rq.Quantizer(rq.fvec([1.0]), rq.fvec([0.0]), 0, 7, "ROUND")
    T, _ = rq.thresholds([rq.Affine(rq.fvec([0.5]), rq.fvec([0.0]))], quant, 1, 0, 14)
    got = [int(np.sum(n >= T[0])) for n in range(15)]
    assert got == [int(np.round(n / 2)) if n // 2 < 7 else 7 for n in range(15)]


def test_exact_sqrt():
    r = rq.exact_sqrt(Fraction(2))
    assert abs(float(r * r - 2)) < 1e-50

