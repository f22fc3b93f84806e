"""compare(): counts, localization, first-mismatch and tie flags; golden_vs_qonnx catches a bug."""
from dataclasses import replace

import numpy as np
import pytest

from golden_helpers import qkeras_style_mlp
from hwkit.errors import ConfigError
from hwkit.ir import lower
from hwkit.ir.graph import HwGraph, ShiftRound, Stream, Threshold
from hwkit.ir.types import IntType
from hwkit.sim import simulate
from hwkit.verify import compare, golden_vs_qonnx


def test_compare_counts_and_localizes():
    ref = {"a": np.arange(12).reshape(3, 4), "b": np.zeros((3, 2))}
    cand = {"a": ref["a"].copy(), "b": np.zeros((3, 2))}
    cand["a"][1, 2] = 99
    cand["b"][1, 0] = 1.0
    cand["b"][2, 1] = 1.0
    rep = compare(ref, cand, order=["a", "b"])
    assert not rep.ok and rep.mismatches == 3 and rep.compared == 18
    assert rep.per_stream == {"a": 1, "b": 2}
    assert rep.inputs_with_mismatch == 2
    # input 1 first differs in 'a'; input 2 first in 'b'
    firsts = {(e.input_index, e.stream, e.element) for e in rep.entries}
    assert firsts == {(1, "a", (2,)), (2, "b", (1,))}
    e = [e for e in rep.entries if e.stream == "a"][0]
    assert (e.reference, e.candidate) == (6, 99)


def test_compare_equal_is_ok_and_rejects_bad_shapes():
    a = {"s": np.ones((2, 3), np.int64)}
    assert compare(a, {"s": np.ones((2, 3), np.int64)}).ok
    with pytest.raises(ConfigError):
        compare(a, {"s": np.ones((2, 4))})
    with pytest.raises(ConfigError):
        compare(a, {"t": np.ones((2, 3))})


def _tie_graph():
    t = IntType(8, True)
    streams = {"x": Stream("x", (2,), t), "y": Stream("y", (2,), IntType(4, True)), "z": Stream("z", (2,), t)}
    layers = [ShiftRound("sr", ["x"], ["y"], shift=2, lo=-8, hi=7),
              Threshold("th", ["y"], ["z"], thresholds=np.array([[0, 3], [1, 2]]), base=0)]
    return HwGraph("g", streams, layers, ["x"], ["z"], boundaries={"th": np.array([[-0.3, 3.0], [1.4, 2.2]])})


def test_tie_flags_for_shift_round_and_threshold():
    g = _tie_graph()
    x = np.array([[2, 5], [12, -4]])  # 2/4 = 0.5 is a tie; 5/4 is not
    res = simulate(g, x, trace=True)
    trace = {**res.trace, "x": x}
    ref = {"y": res.trace["sr"], "z": res.trace["th"]}
    cand = {"y": ref["y"].copy(), "z": ref["z"].copy()}
    cand["y"][0, 0] += 1  # golden 0 from 0.5 (tie)
    cand["y"][0, 1] += 1  # golden 1 from 1.25 (not a tie)
    rep = compare(ref, cand, graph=g, trace=trace, order=["y", "z"])
    ties = {e.element: e.tie for e in rep.entries}
    assert ties == {(0,): True, (1,): False}
    assert rep.first_mismatches == 2 and rep.first_ties == 1 and not rep.all_first_at_ties
    # threshold layer: input 1 has y = [3, -1]; channel 0 boundary 3.0 is exactly at the accumulator
    cand2 = {"y": ref["y"].copy(), "z": ref["z"].copy()}
    cand2["z"][1, 0] -= 1
    rep = compare(ref, cand2, graph=g, trace=trace, order=["y", "z"])
    assert rep.entries[0].tie is True and rep.all_first_at_ties


def test_golden_vs_qonnx_exact_and_catches_a_corrupted_threshold(tmp_path):
    p = qkeras_style_mlp(tmp_path / "q.onnx")
    rep = golden_vs_qonnx(p, n=300)
    assert rep.ok and rep.inputs == 300, rep.summary()
    assert rep.extra["argmax_agreement"] == 1.0
    g = lower(p)
    th = [l for l in g.layers if isinstance(l, Threshold)][0]
    t = th.thresholds.copy()
    gap = max(1, int(np.diff(t[0]).mean()) // 2)
    t[0] += gap  # channel 0 thresholds shifted: a bug a backend could make
    bad = golden_vs_qonnx(p, n=300, graph=g.replace_layers(replace(th, thresholds=t)))
    assert bad.mismatches > 0 and bad.entries[0].stream == th.outputs[0]
    assert bad.entries[0].element == (0,) and bad.entries[0].tie is False
