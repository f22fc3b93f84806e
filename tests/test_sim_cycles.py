"""Cycle model formulas and the folding pass."""
import numpy as np

from hwkit.ir.graph import MVU, Add, Folding, HwGraph, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import IntType
from hwkit.sim import choose_folding, cycles


def _conv_graph():
    t = IntType(4, True)
    streams = {"x": Stream("x", (8, 8, 4), t), "w": Stream("w", (8, 8, 36), t), "a": Stream("a", (8, 8, 16), t),
               "q": Stream("q", (8, 8, 16), t)}
    layers = [SlidingWindow("swg", ["x"], ["w"], kernel=(3, 3), pad=(1, 1, 1, 1)),
              MVU("conv", ["w"], ["a"], weights=np.ones((16, 36), np.int64), wtype=t, folding=Folding(4, 6)),
              Threshold("th", ["a"], ["q"], thresholds=np.zeros((16, 3), np.int64), folding=Folding(4, 1))]
    return HwGraph("g", streams, layers, ["x"], ["q"])


def test_cycles_follow_folding():
    c = cycles(_conv_graph())
    assert c["layers"]["conv"] == 64 * (16 // 4) * (36 // 6)  # pixels * MH/PE * MW/SIMD
    assert c["layers"]["th"] == 64 * 16 // 4
    assert c["layers"]["swg"] == 64 * 36 // 6
    assert c["ii"] == max(c["layers"].values())
    assert c["latency"] == sum(c["layers"].values())
    assert all(d >= 2 for d in c["fifo_depths"].values())


def test_choose_folding_meets_target_with_divisors():
    g = _conv_graph()
    for target in (64 * 8, 64 * 24, 10 ** 6, 1):
        f = choose_folding(g, target)
        conv = f.layer("conv")
        assert conv.mh % conv.folding.pe == 0 and conv.mw % conv.folding.simd == 0
        cyc = cycles(f)["layers"]["conv"]
        if target >= 64:
            assert cyc <= target
        else:  # unreachable target: fully parallel
            assert (conv.folding.pe, conv.folding.simd) == (16, 36)
        assert f.layer("th").folding.pe == conv.folding.pe
    assert g.layer("conv").folding == Folding(4, 6)  # pure pass


def test_residual_fifo_buffers_the_short_branch():
    t = IntType(6, True)
    streams = {s: Stream(s, (32,), t) for s in ("x", "a", "b", "y")}
    layers = [MVU("m", ["x"], ["a"], weights=np.ones((32, 32), np.int64), wtype=t),
              ShiftRound("s", ["a"], ["b"], shift=3, lo=-32, hi=31),
              Add("add", ["x", "b"], ["y"])]
    c = cycles(HwGraph("g", streams, layers, ["x"], ["y"]))
    assert c["fifo_depths"]["x"] == 32 and c["fifo_depths"]["b"] == 2
