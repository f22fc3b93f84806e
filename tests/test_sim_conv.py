"""The simulator's fused convolution path (hwkit.kinds.mvu_conv, hwkit.sim.schedule) against a plain int64
reference written here, on both sides of every exactness bound it relies on:
- the float32 lane (every partial sum below 2**24) against the float64 fallback at 2**24 + 1;
- two samples packed per float lane (acc_bound * (2**p + 1) < 2**24) against no packing just above,
with inputs that drive the accumulators onto the bound."""
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwkit.ir.graph import MVU, HwGraph, Pool, ShiftRound, SlidingWindow, Stream
from hwkit.ir.types import IntType
from hwkit.sim import simulate
from hwkit.kinds.mvu_conv import pack_shift


def ref_conv(x, W, bias, kernel, stride, pad, pad_value):
    """Direct convolution in int64: x (N, H, W, C), W (O, KH*KW*C) ordered (kh, kw, c)."""
    t, l, b, r = pad
    xp = np.pad(x.astype(np.int64), ((0, 0), (t, b), (l, r), (0, 0)), constant_values=pad_value)
    kh, kw = kernel
    sh, sw = stride
    n, H, Wd, C = xp.shape
    oh, ow = (H - kh) // sh + 1, (Wd - kw) // sw + 1
    Wk = W.astype(np.int64).reshape(W.shape[0], kh, kw, C)
    out = np.zeros((n, oh, ow, W.shape[0]), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            out[:, i, j, :] = np.einsum("nabc,oabc->no", patch, Wk)
    return out + (0 if bias is None else bias.astype(np.int64))


def ref_shift_round(acc, shift, mode, lo, hi):
    d = 1 << shift
    q, r = np.divmod(acc, d)  # floor division: r in [0, d)
    if mode == "half_up":
        q = q + (2 * r >= d)
    elif mode == "half_even":
        q = q + ((2 * r > d) | ((2 * r == d) & (q % 2 == 1)))
    return np.clip(q, lo, hi)


def conv_graph(in_shape, in_t, W, bias, kernel, stride, pad, pad_value, shift=None, rounding="half_even",
               pool=False):
    """x -> SlidingWindow -> MVU [-> ShiftRound to 4 bits [-> 2x2 max Pool]]."""
    H, Wd, C = in_shape
    t, l, b, r = pad
    oh, ow = (H + t + b - kernel[0]) // stride[0] + 1, (Wd + l + r - kernel[1]) // stride[1] + 1
    acc_bound = int(np.abs(W).sum(axis=1).max()) * max(abs(in_t.min), abs(in_t.max), abs(pad_value)) \
        + (0 if bias is None else int(np.abs(bias).max()))
    acc_t = IntType.for_range(-acc_bound, acc_bound)
    O = W.shape[0]
    streams = {"x": Stream("x", in_shape, in_t), "w": Stream("w", (oh, ow, W.shape[1]), in_t),
               "a": Stream("a", (oh, ow, O), acc_t)}
    layers = [SlidingWindow("win", ["x"], ["w"], kernel=kernel, stride=stride, pad=pad, pad_value=pad_value),
              MVU("mvu", ["w"], ["a"], weights=W, wtype=IntType(40, True), bias=bias, acc=acc_t)]
    out = "a"
    if shift is not None:
        q_t = IntType(4, True)
        streams["q"] = Stream("q", (oh, ow, O), q_t)
        layers.append(ShiftRound("sr", ["a"], ["q"], shift=shift, rounding=rounding, lo=q_t.min, hi=q_t.max))
        out = "q"
        if pool:
            streams["p"] = Stream("p", (oh // 2, ow // 2, O), q_t)
            layers.append(Pool("pool", ["q"], ["p"], mode="max", kernel=(2, 2), stride=(2, 2)))
            out = "p"
    return HwGraph("c", streams, layers, ["x"], [out])


def reference(g, x):
    win, mvu = g.layers[0], g.layers[1]
    y = ref_conv(x, mvu.weights, mvu.bias, win.kernel, win.stride, win.pad, win.pad_value)
    for layer in g.layers[2:]:
        if isinstance(layer, ShiftRound):
            y = ref_shift_round(y, layer.shift, layer.rounding, layer.lo, layer.hi)
        else:
            n, h, w, c = y.shape
            y = y[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    return y


def check(g, x):
    want = reference(g, x)
    fast = simulate(g, x)  # fused schedule
    traced = simulate(g, x, trace=True)  # layer by layer, im2col materialized
    for res in (fast, traced):
        got = res.outputs[g.outputs[0]]
        assert got.shape == want.shape
        assert int((got != want).sum()) == 0, f"{int((got != want).sum())} mismatches"


def plan(g):
    from hwkit.ir.graph import derived

    return derived(g.layers[1])[g.streams[g.layers[1].inputs[0]].dtype]


@pytest.mark.parametrize("kernel,stride,pad,pad_value", [((3, 3), (1, 1), (1, 1, 1, 1), 0),
                                                         ((3, 2), (2, 1), (0, 1, 2, 0), -1),
                                                         ((1, 1), (1, 1), (0, 0, 0, 0), 0),
                                                         ((2, 2), (2, 2), (1, 0, 0, 1), 1)])
@pytest.mark.parametrize("n", [1, 7])  # odd batch: one packed lane holds a single sample
@pytest.mark.parametrize("shift,rounding,pool", [(None, "half_even", False), (3, "half_even", True),
                                                 (2, "half_up", False), (4, "floor", True)])
def test_geometry_and_epilogue(kernel, stride, pad, pad_value, n, shift, rounding, pool):
    rng = np.random.default_rng(hash((kernel, stride, pad, n, shift)) % 2**32)
    C, O = 5, 3
    t = IntType(2, True)
    K = kernel[0] * kernel[1] * C
    W = rng.integers(-3, 4, (O, K))
    bias = rng.integers(-20, 20, O)
    g = conv_graph((6, 7, C), t, W, bias, kernel, stride, pad, pad_value, shift, rounding, pool)
    check(g, rng.integers(t.min, t.max + 1, (n, 6, 7, C)))
    assert plan(g)["dtype"] == np.float32
    assert (plan(g)["pack"] > 0) == (K >= 2 * O)


def bound_weights(O, K, total, rng):
    """O x K weights whose first row has absolute sum exactly ``total`` (all positive), the second
    row its negation, the rest small random."""
    W = rng.integers(-2, 3, (O, K))
    row = np.full(K, total // K)
    row[: total % K] += 1
    W[0], W[1] = row, -row
    return W


@pytest.mark.parametrize("total,packs", [(2047, True), (2048, False)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_packing_bound_both_sides(total, packs, with_bias):
    """0/1 inputs, acc_bound = total (weights, plus bias 7 when given). 2047 * (2**12 + 1) < 2**24
    packs two samples per lane; 2048 * (2**13 + 1) >= 2**24 must not. All-ones samples put rows 0
    and 1 on +-total."""
    rng = np.random.default_rng(total)
    t = IntType(1, False)
    C, O = 16, 4
    b = 7 if with_bias else 0
    W = bound_weights(O, 9 * C, total - b, rng)
    bias = np.array([b, -b, 1, -1]) if with_bias else None
    assert (pack_shift(W.T.astype(np.float32), total, 1) > 0) == packs
    x = rng.integers(0, 2, (9, 5, 5, C))
    x[[0, 4, 5, 8]] = 1  # packed pairs (i, i + 5): sample 0 with 5, 4 with 8 are both on the bound
    x[3] = 0
    for shift in (None, 3):
        g = conv_graph((5, 5, C), t, W, bias, (3, 3), (1, 1), (1, 1, 1, 1), 0, shift, "half_even")
        check(g, x)
        assert plan(g)["dtype"] == np.float32 and (plan(g)["pack"] > 0) == packs
        acc = ref_conv(x, W, bias, (3, 3), (1, 1), (1, 1, 1, 1), 0)
        assert acc.max() == total and acc.min() == -total  # the test really reaches the bound


@pytest.mark.parametrize("total,dtype", [((1 << 24) - 1, np.float32), ((1 << 24) + 1, np.float64)])
def test_float32_lane_bound_both_sides(total, dtype):
    """An accumulator of 2**24 + 1 is not a float32 (it rounds to 2**24), so the MVU must leave the
    float32 route exactly there; 2**24 - 1 stays on it. All-ones inputs reach +-total."""
    assert (float(np.float32(total)) == total) == (dtype == np.float32)
    rng = np.random.default_rng(5)
    t = IntType(1, False)
    C, O = 1, 2
    W = bound_weights(O, 9 * C, total, rng)
    g = conv_graph((4, 4, C), t, W, None, (3, 3), (1, 1), (1, 1, 1, 1), 0)
    x = rng.integers(0, 2, (5, 4, 4, C))
    x[:2] = 1
    check(g, x)
    assert plan(g)["dtype"] == dtype
    assert ref_conv(x, W, None, (3, 3), (1, 1), (1, 1, 1, 1), 0).max() == total


def test_wide_weights_int64_lane():
    """Weights of 47 bits: partial sums pass 2**53, the MVU runs in int64 (no packing)."""
    rng = np.random.default_rng(6)
    t = IntType(8, True)
    W = rng.integers(-(1 << 46), 1 << 46, (3, 9 * 2))
    g = conv_graph((5, 5, 2), t, W, rng.integers(-5, 5, 3), (3, 3), (1, 1), (1, 1, 1, 1), 0)
    check(g, rng.integers(t.min, t.max + 1, (4, 5, 5, 2)))
    assert plan(g)["dtype"] == np.int64 and plan(g)["pack"] == 0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(ibits=st.integers(1, 8), signed=st.booleans(), wmax=st.sampled_from([1, 3, 60, 2000, 70000]),
       C=st.integers(1, 6), O=st.integers(1, 5), k=st.integers(1, 3), s=st.integers(1, 2),
       n=st.integers(1, 6), shift=st.sampled_from([None, 1, 5]), seed=st.integers(0, 999))
def test_random_convs(ibits, signed, wmax, C, O, k, s, n, shift, seed):
    """Random widths cross the packing and float32 bounds; every lane must agree with int64."""
    rng = np.random.default_rng(seed)
    t = IntType(ibits, signed)
    W = rng.integers(-wmax, wmax + 1, (O, k * k * C))
    W[0] = np.where(W[0] >= 0, wmax, -wmax)  # one row on its bound, against extreme inputs below
    g = conv_graph((5, 6, C), t, W, rng.integers(-9, 10, O), (k, k), (s, s), (1, 0, 1, 1), 0, shift, "half_up")
    x = rng.integers(t.min, t.max + 1, (n, 5, 6, C))
    x[0] = np.where(W[0].reshape(k, k, C)[0, 0] >= 0, t.max, t.min)  # channels aligned with row 0's signs
    check(g, x)


def test_reused_buffers_do_not_leak_between_calls():
    """Fused convolutions keep their buffers between calls: a result must not change when the graph
    runs again (other batch sizes too), and a copied or pickled graph must still run."""
    import copy
    import pickle

    rng = np.random.default_rng(8)
    t = IntType(2, False)
    W = rng.integers(-2, 3, (4, 9 * 6))
    g = conv_graph((6, 6, 6), t, W, rng.integers(-3, 4, 4), (3, 3), (1, 1), (1, 1, 1, 1), 0)
    xs = [rng.integers(0, 4, (n, 6, 6, 6)) for n in (9, 9, 4, 1)]
    results = [simulate(g, x).outputs["a"] for x in xs]
    for x, got in zip(xs, results):
        assert np.array_equal(got, reference(g, x))
    for g2 in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert np.array_equal(simulate(g2, xs[0]).outputs["a"], results[0])


def test_shared_accumulator_not_rounded_in_place():
    """An MVU result read by two ShiftRounds: neither may round it in place or prescale it, and an
    Add of the two rounded streams may (its result is fresh and read once)."""
    from hwkit.ir.graph import Add

    rng = np.random.default_rng(9)
    t = IntType(2, False)
    W = rng.integers(-2, 3, (4, 9 * 3))
    g = conv_graph((5, 5, 3), t, W, rng.integers(-3, 4, 4), (3, 3), (1, 1), (1, 1, 1, 1), 0)
    q = IntType(6, True)
    streams, layers = dict(g.streams), list(g.layers)
    for name, s in (("q1", 2), ("q2", 3)):
        streams[name] = Stream(name, (5, 5, 4), q)
        layers.append(ShiftRound("sr_" + name, ["a"], [name], shift=s, rounding="half_up", lo=q.min, hi=q.max))
    streams["s"] = Stream("s", (5, 5, 4), IntType(8, True))
    streams["r"] = Stream("r", (5, 5, 4), IntType(8, True))
    layers += [Add("add", ["q1", "q2"], ["s"], shifts=(0, 1), signs=(1, -1)),
               ShiftRound("sr_s", ["s"], ["r"], shift=1, rounding="half_even", lo=-128, hi=127)]
    g = replace(g, streams=streams, layers=layers, outputs=["q2", "r"])
    x = rng.integers(0, 4, (7, 5, 5, 3))
    acc = ref_conv(x, W, g.layers[1].bias, (3, 3), (1, 1), (1, 1, 1, 1), 0)
    q1 = ref_shift_round(acc, 2, "half_up", q.min, q.max)
    q2 = ref_shift_round(acc, 3, "half_up", q.min, q.max)
    r = ref_shift_round(q1 - 2 * q2, 1, "half_even", -128, 127)
    for res in (simulate(g, x), simulate(g, x, trace=True)):
        assert int((res.outputs["q2"] != q2).sum()) == 0 and int((res.outputs["r"] != r).sum()) == 0
    from hwkit.sim.schedule import schedule

    sch = schedule(g, True)
    assert not sch.prescale and "sr_s" in sch.inplace and not {"sr_q1", "sr_q2"} & sch.inplace
