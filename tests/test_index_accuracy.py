"""Accuracy of a model whose output is already the class index (ArgMax/TopK in hardware): the index is
compared with the labels directly (argmax over a one-element output would always say class 0), and
golden_vs_qonnx batches a Resize given output sizes."""
from __future__ import annotations

import json

import numpy as np

from hwkit.build import BuildConfig, default_flow, run_flow
from hwkit.ir import lower, quantize_input
from hwkit.sim import simulate
from hwkit.verify import class_predictions, golden_vs_qonnx, index_output
from test_kind_argmax import argmax_conv, argmax_mlp
from test_kind_layout_common import Net
from test_kind_upsample import up_cnn


def _golden_indices(path, x):
    g = lower(path)
    res = simulate(g, quantize_input(g, x))
    return g, np.asarray(res.outputs[g.outputs[0]]).reshape(len(x), -1)


def test_index_output_is_the_prediction(tmp_path):
    p = argmax_mlp(tmp_path / "m.onnx")
    x = np.random.default_rng(0).uniform(-2, 2, (50, 16)).astype(np.float32)
    g, idx = _golden_indices(p, x)
    assert index_output(g) and idx.shape == (50, 1) and len(set(idx[:, 0])) > 2
    assert np.array_equal(class_predictions(g, idx.astype(np.float64)), idx[:, 0])
    net = Net((16,))
    plain = lower(net.save(tmp_path / "s.onnx", net.dense(net.cur, 16, 10)))   # scores out: argmax as before
    scores = np.random.default_rng(1).random((50, 10))
    assert not index_output(plain)
    assert np.array_equal(class_predictions(plain, scores), scores.argmax(1))
    assert class_predictions(g, idx[:0]).shape == (0,) and class_predictions(plain, scores[:0]).shape == (0,)


def test_per_pixel_index_is_not_a_class_per_input(tmp_path):
    g = lower(argmax_conv(tmp_path / "c.onnx"))
    assert not index_output(g)   # (H, W) indices per input: no one label to compare with


def test_build_accuracy_of_an_argmax_model(tmp_path):
    """Labels equal to the model's own indices: accuracy 1.0 both ways (it was ~0.1 by argmax of the index)."""
    p = argmax_mlp(tmp_path / "m.onnx")
    x = np.random.default_rng(2).uniform(-2, 2, (60, 16)).astype(np.float32)
    _, idx = _golden_indices(p, x)
    assert np.mean(idx[:, 0] == 0) < 0.5
    np.savez(tmp_path / "d.npz", x=x, y=idx[:, 0])
    out = tmp_path / "b"
    run_flow(default_flow(), BuildConfig(model=str(p), out=str(out), n_vectors=20, data=str(tmp_path / "d.npz")),
             out, upto="golden_sim")
    rec = json.loads((next(out.glob("*-golden_sim")) / "stage.json").read_text())["result"]
    assert rec["test_samples"] == 60
    assert rec["accuracy_golden"] == 1.0 and rec["accuracy_software"] == 1.0, rec


def test_golden_vs_qonnx_batches_resize_sizes(tmp_path):
    """A Resize with a sizes input names the batch (1): qonnx's execution is re-batched with it."""
    p = up_cnn(tmp_path / "m.onnx", factors=(3, 2), use_sizes=True)
    rep = golden_vs_qonnx(str(p), n=2000, seed=3)
    assert rep.inputs == 2000 and rep.mismatches == 0, rep.summary()
