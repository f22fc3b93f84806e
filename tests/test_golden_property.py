"""Property: random small Brevitas MLPs and CNNs with power-of-two scales (bit widths 1..8 for
weights, 2..8 for activations, random shapes) export to QONNX and the golden model equals qonnx
execution exactly on random grid inputs."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import golden_helpers as gh
from hwkit.verify import golden_vs_qonnx

SETTINGS = dict(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])




@settings(**SETTINGS)
@given(sizes=st.lists(st.integers(1, 24), min_size=2, max_size=4),
       wbits=st.integers(2, 8), abits=st.integers(2, 8), ibits=st.integers(2, 8),
       bias=st.booleans(), seed=st.integers(0, 1000))
def test_random_pot_mlp_exact(tmp_path_factory, sizes, wbits, abits, ibits, bias, seed):
    d = tmp_path_factory.mktemp("mlp")
    model = gh.pot_mlp(sizes, wbits, abits, ibits, seed=seed, bias=bias)
    p = gh.export(model, (sizes[0],), d / "m.onnx")
    rep = golden_vs_qonnx(p, n=300, seed=seed)
    assert rep.ok, f"{sizes} w{wbits} a{abits} i{ibits}: {rep.summary()} {rep.entries[:2]}"


@settings(**SETTINGS)
@given(channels=st.integers(1, 6), wbits=st.integers(1, 8), abits=st.integers(2, 8), ibits=st.integers(2, 8),
       hw=st.sampled_from([6, 8]), cin=st.integers(1, 3), pool=st.sampled_from(["max", "avg"]),
       seed=st.integers(0, 1000))
def test_random_pot_cnn_exact(tmp_path_factory, channels, wbits, abits, ibits, hw, cin, pool, seed):
    d = tmp_path_factory.mktemp("cnn")
    if wbits == 1:
        wbits = 2  # see test_random_binary_mlp_exact for 1-bit weights
    model = gh.pot_cnn(channels, wbits, abits, ibits, in_shape=(cin, hw, hw), pool=pool, seed=seed)
    p = gh.export(model, (cin, hw, hw), d / "c.onnx")
    rep = golden_vs_qonnx(p, n=200, seed=seed)
    assert rep.ok, f"c{channels} w{wbits} a{abits} i{ibits} {hw} {pool}: {rep.summary()} {rep.entries[:2]}"


@settings(**{**SETTINGS, "max_examples": 6})
@given(abits=st.integers(1, 8), seed=st.integers(0, 1000))
def test_random_binary_mlp_exact(tmp_path_factory, abits, seed):
    """1-bit weights (BipolarQuant) with 1..8-bit activations, through the zoo's quantizer presets."""
    from hwkit.zoo.mlp import build_mlp
    from hwkit.zoo.quant import quant_spec

    d = tmp_path_factory.mktemp("bin")
    torch.manual_seed(seed)
    model = build_mlp("tfc", quant_spec("pot"), 1, abits, 8, (16,), 4)
    gh.randomize_bn(model, seed)
    p = d / "b.onnx"
    from hwkit.export import export_qonnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, (16,), p)
    rep = golden_vs_qonnx(p, n=300, seed=seed)
    assert rep.ok, f"w1 a{abits}: {rep.summary()} {rep.entries[:2]}"
