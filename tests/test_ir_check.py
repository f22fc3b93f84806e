"""check_graph: each test breaks one invariant and expects a one-line GraphError naming it."""
from dataclasses import replace

import numpy as np
import pytest

from hwkit.errors import GraphError, UnsupportedModelError
from hwkit.ir import MVU, Folding, HwGraph, ShiftRound, SlidingWindow, Stream, Threshold, check_graph, lower
from hwkit.ir.types import IntType

T4 = IntType(4, True)


def mlp() -> HwGraph:
    """x(6) -> K (4x6) -> acc -> shift -> q(4) -> K^T (6x4) -> acc2."""
    K = np.arange(24).reshape(4, 6) % 7 - 3
    streams = {"x": Stream("x", (6,), T4), "acc": Stream("acc", (4,), IntType(10, True)),
               "q": Stream("q", (4,), T4), "acc2": Stream("acc2", (6,), IntType(10, True))}
    layers = [MVU("k", ["x"], ["acc"], weights=K, wtype=T4, acc=IntType(10, True)),
              ShiftRound("sr", ["acc"], ["q"], shift=3, lo=-8, hi=7),
              MVU("kt", ["q"], ["acc2"], weights=K.T, wtype=T4, transposed_of="k")]
    return HwGraph("g", streams, layers, ["x"], ["acc2"])


def conv() -> HwGraph:
    W = np.ones((4, 9 * 6), np.int64)
    streams = {"x": Stream("x", (5, 5, 6), T4), "w": Stream("w", (5, 5, 54), T4),
               "a": Stream("a", (5, 5, 4), IntType(12, True))}
    layers = [SlidingWindow("win", ["x"], ["w"], kernel=(3, 3), pad=(1, 1, 1, 1)),
              MVU("c", ["w"], ["a"], weights=W, wtype=T4)]
    return HwGraph("c", streams, layers, ["x"], ["a"])


def broken(g: HwGraph, match: str):
    with pytest.raises(GraphError, match=match) as e:
        check_graph(g)
    assert "\n" not in str(e.value) and isinstance(e.value, UnsupportedModelError)


def test_valid_graphs_pass_and_lowering_checks():
    from hwkit.pretrained import qonnx_path

    for g in (mlp(), conv()):
        assert check_graph(g) is g
    for name in ("tfc_w2a2_digits", "stable_w4a4_digits"):
        check_graph(lower(qonnx_path(name)))


def test_topological_order():
    g = mlp()
    broken(replace(g, layers=(g.layers[1], g.layers[0], g.layers[2])), "out of topological order")


def test_one_producer_per_stream():
    g = mlp()
    dup = replace(g.layers[1], name="sr2")
    broken(replace(g, layers=g.layers[:2] + (dup,) + g.layers[2:]), "two producers")


def test_read_stream_is_produced_or_input():
    g = mlp()
    broken(g.replace_layers(replace(g.layers[1], inputs=("nowhere",))), "neither produced nor a graph input")


def test_output_stream_produced():
    broken(replace(mlp(), outputs=("ghost",)), "never produced")


def test_written_stream_has_a_record():
    g = mlp()
    broken(replace(g, streams={k: v for k, v in g.streams.items() if k != "q"}), "no Stream record")


def test_types_contain_the_range():
    g = mlp()
    big = replace(g.layers[0], weights=g.layers[0].weights * 40)  # a pass that forgot to retype
    broken(g.replace_layers(big), "emits values in")


def test_accumulator_contains_the_range():
    g = mlp()
    broken(g.replace_layers(replace(g.layers[0], acc=IntType(4, True))), "outside its accumulator")


def test_shift_round_clip_fits_its_type():
    g = mlp()
    broken(g.replace_layers(replace(g.layers[1], hi=100)), r"emits values in \[-8, 100\]")


def test_threshold_levels_fit_the_output_type():
    streams = {"x": Stream("x", (2,), T4), "y": Stream("y", (2,), IntType(2, False))}
    th = Threshold("th", ["x"], ["y"], thresholds=np.zeros((2, 4), np.int64))
    broken(HwGraph("t", streams, [th], ["x"], ["y"]), "emits values in")


@pytest.mark.parametrize("pe,simd,what", [(3, 1, "4x6 matrix"), (1, 4, "4x6 matrix"), (0, 1, ">= 1")])
def test_folding_divides_matrix(pe, simd, what):
    g = mlp()
    broken(g.replace_layers(replace(g.layers[0], folding=Folding(pe, simd))), what)


def test_folding_divides_conv_channels():
    g = conv()
    check_graph(g.replace_layers(replace(g.layers[1], folding=Folding(2, 3))))
    broken(g.replace_layers(replace(g.layers[1], folding=Folding(2, 9))), "6 channels")  # 9 | 54 but not 6


def test_threshold_folding_divides_channels():
    streams = {"x": Stream("x", (6,), T4), "y": Stream("y", (6,), IntType(2, False))}
    th = Threshold("th", ["x"], ["y"], thresholds=np.zeros((6, 3), np.int64), folding=Folding(4, 1))
    broken(HwGraph("t", streams, [th], ["x"], ["y"]), "6 channels")


def test_transposed_names_an_earlier_mvu():
    g = mlp()
    broken(g.replace_layers(replace(g.layers[2], transposed_of="kt")), "not an earlier MVU")
    broken(g.replace_layers(replace(g.layers[2], transposed_of="sr")), "not an earlier MVU")


def test_transposed_holds_the_adjoint():
    g = mlp()
    w = g.layers[2].weights.copy()
    w[0, 0] += 1
    broken(g.replace_layers(replace(g.layers[2], weights=w)), "adjoint")
    broken(g.replace_layers(replace(g.layers[2], wtype=IntType(5, True))), "adjoint")
