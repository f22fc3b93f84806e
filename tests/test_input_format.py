"""--input-format: the grammar, the model pass that puts one QONNX Quant in front of a float input, the
default chosen from the data, golden == qonnx on the quantized model, and the input-quantization error
against qonnx float execution of the original model (hwkit.ir.input_format)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwkit.errors import ConfigError, UnsupportedModelError
from hwkit.input_choice import for_data
from hwkit.ir.input_format import (InputFormat, default_input_format, error_line, input_quantizer,
                                   input_quantization_error, insert_input_quant, parse_input_format)

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def hwkit(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "hwkit.cli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def jet(tmp_path_factory):
    """The acceptance model (16-64-32-32-5, no input quantizer) and a labelled test set for it."""
    from hwkit.zoo.float_input import float_input_mlp, write_data

    d = tmp_path_factory.mktemp("jet")
    return float_input_mlp(d / "jet_float.onnx", steps=60), write_data(d / "jet_data.npz", n=500)


def _mw(path):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(path))


# ---- grammar -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, signed, bits, lo, hi", [
    ("fixed<16,6>", True, 16, -32.0, 32 - 2.0 ** -10),
    ("ufixed<8,0>", False, 8, 0.0, 255 / 256),
    ("ufixed<8,3>", False, 8, 0.0, 8 - 2.0 ** -5),
    ("fixed<8,-2>", True, 8, -0.125, 0.125 - 2.0 ** -10),   # negative integer bits, as ap_fixed allows
    ("fixed<4,6>", True, 4, -32.0, 28.0),                   # more integer bits than bits: step 4
    ("int<8>", True, 8, -128.0, 127.0),
    ("uint<4>", False, 4, 0.0, 15.0),
    ("int<8>*2^-4", True, 8, -8.0, 127 / 16),
    ("uint<10>*2^3", False, 10, 0.0, 1023 * 8.0),
    (" FIXED< 16 , 6 > ", True, 16, -32.0, 32 - 2.0 ** -10),
])
def test_grammar(text, signed, bits, lo, hi):
    f = parse_input_format(text)
    assert (f.signed, f.bits, f.lo, f.hi) == (signed, bits, lo, hi)
    assert parse_input_format(str(f)) == f  # the canonical spelling parses back to the same format


def test_int_with_scale_is_the_fixed_spelling():
    assert parse_input_format("int<8>*2^-4") == parse_input_format("fixed<8,4>")
    assert parse_input_format("uint<8>*2^-8") == parse_input_format("ufixed<8,0>")
    assert str(parse_input_format("int<8>*2^-4")) == "fixed<8,4>"


@pytest.mark.parametrize("text, says", [
    ("fixd<16,6>", "expected fixed<W,I>"), ("fixed<16>", "expected fixed<W,I>"), ("int8", "expected"),
    ("int<8>*2^x", "expected"), ("int<8>*3^-4", "expected"), ("fixed<16,6>*2^-2", "expected"), ("", "expected"),
    ("fixed<1,1>", "2 to 24 bits"), ("fixed<25,6>", "2 to 24 bits"), ("uint<0>", "1 to 24 bits"),
    ("int<8>*2^-99", "beyond"),
])
def test_malformed_spellings_are_one_line(text, says):
    with pytest.raises(ConfigError) as e:
        parse_input_format(text)
    msg = str(e.value)
    assert says in msg and "\n" not in msg and msg.startswith("--input-format")


@settings(max_examples=40, deadline=None)
@given(signed=st.booleans(), bits=st.integers(1, 24), int_bits=st.integers(-8, 30), spell_int=st.booleans(),
       data=st.data())
def test_quantizer_grid_is_what_the_format_says(signed, bits, int_bits, spell_int, data):
    """Property: the Quant the pass inserts, executed by qonnx, maps the format's grid onto itself, saturates at
    the range the spelling states (computed here from W and I alone), and rounds half-way values to even."""
    if signed and bits < 2:
        bits = 2
    exp = int_bits - bits
    text = (f"{'' if signed else 'u'}int<{bits}>*2^{exp}" if spell_int
            else f"{'' if signed else 'u'}fixed<{bits},{int_bits}>")
    f = parse_input_format(text)
    step = 2.0 ** (int_bits - bits)
    lo = -(2.0 ** (int_bits - 1)) if signed else 0.0
    hi = (2.0 ** (int_bits - 1) if signed else 2.0 ** int_bits) - step
    assert (f.lo, f.hi, f.scale) == (lo, hi, step)
    kmin, kmax = round(lo / step), round(hi / step)
    k = np.array(data.draw(st.lists(st.integers(kmin, kmax), min_size=1, max_size=8)))
    ties = np.array([v for v in k if v < kmax], dtype=np.int64)  # half-way up to the next grid value
    x = np.concatenate([k * step, [lo, hi, lo - 3 * step, hi + 3 * step, hi * 4 + 1, lo * 4 - 1],
                        (ties + 0.5) * step]).astype(np.float32)
    got = _run_quant(f, x)
    n = len(k)
    assert np.array_equal(got[:n], (k * step).astype(np.float32))        # the grid maps onto itself
    assert list(got[n:n + 6]) == [lo, hi, lo, hi, hi, lo]                 # the ends, and saturation
    assert list(got[n + 6:] / step) == [v + v % 2 for v in ties]          # ties to the even neighbour


def _run_quant(fmt: InputFormat, x: np.ndarray) -> np.ndarray:
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"], name="id")], "q",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(x)])])
    m = insert_input_quant(ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])), fmt)
    return execute_onnx(m, {"x": x})["y"]


# ---- the pass ------------------------------------------------------------------------------------

def test_pass_inserts_exactly_one_quant(jet):
    model, _ = jet
    m = _mw(model)
    assert input_quantizer(m) is None
    q = insert_input_quant(m, parse_input_format("fixed<16,6>"))
    before = [n.op_type for n in m.graph.node]
    after = [n.op_type for n in q.graph.node]
    assert after.count("Quant") == before.count("Quant") + 1 and len(after) == len(before) + 1
    node = q.graph.node[0]
    inp = q.graph.input[0].name
    assert node.op_type == "Quant" and node.input[0] == inp
    assert [n.name for n in q.graph.node if inp in n.input] == [node.name]  # nothing else reads the raw input
    attrs = {a.name: (a.s.decode() if a.type == a.STRING else a.i) for a in node.attribute}
    assert attrs == {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}
    assert [float(q.get_initializer(t)) for t in node.input[1:]] == [2.0 ** -10, 0.0, 16.0]
    assert input_quantizer(q) == node.name
    assert len(m.graph.node) == len(before)  # the pass works on a copy


def test_lowered_input_is_the_format(jet):
    from hwkit.ir import lower

    g = lower(str(jet[0]), input_format="ufixed<12,6>")
    p = g.input_prep
    assert (p.qmin, p.qmax, float(p.scale.ravel()[0])) == (0, 4095, 2.0 ** -6)
    assert str(g.streams[p.stream].dtype).lower().startswith("uint12") or g.streams[p.stream].dtype.bits == 12


def test_float_input_without_format_names_the_option(jet):
    from hwkit.ir import lower

    with pytest.raises(UnsupportedModelError, match=r"MatMul.*no quantizer: give --input-format"):
        lower(str(jet[0]))


def test_model_with_input_quantizer_refuses_a_format(tmp_path):
    """Two quantizers in a row are not what anyone meant: a one-line error, not a silent choice."""
    from hwkit.ir import lower
    from hwkit.stages.model import default_model

    with pytest.raises(ConfigError, match=r"already quantizes its input .*drop --input-format"):
        lower(default_model(), input_format="fixed<16,6>")
    proc = hwkit("verify", default_model(), "--n", "10", "--input-format", "fixed<16,6>")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "already quantizes" in proc.stderr
    # and without a format nothing changes for it
    m, choice, samples = for_data(_mw(default_model()), "")
    assert choice is None and samples is None


def test_models_that_quantize_their_input_are_left_alone(tmp_path):
    """Quantizers behind host ops (bnn_pynq's reshape, x*2-1), a datatype annotation, hwkit's own: all found,
    so no model that lowers today is given a second input quantizer."""
    sys.path.insert(0, str(Path(__file__).parent))
    from golden_helpers import cybsec_style_mlp

    from hwkit.stages.model import default_model

    paths = [default_model(), cybsec_style_mlp(tmp_path / "cybsec.onnx")]
    if __import__("importlib").util.find_spec("brevitas_examples") is not None:
        from hwkit.zoo.bnn_pynq import export

        paths.append(export("tfc_1w1a", tmp_path / "tfc.onnx"))
    for p in paths:
        m = _mw(p)
        assert input_quantizer(m) is not None, p
        for _ in range(3):  # the same answer every time (no identity of protobuf wrappers involved)
            model, choice, samples = for_data(m, "")
            assert choice is None and model is m
    assert input_quantizer(_mw(paths[-1])) == "/features.0/act_quant/export_handler/BipolarQuant" or len(paths) == 2


@pytest.mark.parametrize("cmd", [["build"], ["verify"], ["cosim", "--backend", "rtl"]])
def test_cli_refuses_a_malformed_format_before_any_work(jet, tmp_path, cmd):
    proc = hwkit(*cmd, jet[0], "--input-format", "fixed<16;6>", "--out" if cmd[0] != "verify" else "--n",
                 tmp_path / "o" if cmd[0] != "verify" else 5)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --input-format 'fixed<16;6>'"), proc.stderr
    assert not (tmp_path / "o").exists()


def test_malformed_model_with_a_format_is_still_named_as_malformed(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    proc = hwkit("verify", tmp_path / "empty.onnx", "--n", "4", "--input-format", "fixed<16,6>")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no nodes" in proc.stderr, proc.stderr
    from hwkit.ir import lower

    with pytest.raises(ConfigError, match="no nodes"):
        lower(tmp_path / "empty.onnx", input_format="fixed<16,6>")


def test_yaml_key(tmp_path, jet):
    from hwkit.build import load_config

    cfg = tmp_path / "b.yaml"
    cfg.write_text(f"model: {jet[0]}\ninput_format: fixed<16,6>\n")
    assert load_config(cfg).input_format == "fixed<16,6>"
    cfg.write_text(f"model: {jet[0]}\ninput_format: fixed16\n")
    with pytest.raises(ConfigError, match=r"b.yaml: field 'input_format' 'fixed16': expected"):
        load_config(cfg)


# ---- the default ---------------------------------------------------------------------------------

def test_default_covers_the_data():
    rng = np.random.default_rng(0)
    f, why = default_input_format(rng.uniform(-21.3, 28.9, (100, 16)))
    assert str(f) == "fixed<16,6>" and "range" in why
    f, _ = default_input_format(np.array([[-32.0, 31.99]]))  # -32 fits 6 integer bits, 31.99 needs the step
    assert str(f) == "fixed<16,6>"
    f, _ = default_input_format(np.array([[-32.0, 32.0]]))
    assert str(f) == "fixed<16,7>"
    f, _ = default_input_format(rng.uniform(0, 1, (50, 4)))   # no negative value: unsigned, one more bit
    assert str(f) == "ufixed<16,1>"
    f, why = default_input_format(None)
    assert str(f) == "fixed<16,6>" and "no data" in why


def test_default_keeps_the_first_accumulator_within_32_bits(tmp_path):
    """4096 inputs with 8-bit weights: a 16-bit input would need a 33-bit accumulator (lowering refuses it); the
    default takes fewer bits, says why, and lowers."""
    from hwkit.ir import lower
    from hwkit.zoo.float_input import float_input_mlp

    m = _mw(float_input_mlp(tmp_path / "wide.onnx", sizes=(4096, 8, 4), steps=0))
    x = np.random.default_rng(0).normal(0, 3, (10, 4096))
    f, why = default_input_format(x, m)
    assert 8 < f.bits < 16 and f.signed and "'mm0' (4096 inputs) accumulates within 32 bits" in why
    lower(insert_input_quant(m, f))
    with pytest.raises(UnsupportedModelError, match="accumulator"):
        lower(insert_input_quant(m, InputFormat(True, 16, f.exponent)))
    assert default_input_format(x, m, max_acc_bits=40)[0].bits == 16


# ---- exactness and the input-quantization error --------------------------------------------------

def test_golden_equals_qonnx_on_the_quantized_model(jet):
    from hwkit.data import load_npz
    from hwkit.verify import golden_vs_qonnx

    model, data = jet
    x, _ = load_npz(data)
    q = insert_input_quant(_mw(model), parse_input_format("fixed<16,6>"))
    for rep in (golden_vs_qonnx(q, x_float=x), golden_vs_qonnx(q, n=300)):
        assert rep.mismatches == 0 and rep.compared > 0, rep.summary()


def test_error_metrics_by_hand():
    a = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    b = np.array([[1.5, 2.0, 0.0], [0.0, 4.0, 2.0], [5.0, 0.0, 0.0]])
    e = input_quantization_error(a, b, np.array([1, 2, 1]))
    assert e["max_abs_deviation"] == 3.0 and e["mean_abs_deviation"] == pytest.approx(4.5 / 9)
    assert e["argmax_agreement"] == pytest.approx(2 / 3)
    assert e["accuracy_float_input"] == pytest.approx(2 / 3) and e["accuracy_quantized_input"] == pytest.approx(1 / 3)
    assert input_quantization_error(a, b, np.full(3, -1))["accuracy_float_input"] is None  # unlabelled
    assert "argmax 66.7%" in error_line(e)


def test_error_against_float_execution_of_the_original(jet):
    """The deviation is measured against qonnx float execution of the model WITHOUT the input quantizer: zero for
    data on the grid, small for 16 bits, large for a 4-bit grid that saturates the data."""
    from hwkit.data import load_npz
    from hwkit.verify import qonnx_output

    model, data = jet
    x, y = load_npz(data)
    orig = qonnx_output(_mw(model), x)
    errs = {}
    for text in ("fixed<16,6>", "fixed<4,3>"):
        q = insert_input_quant(_mw(model), parse_input_format(text))
        errs[text] = input_quantization_error(orig, qonnx_output(q, x), y)
    fine, coarse = errs["fixed<16,6>"], errs["fixed<4,3>"]
    assert 0 < fine["max_abs_deviation"] < coarse["max_abs_deviation"]
    assert fine["mean_abs_deviation"] < 0.1 * coarse["mean_abs_deviation"]
    assert fine["argmax_agreement"] >= 0.98 > coarse["argmax_agreement"]
    on_grid = np.round(x * 2 ** 10) / 2 ** 10  # data already on the fixed<16,6> grid: nothing to lose
    q = insert_input_quant(_mw(model), parse_input_format("fixed<16,6>"))
    assert input_quantization_error(qonnx_output(_mw(model), on_grid), qonnx_output(q, on_grid))["max_abs_deviation"] == 0


def test_verify_reports_the_format_and_the_error(jet):
    model, data = jet
    proc = hwkit("verify", model, "--n", "100", "--data", data)  # no --input-format: the default, said
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "hwkit picked fixed<16,6>" in out and "covers the data's range" in out
    assert "0 mismatching elements" in out and "input quantization error (500 samples)" in out


def test_build_records_format_and_error(jet, tmp_path):
    """The build up to golden_sim: the export stage says which format it picked (log + record), golden_sim
    records the error against the original; a given format replaces the default and re-keys export."""
    from rich.console import Console

    from hwkit.build import BuildConfig, default_flow, run_flow

    model, data = jet
    log = tmp_path / "log.txt"
    with log.open("w") as fh:
        cfg = BuildConfig(model=str(model), data=str(data), out=str(tmp_path / "b"))
        ctx = run_flow(default_flow("rtl"), cfg, tmp_path / "b", console=Console(file=fh, width=200), upto="golden_sim")
    text = log.read_text()
    assert "input: the model has no input quantizer; hwkit picked fixed<16,6>" in text
    exp, gold = ctx.results["export"], ctx.results["golden_sim"]
    assert exp["input_format"]["format"] == "fixed<16,6>" and exp["input_format"]["source"] == "default"
    e = gold["input_quantization"]
    assert e["samples"] == 500 and e["argmax_agreement"] >= 0.98 and e["accuracy_float_input"] is not None
    assert gold["accuracy_golden"] == e["accuracy_quantized_input"]
    cfg.input_format = "ufixed<8,6>"  # negative features clip to 0: a worse format, measured as such
    ctx = run_flow(default_flow("rtl"), cfg, tmp_path / "b", console=Console(file=open(os.devnull, "w")),
                   upto="golden_sim")
    assert ctx.results["export"]["input_format"]["source"] == "--input-format"
    assert ctx.results["golden_sim"]["input_quantization"]["argmax_agreement"] < e["argmax_agreement"]
    from hwkit.data import load_npz

    x, y = load_npz(data)  # data of twice the range, no format: export re-runs and the default follows the data
    np.savez(tmp_path / "wide.npz", x=2 * x, y=y)
    cfg.input_format, cfg.data = "", str(tmp_path / "wide.npz")
    ctx = run_flow(default_flow("rtl"), cfg, tmp_path / "b", console=Console(file=open(os.devnull, "w")),
                   upto="golden_sim")
    ran = {s["name"]: s["ran"] for s in json.loads((tmp_path / "b" / "manifest.json").read_text())["stages"]}
    assert ran["export"] and ctx.results["export"]["input_format"]["format"] == "fixed<16,7>"


# ---- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_build_to_bitstream(jet, tmp_path):
    """The acceptance: `hwkit build MODEL.onnx --board ulx3s --input-format fixed<16,6>` to an ECP5 bitstream with
    0 cosim mismatches, and the deviation in report.json."""
    model, data = jet
    proc = hwkit("build", model, "--board", "ulx3s", "--input-format", "fixed<16,6>", "--data", data,
                 "--out", tmp_path / "b", timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "input: quantized as fixed<16,6> (--input-format)" in proc.stderr
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["summary"]["bit_exact"] is True and r["summary"]["mismatches"] == 0
    iq = r["model"]["input_quantization"]
    assert iq["format"] == "fixed<16,6>" and iq["error"]["samples"] == 500
    assert list((tmp_path / "b").glob("*-bitstream/ulx3s.bit"))


@pytest.mark.slow
def test_hls4ml_cosim(jet, tmp_path):
    """The same model through hls4ml's C simulation: bit-exact against golden on grid and test data."""
    pytest.importorskip("hls4ml")
    model, data = jet
    proc = hwkit("cosim", model, "--backend", "hls4ml", "--input-format", "fixed<16,6>", "--n", "500",
                 "--data", data, "--out", tmp_path / "c", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "quantized as fixed<16,6>" in proc.stderr and (tmp_path / "c" / "jet_float.input_quantized.onnx").is_file()
    assert ": 0 mismatches over" in proc.stdout, proc.stdout
