"""Each lowering pass of hwkit.ir.lowering on its own: requantization sites built by hand, single
layers, and tiny hand-built QONNX models for the row changes an MVU receives."""
import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper

from golden_helpers import _quant
from hwkit.errors import UnsupportedModelError
from hwkit.ir import MVU, FloatTail, HwGraph, ShiftRound, Stream, Threshold, lower
from hwkit.ir import requant as rq
from hwkit.ir.lower import PASSES
from hwkit.ir.lowering import (SITE_PASSES, AbsorbBias, AbsorbScale, FlipRows, FoldRelu, MarkTransposed,
                               RequantizeShift, RequantizeThreshold, Site, TypeAccumulators, run_site)
from hwkit.ir.types import IntType


class Ctx:
    def fail(self, why):
        raise UnsupportedModelError(f"node 'n' (Quant): {why}")


CTX = Ctx()
P2 = Fraction(1, 64)  # accumulator scale 2^-6 (int8 input at 2^-4 times weights at 2^-2)


def aff(a, b):
    return rq.Affine(np.array(a, dtype=object), np.array(b, dtype=object))


def site(chain, scale=(Fraction(1, 4),) * 2, zp=(0, 0), qmin=-8, qmax=7, mode="ROUND", bipolar=False, mvu="mm",
         **kw):
    q = rq.Quantizer(np.array([Fraction(s) for s in scale], dtype=object),
                     np.array([Fraction(z) for z in zp], dtype=object), qmin, qmax, mode, bipolar)
    return Site("q", "acc", tuple(chain), q, len(scale), -100, 100, mvu=mvu, mvu_rows=len(scale), **kw)


RELU = rq.Max(np.array([Fraction(0)] * 2, dtype=object))


# ---- absorb_scale ------------------------------------------------------------------------------
def test_absorb_scale_turns_a_power_of_two_ratio_into_a_shift():
    s = site([aff([P2, P2], [Fraction(3, 64), Fraction(-1, 8)])])
    assert AbsorbScale().match(CTX, s)
    s = AbsorbScale().rewrite(CTX, s)
    assert s.shift == 4  # 2^-6 / 2^-2 = 2^-4
    assert s.offset == (Fraction(3, 16), Fraction(-1, 2))  # b / scale + zero point, in output steps


@pytest.mark.parametrize("why, s", [
    ("not a power of two", site([aff([3 * P2, 3 * P2], [0, 0])])),
    ("per-channel ratio", site([aff([P2, 2 * P2], [0, 0])])),
    ("bipolar", site([aff([P2, P2], [0, 0])], qmin=-1, qmax=1, bipolar=True)),
    ("half-up rounding", site([aff([P2, P2], [0, 0])], mode="HALF_UP")),
    ("relu onto a shifted grid", site([aff([P2, P2], [0, 0]), RELU], zp=(1, 1))),
    ("two affine pieces around a clip", site([aff([P2, P2], [0, 0]), RELU, aff([P2, P2], [0, 0])])),
])
def test_absorb_scale_leaves_other_chains_to_thresholds(why, s):
    assert not AbsorbScale().match(CTX, s), why


# ---- absorb_bias -------------------------------------------------------------------------------
def test_absorb_bias_moves_an_integer_offset_into_the_mvu():
    s = site([aff([P2, P2], [0, 0])], shift=4, offset=(Fraction(3, 16), Fraction(-1, 2)))
    assert AbsorbBias().match(CTX, s)
    s = AbsorbBias().rewrite(CTX, s)
    assert s.bias.tolist() == [3, -8] and s.bias.dtype == np.int64
    assert s.row_edit()[0].tolist() == [3, -8] and s.row_edit()[1] is None


def test_absorb_bias_needs_an_integer_offset_and_a_private_mvu():
    frac = site([], shift=4, offset=(Fraction(1, 32), Fraction(0)))
    assert not AbsorbBias().match(CTX, frac)  # 1/32 * 16 = 1/2: thresholds instead
    nomvu = site([], shift=4, offset=(Fraction(1, 16), Fraction(0)), mvu=None)
    assert not AbsorbBias().match(CTX, nomvu)
    zero = site([], shift=4, offset=(Fraction(0), Fraction(0)), mvu=None)
    assert AbsorbBias().match(CTX, zero)  # nothing to put anywhere: fine without an MVU
    assert AbsorbBias().rewrite(CTX, zero).row_edit() is None
    assert not AbsorbBias().match(CTX, site([]))  # no shift decided


