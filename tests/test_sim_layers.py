"""Each simulator layer against a naive loop reference, in both the int64 and float32 lanes."""
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from hwkit.ir.graph import MVU, Add, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import BIPOLAR, IntType
from hwkit.sim import simulate


def one_layer(layer, in_shape, in_type, out_shape, out_type, extra_inputs=()):
    streams = {"x": Stream("x", in_shape, in_type), "y": Stream("y", out_shape, out_type)}
    for name, shape, t in extra_inputs:
        streams[name] = Stream(name, shape, t)
    return HwGraph("t", streams, [replace(layer, outputs=("y",))], ["x"], ["y"])


@pytest.mark.parametrize("wide", [False, True])
def test_mvu(wide):
    rng = np.random.default_rng(0)
    wmax = (1 << 40) if wide else 7  # wide weights force the int64 path
    W = rng.integers(-wmax, wmax + 1, (6, 10))
    b = rng.integers(-100, 100, 6)
    t = IntType(4, True)
    g = one_layer(MVU("m", ["x"], [], weights=W, wtype=IntType(42, True), bias=b), (10,), t, (6,),
                  IntType(62, True))
    x = rng.integers(t.min, t.max + 1, (50, 10))
    y = simulate(g, x).outputs["y"]
    ref = np.array([[sum(int(W[o, i]) * int(x[n, i]) for i in range(10)) + int(b[o]) for o in range(6)]
                    for n in range(50)], dtype=object)
    assert (y.astype(object) == ref).all()


def test_sliding_window_pad_stride():
    rng = np.random.default_rng(1)
    H, W, C, k, s = 7, 6, 3, 3, 2
    pad = (1, 0, 2, 1)
    lay = SlidingWindow("w", ["x"], [], kernel=(k, k), stride=(s, s), pad=pad, pad_value=-3)
    oh = (H + pad[0] + pad[2] - k) // s + 1
    ow = (W + pad[1] + pad[3] - k) // s + 1
    t = IntType(4, True)
    g = one_layer(lay, (H, W, C), t, (oh, ow, k * k * C), t)
    x = rng.integers(-8, 8, (4, H, W, C))
    y = simulate(g, x).outputs["y"]
    for n in range(4):
        for i in range(oh):
            for j in range(ow):
                ref = []
                for a in range(k):
                    for bb in range(k):
                        r, c = i * s + a - pad[0], j * s + bb - pad[1]
                        for ch in range(C):
                            ref.append(x[n, r, c, ch] if 0 <= r < H and 0 <= c < W else -3)
                assert list(y[n, i, j]) == ref


@pytest.mark.parametrize("levels", [3, 15])
@pytest.mark.parametrize("bipolar", [False, True])
def test_threshold(levels, bipolar):
    rng = np.random.default_rng(2)
    C = 4
    if bipolar:
        levels = 1
    T = np.sort(rng.integers(-50, 50, (C, levels)), axis=1)
    t_in = IntType(8, True)
    out_t = BIPOLAR if bipolar else IntType(5, True)
    g = one_layer(Threshold("t", ["x"], [], thresholds=T, base=-2), (3, C), t_in, (3, C), out_t)
    x = rng.integers(-60, 60, (20, 3, C))
    y = simulate(g, x).outputs["y"]
    for idx in np.ndindex(x.shape):
        cnt = sum(int(x[idx] >= T[idx[-1], k]) for k in range(levels))
        assert y[idx] == ((2 * cnt - 1) if bipolar else cnt - 2)


def _round(fr: Fraction, mode):
    if mode == "floor":
        return fr.numerator // fr.denominator
    if mode == "half_even":
        return round(fr)
    return (fr + Fraction(1, 2)).numerator // (fr + Fraction(1, 2)).denominator


@pytest.mark.parametrize("mode", ["half_even", "floor", "half_up"])
@pytest.mark.parametrize("shift", [-2, 0, 1, 3])
@pytest.mark.parametrize("acc_bits", [12, 40])  # float32 lane vs int64 lane
def test_shift_round(mode, shift, acc_bits):
    t_in = IntType(acc_bits, True)
    lay = ShiftRound("s", ["x"], [], shift=shift, rounding=mode, lo=-100, hi=90)
    g = one_layer(lay, (8,), t_in, (8,), IntType(8, True))
    rng = np.random.default_rng(3)
    x = np.concatenate([np.arange(-64, 64), rng.integers(-400, 400, 128)]).reshape(-1, 8)
    y = simulate(g, x).outputs["y"]
    for idx in np.ndindex(x.shape):
        ref = _round(Fraction(int(x[idx])) / Fraction(2) ** shift, mode)
        assert y[idx] == min(max(ref, -100), 90), (idx, x[idx])


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool(mode):
    rng = np.random.default_rng(4)
    t = IntType(4, False)
    shift = 2 if mode == "avg" else 0
    lay = Pool("p", ["x"], [], mode=mode, kernel=(2, 2), stride=(2, 2), shift=shift)
    g = one_layer(lay, (6, 4, 3), t, (3, 2, 3), IntType(8, False))
    x = rng.integers(0, 16, (5, 6, 4, 3))
    y = simulate(g, x).outputs["y"]
    for n, i, j, c in np.ndindex(y.shape):
        win = x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
        assert y[n, i, j, c] == (win.max() if mode == "max" else int(win.sum()) >> 2)


@pytest.mark.parametrize("bits", [6, 30])
def test_add_and_reshape(bits):
    """x -> z = 2x (ShiftRound by -1); y = x - (z << 2) = -7x; f = y transposed (C first) and flattened."""
    rng = np.random.default_rng(5)
    t = IntType(bits, True)
    big = IntType(bits + 4, True)
    streams = {"x": Stream("x", (2, 3, 4), t), "z": Stream("z", (2, 3, 4), big),
               "y": Stream("y", (2, 3, 4), big), "f": Stream("f", (24,), big)}
    layers = [ShiftRound("s", ["x"], ["z"], shift=-1, lo=big.min, hi=big.max),
              Add("a", ["x", "z"], ["y"], shifts=(0, 2), signs=(1, -1)),
              Reshape("r", ["y"], ["f"], perm=(2, 0, 1), shape=(24,))]
    g = HwGraph("t", streams, layers, ["x"], ["f"])
    x = rng.integers(t.min, t.max + 1, (3, 2, 3, 4))
    res = simulate(g, x, trace=True)
    assert np.array_equal(res.trace["a"], -7 * x)
    assert np.array_equal(res.outputs["f"], (-7 * x).transpose(0, 3, 1, 2).reshape(3, 24))


def test_inputs_outside_type_rejected():
    from hwkit.errors import ConfigError

    t = IntType(2, False)
    g = one_layer(Reshape("r", ["x"], [], perm=None, shape=(4,)), (4,), t, (4,), t)
    with pytest.raises(ConfigError):
        simulate(g, np.full((1, 4), 9))
    with pytest.raises(ConfigError):
        simulate(g, np.zeros((1, 5), dtype=np.int64))
