"""Cycle model formulas and the folding pass."""
import numpy as np

from hwkit.ir.graph import MVU, Add, Folding, HwGraph, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import IntType
from hwkit.ir import fold
from hwkit.sim import cycles


def _conv_graph():
    t = IntType(4, True)
    streams = {"x": Stream("x", (8, 8, 4), t), "w": Stream("w", (8, 8, 36), t), "a": Stream("a", (8, 8, 16), IntType(10, True)),
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
    assert c["latency"] == c["layers"]["conv"]  # the window and the thresholds stream through
    assert all(d >= 2 for d in c["fifo_depths"].values())


def test_fold_meets_target_with_divisors():
    g = _conv_graph()
    for target in (64 * 9, 64 * 24, 10 ** 6, 1):  # 64 * 9: fastest with SIMD | 4 channels
        f = fold(g, target_cycles=target)
        conv = f.layer("conv")
        assert conv.mh % conv.folding.pe == 0 and conv.mw % conv.folding.simd == 0
        cyc = cycles(f)["layers"]["conv"]
        if target >= 64:
            assert cyc <= target
        else:  # unreachable target: fully parallel (SIMD divides the 4 window channels)
            assert (conv.folding.pe, conv.folding.simd) == (16, 4)
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


def test_model_cycles_equal_the_generated_cores(tmp_path):
    """hwkit.sim.cycles and the RTL plan count the same cycles per layer (one model, two readers),
    on MLPs, K/K^T blocks with residual adds, and a CNN with windows and pooling."""
    import golden_helpers as gh
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.ir import fold, lower
    from hwkit.pretrained import qonnx_path

    cnn = gh.export(gh.pot_cnn(4, 3, 4, 8, pool="max"), (1, 8, 8), tmp_path / "c.onnx")
    for path in (qonnx_path("tfc_w2a2_digits"), qonnx_path("stable_w4a4_digits"), cnn):
        for target in (None, 40, 400):
            g = fold(lower(path), target_cycles=target)
            plan = build_plan(g, folding={l.name: (l.folding.pe, l.folding.simd) for l in g.layers if l.kind == "MVU"})
            c = cycles(g)
            assert c["layers"] == {l.name: l.cycles for l in plan.layers if l.cycles} | \
                {l.name: 0 for l in g.hardware_layers() if l.kind == "Reshape"}
            assert c["ii"] == plan.ii


def test_latency_of_the_default_model():
    """MVUs add their cycles, elementwise layers stream through: 4 x 64 for the default folding
    (RTL cosim measures 253 cycles from first input beat to last output beat)."""
    from hwkit.ir import fold, lower
    from hwkit.pretrained import qonnx_path

    c = cycles(fold(lower(qonnx_path("tfc_w2a2_digits"))))
    assert c["ii"] == 64 and c["latency"] == 256
