"""Property: random small stable networks (both block forms, random widths, depths and bit widths, K
scaled so the blocks change the stream) stay bit-exact against the golden model through every hardware
backend that runs here: hls4ml C simulation (both io types) and Verilator RTL simulation. Random
plain MLPs go through hls4ml too. Few examples each: every one compiles C++ or Verilog."""
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import golden_helpers as gh

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _stable(form, width, hidden, depth, wbits, abits, seed):
    from hwkit.zoo.quant import quant_spec
    from hwkit.zoo.stable import StableCNN, StableMLP

    torch.manual_seed(seed)
    q = quant_spec("pot")
    if form == "mlp":
        model, shape = StableMLP(q, 16, 4, wbits, abits, 8, width=width, hidden=hidden, depth=depth), (16,)
    else:
        shape = (1, 6, 6)
        model = StableCNN(q, shape, 4, wbits, abits, 8, channels=width, hidden=hidden, depth=depth)
    model.eval()
    with torch.no_grad():  # settle the activation statistics, then make the blocks active
        for _ in range(3):
            model(torch.rand(16, *shape))
    return gh.activate_stable_blocks(model, 8.0), shape


def _export(model, shape, path):
    from hwkit.export import export_qonnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, shape, path)
    return path


stable_nets = dict(form=st.sampled_from(["mlp", "conv"]), width=st.integers(2, 8), hidden=st.integers(2, 8),
                   depth=st.integers(1, 2), wbits=st.integers(2, 4), abits=st.integers(2, 4),
                   seed=st.integers(0, 1000))


@settings(max_examples=4, **SETTINGS)
@given(io=st.sampled_from(["parallel", "stream"]), **stable_nets)
def test_random_stable_net_hls4ml_exact(tmp_path_factory, io, form, width, hidden, depth, wbits, abits, seed):
    pytest.importorskip("hls4ml")
    from hwkit.backends.hls4ml import cosim_hls4ml

    d = tmp_path_factory.mktemp("hls_stable")
    p = _export(*_stable(form, width, hidden, depth, wbits, abits, seed), d / "m.onnx")
    rep = cosim_hls4ml(p, d / "prj", n=300, seed=seed, io_type=io)
    assert rep["mismatches"] == 0, f"{form} {width}x{hidden} d{depth} w{wbits}a{abits} {io}: {rep['detail']}"
    assert rep["reference"].startswith("hwkit.sim")


@settings(max_examples=3, **SETTINGS)
@given(**stable_nets)
def test_random_stable_net_rtl_exact(tmp_path_factory, form, width, hidden, depth, wbits, abits, seed):
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.errors import ToolMissingError
    from hwkit.tools.verilator import find_verilator

    try:
        find_verilator()
    except ToolMissingError as err:
        pytest.skip(str(err))
    d = tmp_path_factory.mktemp("rtl_stable")
    g = lower(_export(*_stable(form, width, hidden, depth, wbits, abits, seed), d / "m.onnx"))
    res = cosimulate(g, random_grid_inputs(g, 300, seed), d / "core", generate_first=True,
                     stall_in=20, stall_out=30, seed=seed)
    assert res.mismatches == 0, f"{form} {width}x{hidden} d{depth} w{wbits}a{abits}: {res.report.summary()}"


@settings(max_examples=3, **SETTINGS)
@given(sizes=st.lists(st.integers(1, 24), min_size=2, max_size=4), wbits=st.integers(2, 8),
       abits=st.integers(2, 8), ibits=st.integers(2, 8), io=st.sampled_from(["parallel", "stream"]),
       seed=st.integers(0, 1000))
def test_random_pot_mlp_hls4ml_exact(tmp_path_factory, sizes, wbits, abits, ibits, io, seed):
    pytest.importorskip("hls4ml")
    from hwkit.backends.hls4ml import cosim_hls4ml

    d = tmp_path_factory.mktemp("hls_mlp")
    p = gh.export(gh.pot_mlp(sizes, wbits, abits, ibits, seed=seed), (sizes[0],), d / "m.onnx")
    rep = cosim_hls4ml(p, d / "prj", n=300, seed=seed, io_type=io)
    assert rep["mismatches"] == 0, f"{sizes} w{wbits} a{abits} i{ibits} {io}: {rep['detail']}"