# ---- fold_relu ---------------------------------------------------------------------------------
def test_fold_relu_sets_the_clip_floor_on_the_shift_path_only():
    s = site([aff([P2, P2], [0, 0]), RELU], bias=np.zeros(2, np.int64))
    assert FoldRelu().match(CTX, s)
    assert FoldRelu().rewrite(CTX, s).clip_lo == 0
    assert not FoldRelu().match(CTX, site([aff([P2, P2], [0, 0]), RELU]))  # threshold path keeps the ReLU
    assert not FoldRelu().match(CTX, site([aff([P2, P2], [0, 0])], bias=np.zeros(2, np.int64)))


# ---- requantize --------------------------------------------------------------------------------
def test_requantize_shift_emits_a_shift_round():
    s = site([], shift=4, bias=np.zeros(2, np.int64), clip_lo=0, mode="FLOOR")
    assert RequantizeShift().match(CTX, s) and not RequantizeShift().match(CTX, site([]))
    lay = RequantizeShift().rewrite(CTX, s).layer
    assert isinstance(lay, ShiftRound)
    assert (lay.name, lay.inputs, lay.shift, lay.rounding, lay.lo, lay.hi) == ("q", ("acc",), 4, "floor", 0, 7)
    lay = RequantizeShift().rewrite(CTX, dataclasses.replace(s, clip_lo=None, quant=site([]).quant)).layer
    assert (lay.rounding, lay.lo) == ("half_even", -8)


def test_requantize_threshold_gives_exact_thresholds_and_directions():
    # real = n/4 into ROUND to uint2: level >= 1 iff n/4 > 1/2 (ties to even), >= 2 iff n/4 >= 3/2, >= 3 iff > 5/2
    s = site([aff([Fraction(1, 4), Fraction(-1, 4)], [0, 0])], scale=(1, 1), qmin=0, qmax=3)
    assert RequantizeThreshold().match(CTX, s)
    s = RequantizeThreshold().rewrite(CTX, s)
    assert isinstance(s.layer, Threshold) and s.layer.base == 0
    assert s.layer.thresholds[0].tolist() == [3, 6, 11]
    assert s.layer.thresholds[1].tolist() == [3, 6, 11]  # on -n for the decreasing channel
    assert s.negate.tolist() == [False, True]
    assert s.boundaries.tolist() == [[2.0, 6.0, 10.0], [2.0, 6.0, 10.0]]
    assert not RequantizeThreshold().match(CTX, s)  # a layer is chosen once


# ---- flip_rows ---------------------------------------------------------------------------------
def test_flip_rows_negates_decreasing_channels():
    s = site([], negate=np.array([False, True]))
    assert FlipRows().match(CTX, s)
    s = FlipRows().rewrite(CTX, s)
    assert s.sign.tolist() == [1, -1]
    assert s.row_edit()[1].tolist() == [1, -1]
    assert not FlipRows().match(CTX, site([], negate=np.array([False, False])))


def test_flip_rows_refuses_a_stream_without_a_private_mvu():
    with pytest.raises(UnsupportedModelError, match="negative scale"):
        FlipRows().rewrite(CTX, site([], negate=np.array([True, True]), mvu=None))


# ---- the site passes together --------------------------------------------------------------------
OWNS = {"absorb_scale": {"shift", "offset"}, "absorb_bias": {"bias"}, "fold_relu": {"clip_lo"},
        "requantize_shift": {"layer"}, "requantize_threshold": {"layer", "negate", "boundaries"},
        "flip_rows": {"sign"}}
SITES = [site([aff([P2, P2], [Fraction(3, 64), 0]), RELU], zp=(0, 0)),
         site([aff([P2, -P2], [Fraction(1, 3), 0])]),
         site([aff([P2, P2], [Fraction(1, 128), 0])])]


def test_each_site_pass_writes_only_its_own_fields():
    assert [p.name for p in SITE_PASSES] == list(OWNS)
    for s in SITES:
        for p in SITE_PASSES:
            if not p.match(CTX, s):
                continue
            new = p.rewrite(CTX, s)
            changed = {f.name for f in dataclasses.fields(Site)
                       if not np.array_equal(np.asarray(getattr(s, f.name), dtype=object),
                                             np.asarray(getattr(new, f.name), dtype=object))
                       and getattr(s, f.name) is not getattr(new, f.name)}
            assert changed and changed <= OWNS[p.name], (p.name, changed)
            assert all(getattr(s, f) is None for f in OWNS[p.name]), (p.name, "overwrote a decision")
            s = new


def test_run_site_reaches_one_layer():
    sr = run_site(CTX, SITES[0])
    assert isinstance(sr.layer, ShiftRound) and (sr.shift, sr.layer.lo, sr.bias.tolist()) == (4, 0, [3, 0])
    th = run_site(CTX, SITES[1])
    assert isinstance(th.layer, Threshold) and th.sign.tolist() == [1, -1]
    half = run_site(CTX, SITES[2])  # offset 1/128 is half an accumulator step: no shift can take it
    assert isinstance(half.layer, Threshold) and half.bias is None and half.sign is None


