"""End to end: golden simulation == qonnx execute_onnx on real exports.

Power-of-two models (hwkit zoo 'pot', pretrained, hand-built QKeras style, Brevitas FixedPoint):
0 mismatches on every quantizer output and the float outputs. Float-scale models with BatchNorm
(brevitas_examples.bnn_pynq, zoo 'float'): every first mismatch of an input sits on a rounding
tie, and the predicted class agrees on >= 99.9 % of inputs. The >= 100,000-input runs are slow.
"""
import numpy as np
import pytest
import torch

import golden_helpers as gh
from hwkit.ir import lower
from hwkit.verify import golden_vs_qonnx

ZOO = ["tfc", "sfc", "lfc", "jet", "cnv", "stable_mlp", "residual_mlp", "stable_cnv", "residual_cnv"]
BIG = {"lfc": 500, "cnv": 1000, "stable_cnv": 1000, "residual_cnv": 1000}


@pytest.fixture(scope="module")
def zoo_path(tmp_path_factory):
    from hwkit.export import export_qonnx
    from hwkit.zoo import MODELS, build_model

    d = tmp_path_factory.mktemp("zoo")
    cache = {}

    def get(name, preset="pot", wbits=2, abits=2):
        key = (name, preset, wbits, abits)
        if key not in cache:
            torch.manual_seed(0)
            m = build_model(name, wbits=wbits, abits=abits, preset=preset).eval()
            gh.randomize_bn(m)
            gh.activate_stable_blocks(m)  # else the blocks are the identity and K^T goes unchecked
            p = d / f"{name}_{preset}_w{wbits}a{abits}.onnx"
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                export_qonnx(m, MODELS[name].default_in_shape, p)
            cache[key] = p
        return cache[key]

    return get


def assert_exact(rep):
    assert rep.ok, f"{rep.summary()}; first: {rep.entries[:3]}"
    assert rep.extra.get("argmax_agreement", 1.0) == 1.0


def assert_ties_only(rep):
    assert rep.all_first_at_ties, f"{rep.summary()}; first non-tie: {[e for e in rep.entries if not e.tie][:3]}"
    assert rep.extra["argmax_agreement_tie_aware"] >= 0.999, rep.summary()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_pot_exact(zoo_path, name):
    assert_exact(golden_vs_qonnx(zoo_path(name), n=BIG.get(name, 2000), seed=1))


def test_zoo_symmetric_blocks_share_weights(zoo_path):
    for name in ("stable_mlp", "stable_cnv"):
        assert min(gh.stable_block_activity(zoo_path(name))) > 0.2, name  # K^T really shows in the outputs
        g = lower(zoo_path(name))
        linked = [l for l in g.layers if getattr(l, "transposed_of", None)]
        assert len(linked) == 2, name
    assert not [l for l in lower(zoo_path("residual_mlp")).layers if getattr(l, "transposed_of", None)]


@pytest.mark.parametrize("bits", [(1, 1), (4, 4), (8, 3)])
def test_zoo_pot_other_bit_widths(zoo_path, bits):
    assert_exact(golden_vs_qonnx(zoo_path("tfc", wbits=bits[0], abits=bits[1]), n=1000, seed=2))


def test_pretrained_exact_on_grid_and_digits():
    from hwkit.data import load_dataset
    from hwkit.pretrained import qonnx_path

    ds = load_dataset("digits")
    for name in ("tfc_w2a2_digits", "stable_w4a4_digits"):
        p = qonnx_path(name)
        assert_exact(golden_vs_qonnx(p, n=2000, seed=3))
        assert_exact(golden_vs_qonnx(p, x_float=ds.x_test))


def test_zoo_digits_test_set(zoo_path):
    from hwkit.data import load_dataset

    ds = load_dataset("digits")
    assert_exact(golden_vs_qonnx(zoo_path("tfc"), x_float=ds.x_test))


@pytest.mark.parametrize("name,n", [("tfc_1w1a", 2000), ("tfc_1w2a", 2000), ("tfc_2w2a", 2000),
                                    ("sfc_1w2a", 500), ("cnv_1w1a", 64), ("cnv_2w2a", 64)])
def test_bnn_pynq_float_batchnorm(tmp_path, name, n):
    p = gh.bnn_pynq(name, tmp_path / f"{name}.onnx")
    g = lower(p)
    assert any(l.kind == "Threshold" for l in g.layers)  # BatchNorm folded into thresholds
    assert_ties_only(golden_vs_qonnx(p, n=n, seed=4, graph=g))


@pytest.mark.parametrize("name", ["tfc", "cnv"])
def test_zoo_float_preset(zoo_path, name):
    assert_ties_only(golden_vs_qonnx(zoo_path(name, preset="float"), n=1000, seed=5))


@pytest.mark.parametrize("pot", [True, False])
def test_qkeras_style(tmp_path, pot):
    p = gh.qkeras_style_mlp(tmp_path / "q.onnx", float_weight_scale=not pot, float_bias=not pot)
    rep = golden_vs_qonnx(p, n=2000, seed=6)
    assert_exact(rep) if pot else assert_ties_only(rep)


def test_mlp_8bit_input_3bit_layers(tmp_path):
    p = gh.export(gh.pot_mlp([64, 64, 32, 10], wbits=3, abits=3, ibits=8), (64,), tmp_path / "m.onnx")
    assert_exact(golden_vs_qonnx(p, n=2000, seed=7))


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_cnn_with_pooling(tmp_path, pool):
    p = gh.export(gh.pot_cnn(4, 3, 4, 8, pool=pool), (1, 8, 8), tmp_path / "c.onnx")
    g = lower(p)
    assert [l.kind for l in g.layers].count("Pool") == 1
    assert_exact(golden_vs_qonnx(p, n=1000, seed=8, graph=g))


# ---- >= 100,000 inputs (run: pytest -m slow tests/test_golden_e2e.py) -----------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_zoo_pot_100k(zoo_path, name):
    assert_exact(golden_vs_qonnx(zoo_path(name), n=100_000, seed=11, batch=1000))


@pytest.mark.slow
def test_pretrained_100k():
    from hwkit.pretrained import qonnx_path

    for name in ("tfc_w2a2_digits", "stable_w4a4_digits"):
        assert_exact(golden_vs_qonnx(qonnx_path(name), n=100_000, seed=12, batch=1000))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tfc_1w1a", "tfc_1w2a", "tfc_2w2a"])
def test_bnn_pynq_100k(tmp_path, name):
    p = gh.bnn_pynq(name, tmp_path / f"{name}.onnx")
    assert_ties_only(golden_vs_qonnx(p, n=100_000, seed=13, batch=1000))


def test_finn_cybsec_style_annotated_bipolar_input(tmp_path):
    p = gh.cybsec_style_mlp(tmp_path / "cyb.onnx")
    g = lower(p)
    assert g.streams[g.inputs[0]].dtype.bipolar
    assert [l.kind for l in g.layers] == ["MVU", "Threshold", "MVU", "Threshold", "FloatTail"]
    assert_ties_only(golden_vs_qonnx(p, n=2000, seed=9, graph=g))
