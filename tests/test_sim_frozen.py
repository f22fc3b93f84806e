"""The edit that used to give a stale golden result: lower the shipped model, simulate, change one
MVU's weights and one ShiftRound's shift, simulate again. In-place edits are impossible (frozen
layers, read-only arrays); a changed graph made with ``replace`` gets fresh simulator caches."""
import copy
import dataclasses
import pickle

import numpy as np
import pytest

from hwkit.ir import MVU, ShiftRound, lower, random_grid_inputs
from hwkit.pretrained import qonnx_path
from hwkit.sim import simulate


@pytest.fixture(scope="module")
def shipped():
    g = lower(qonnx_path("tfc_w2a2_digits"))
    return g, random_grid_inputs(g, 200, seed=0)


def _fresh(graph):
    """The same graph rebuilt from its fields: no cache of any earlier run can reach it."""
    return pickle.loads(pickle.dumps(graph))


def test_in_place_edits_raise(shipped):
    g, _ = shipped
    mvu = next(l for l in g.layers if isinstance(l, MVU))
    with pytest.raises(ValueError):
        mvu.weights[0] *= -1
    with pytest.raises(dataclasses.FrozenInstanceError):
        mvu.weights = -mvu.weights
    sr = next(l for l in g.layers if isinstance(l, ShiftRound))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sr.shift += 1
    with pytest.raises(TypeError):
        g.streams[g.inputs[0]] = None
    with pytest.raises(AttributeError):
        g.layers.append(sr)


def test_replaced_layers_simulate_fresh(shipped):
    g, x = shipped
    before = simulate(g, x).outputs[g.outputs[0]]
    assert np.array_equal(simulate(g, x).outputs[g.outputs[0]], before)  # cached run, same result
    mvus = [l for l in g.layers if isinstance(l, MVU)]
    sr = next(l for l in g.layers if isinstance(l, ShiftRound))
    neg = dataclasses.replace(mvus[1], weights=-mvus[1].weights)
    g2 = g.replace_layers(neg)
    after = simulate(g2, x).outputs[g2.outputs[0]]
    assert not np.array_equal(after, before)
    assert np.array_equal(after, simulate(_fresh(g2), x).outputs[g2.outputs[0]])
    assert np.array_equal(after, simulate(g2, x, trace=True).outputs[g2.outputs[0]])  # unfused path agrees
    g3 = g2.replace_layers(dataclasses.replace(sr, shift=sr.shift + 1))
    third = simulate(g3, x).outputs[g3.outputs[0]]
    assert not np.array_equal(third, after)
    assert np.array_equal(third, simulate(_fresh(g3), x).outputs[g3.outputs[0]])
    # the original graph still gives its own result: nothing it holds was changed
    assert np.array_equal(simulate(g, x).outputs[g.outputs[0]], before)


def test_copies_are_frozen_again(shipped):
    g, x = shipped
    simulate(g, x)
    for g2 in (copy.deepcopy(g), _fresh(g)):
        assert g2 == g and g2 is not g
        assert not g2.layers[0].weights.flags.writeable
        assert np.array_equal(simulate(g2, x).outputs[g.outputs[0]], simulate(g, x).outputs[g.outputs[0]])


def test_arrays_are_private_copies():
    from hwkit.ir.graph import Stream, Threshold
    from hwkit.ir.types import IntType

    t = np.array([[0, 2]], dtype=np.int64)
    th = Threshold("th", ["x"], ["y"], thresholds=t)
    t[0, 0] = 5  # the caller's array stays writable; the layer holds its own copy
    assert th.thresholds[0, 0] == 0 and not th.thresholds.flags.writeable
    s = Stream("x", [3], IntType(4, True), scale=np.ones(3))
    assert s.shape == (3,) and not s.scale.flags.writeable
    assert th.inputs == ("x",) and th == Threshold("th", ("x",), ("y",), thresholds=np.array([[0, 2]]))