# ---- row changes reach the MVU once, through a real translation -----------------------------------
def _mlp(w, extra_nodes, extra_inits, qa_scale, out_bits=4, signed=True):
    nodes, inits = [], []
    for n, i in (_quant("qin", "x", 2.0 ** -4, 8), _quant("qw", "w", 0.25, 4, narrow=True)):
        nodes.append(n), inits.extend(i)
    inits.append(numpy_helper.from_array(w.astype(np.float32), "w"))
    nodes.append(helper.make_node("MatMul", ["qin_out", "qw_out"], ["mm"], name="mm"))
    nodes += extra_nodes
    inits += extra_inits
    n, i = _quant("qa", nodes[-1].output[0], qa_scale, out_bits, signed=signed, out="y")
    nodes.append(n), inits.extend(i)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])], inits)
    return ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


def test_absorbed_bias_lands_in_the_mvu():
    w = np.random.default_rng(0).integers(-7, 8, (6, 3)) * 0.25
    b = np.array([3, -5, 0]) * 2.0 ** -6  # whole accumulator steps
    m = _mlp(w, [helper.make_node("Add", ["mm", "b"], ["ab"], name="add")],
             [numpy_helper.from_array(b.astype(np.float32), "b")], 2.0 ** -2)
    g = lower(m)
    mvu, sr = g.layers[0], g.layers[1]
    assert isinstance(sr, ShiftRound) and sr.shift == 4
    assert mvu.bias.tolist() == [3, -5, 0]
    assert mvu.acc == g.streams[mvu.outputs[0]].dtype


def test_flipped_rows_land_in_the_mvu():
    w = np.random.default_rng(1).integers(-7, 8, (6, 3)) * 0.25
    c = np.array([1.0, -1.0, 0.5], np.float32)
    m = _mlp(w, [helper.make_node("Mul", ["mm", "c"], ["mc"], name="mul")], [numpy_helper.from_array(c, "c")],
             0.3, signed=False)
    g = lower(m)
    mvu, th = g.layers[0], g.layers[1]
    assert isinstance(th, Threshold)
    W = (w / 0.25).T.astype(np.int64)
    assert mvu.weights.tolist() == (W * np.array([[1], [-1], [1]])).tolist()
    assert mvu.bias is None
    assert np.all(g.boundaries[th.name][1] > 0)  # on -n: the channel decreases in n (boundaries < 0 there)


# ---- graph passes, one layer at a time ---------------------------------------------------------
def test_type_accumulators_retypes_an_mvu_and_its_stream():
    t8 = IntType(8, True)
    streams = {"a": Stream("a", (4,), t8), "b": Stream("b", (2,), IntType(1, False))}
    mvu = MVU("m", ["a"], ["b"], weights=np.ones((2, 4), np.int64), wtype=IntType(2, True), acc=IntType(1, False))
    p = TypeAccumulators()
    assert p.match(None, mvu) and not p.match(None, FloatTail("t", ["b"], ["f"]))
    new = p.rewrite((streams, 32), mvu)
    assert new.acc == IntType.for_range(-512, 508) == streams["b"].dtype
    with pytest.raises(UnsupportedModelError):
        p.rewrite((streams, 9), mvu)


def test_mark_transposed_matches_only_an_exact_adjoint():
    t = IntType(4, True)
    K = np.random.default_rng(2).integers(-3, 4, (4, 6))
    streams = {s: Stream(s, (n,), t) for s, n in (("a", 6), ("b", 4), ("c", 6))}
    k, kt = MVU("k", ["a"], ["b"], weights=K, wtype=t), MVU("kt", ["b"], ["c"], weights=K.T.copy(), wtype=t)
    g = HwGraph("g", streams, [k, kt], ["a"], ["c"])
    p = MarkTransposed()
    assert p.match(g, g.layers[1]) and not p.match(g, g.layers[0])
    assert p.rewrite(g, g.layers[1]).transposed_of == "k"
    off = K.T.copy()
    off[2, 3] += 1
    g2 = g.replace_layers(dataclasses.replace(kt, weights=off))
    assert not p.match(g2, g2.layers[1])


def test_pipeline_lists_every_pass_in_order():
    assert dict(PASSES) == {
        "model": ("validate_model", "cleanup", "fix_batch", "check_static_shapes"),
        "translate": ("translate",),
        "site": ("absorb_scale", "absorb_bias", "fold_relu", "requantize_shift", "requantize_threshold", "flip_rows"),
        "graph": ("infer_types", "mark_transposed")}
