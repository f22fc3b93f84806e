"""hls4ml backend: exact C simulation against the golden model, refusals, stable block, tool detection.

Each (model, io type) project is generated and compiled once per session; compiled libraries are
cached by content hash (HWKIT_CACHE), so reruns only execute."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")

from hwkit.backends.hls4ml import (compile_project, cosim_hls4ml, generate_hls4ml_project,  # noqa: E402
                                   synthesize)
from hwkit.errors import BuildFailedError, ConfigError, UnsupportedModelError  # noqa: E402
from hwkit.tools.vitis import find_hls_tool  # noqa: E402

ZOO = ["tfc", "jet", "cnv", "stable_mlp", "stable_cnv", "residual_cnv"]
IOS = ["parallel", "stream"]
# at 2 bits this model's outputs did not reveal its Mul by 0.5 computed as a Mul by 0 (the scale
# once shared a C++ type name with a zero bias); at 4 bits they did, in thousands of outputs
BITS = {"residual_cnv": {"wbits": 4, "abits": 4}}
# random-init symmetric blocks are the identity after requantization: scale K so K^T shows
GAIN = {"stable_mlp": 8.0, "stable_cnv": 8.0}


def _export(name, out: Path, preset="pot", wbits=2, abits=2):
    from golden_helpers import activate_stable_blocks

    from hwkit.export import export_qonnx
    from hwkit.zoo import MODELS, build_model

    torch.manual_seed(0)
    shape = MODELS[name].default_in_shape
    model = build_model(name, wbits=wbits, abits=abits, ibits=8, preset=preset).eval()
    if name in GAIN:
        activate_stable_blocks(model, GAIN[name])
    with torch.no_grad():  # settle activation statistics so values spread over the grids
        for _ in range(4):
            model(torch.rand(32, *shape))
    path = out / f"{name}_{preset}_w{wbits}a{abits}.onnx"
    export_qonnx(model, shape, path)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("hls4ml_models")
    return {name: _export(name, d, **BITS.get(name, {})) for name in ZOO}


@pytest.fixture(scope="session")
def projects(models, tmp_path_factory):
    d = tmp_path_factory.mktemp("hls4ml_projects")
    cache = {}

    def get(name, io):
        if (name, io) not in cache:
            p = generate_hls4ml_project(models[name], d / f"{name}_{io}", io_type=io)
            cache[name, io] = compile_project(p)
        return cache[name, io]
    return get


@pytest.fixture(scope="session")
def digits():
    from hwkit.data import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize("io", IOS)
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_bit_exact(name, io, models, projects, digits):
    proj = projects(name, io)
    x = digits.x_test if name != "jet" else None
    rep = cosim_hls4ml(models[name], proj.out_dir, n=300, x=x, seed=1, project=proj)
    assert rep["samples"] == 300 + (0 if x is None else len(x))
    assert rep["mismatches"] == 0, rep["detail"]
    assert rep["reference"].startswith("hwkit.sim"), rep["reference"]


@pytest.mark.slow
@pytest.mark.parametrize("io", IOS)
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_bit_exact_10k(name, io, models, projects):
    rep = cosim_hls4ml(models[name], projects(name, io).out_dir, n=10_000, seed=7, project=projects(name, io))
    assert rep["samples"] == 10_000 and rep["mismatches"] == 0, rep["detail"]


def test_vivado_backend_bit_exact(models, tmp_path):
    rep = cosim_hls4ml(models["jet"], tmp_path / "vivado", n=300, backend="Vivado")
    assert rep["backend"] == "Vivado" and rep["mismatches"] == 0, rep["detail"]


def test_pretrained_stable_w4a4_on_test_set(tmp_path, digits):
    from hwkit.pretrained import qonnx_path

    rep = cosim_hls4ml(qonnx_path("stable_w4a4_digits"), tmp_path / "prj", n=200, x=digits.x_test)
    assert rep["mismatches"] == 0, rep["detail"]


def test_stable_blocks_are_active(models):
    """Test power: the symmetric blocks of the models these tests use really change the stream, so a
    wrong K^T cannot pass unseen (an inactive block is the identity after requantization)."""
    from golden_helpers import stable_block_activity

    for name in ("stable_mlp", "stable_cnv"):
        activity = stable_block_activity(models[name])
        assert len(activity) == 2 and min(activity) > 0.2, (name, activity)


def _single_weight_array(proj, function, layer_class, k_shape):
    fw = proj.out_dir / "firmware"
    top = (fw / f"{proj.name}.cpp").read_text()
    calls = re.findall(rf"nnet::{function}<[^>]*>\(\s*\w+,\s*\w+,\s*(w\d+)\)", top)
    assert len(calls) == 2, top  # two symmetric blocks, each called with ONE weight array
    weights = sorted(p.stem for p in (fw / "weights").glob("*.h"))
    blocks = [lay for lay in proj.model.get_layers() if lay.class_name == layer_class]
    others = [lay for lay in proj.model.get_layers() if lay.class_name in ("Dense", "Conv2D")]
    # every other matrix layer: weight + bias; each block: its single K
    assert len(weights) == 2 * len(others) + len(blocks) == 6, weights
    for w, blk in zip(calls, blocks):
        assert blk.weights["weight"].data.shape == k_shape and w in weights
    src = (fw / "nnet_utils" / "nnet_stable_block.h").read_text()
    assert src.count("const typename CONFIG_T::weight_t w[") == 2
    return src


@pytest.mark.parametrize("io", IOS)
def test_stable_block_stores_one_weight_array(projects, io):
    src = _single_weight_array(projects("stable_mlp", io), "stable_block", "HwkitStableBlock", (32, 32))
    assert "w[i * CONFIG_T::n_hidden + j]" in src  # the header reads the same array in both index orders


@pytest.mark.parametrize("io", IOS)
def test_stable_conv_block_stores_one_weight_array(projects, io):
    """Conv form: K (3x3, 8 -> 8 channels) stored once; K^T reads it with flipped taps."""
    src = _single_weight_array(projects("stable_cnv", io), "stable_conv_block", "HwkitStableConvBlock", (3, 3, 8, 8))
    fw = projects("stable_cnv", io).out_dir / "firmware"
    assert "ConvTranspose" not in (fw / "parameters.h").read_text()
    assert "const int rr = r - ky + P, qq = q - kx + P;" in src


def test_conv_block_with_foreign_transpose_weight_refused(tmp_path):
    """A ConvTranspose whose weight is not K's is no symmetric block: it is left alone, and hls4ml
    1.3.0 (which has no ConvTranspose) refuses it by name."""
    from qonnx.core.modelwrapper import ModelWrapper

    mw = ModelWrapper(str(_export("stable_cnv", tmp_path)))
    ct = next(n for n in mw.graph.node if n.op_type == "ConvTranspose")
    w = mw.find_producer(ct.input[1]).input[0]
    mw.set_initializer(w, -mw.get_initializer(w))
    mw.save(str(tmp_path / "tampered.onnx"))
    with pytest.raises(UnsupportedModelError, match="ConvTranspose"):
        generate_hls4ml_project(tmp_path / "tampered.onnx", tmp_path / "prj")


def test_float_scale_model_refused_naming_layer(tmp_path):
    path = _export("tfc", tmp_path, preset="float")
    with pytest.raises(UnsupportedModelError, match=r"node 'Quant_\d+' \(Quant\).*not a power of two"):
        generate_hls4ml_project(path, tmp_path / "prj")


def test_float_scale_model_approximate_reports_mismatches(tmp_path):
    path = _export("tfc", tmp_path, preset="float")
    rep = cosim_hls4ml(path, tmp_path / "prj", n=200, approximate=True)
    assert rep["notes"] and "not a power of two" in rep["notes"][0]
    assert rep["mismatches"] > 0  # hls4ml's fixed<16,6> scales really do change results


def test_residual_mlp_bit_exact_stream(tmp_path):
    """Plain residual blocks: the Mul by h becomes an hls4ml ApplyAlpha, the fan-out a Clone."""
    path = _export("residual_mlp", tmp_path)
    rep = cosim_hls4ml(path, tmp_path / "prj", n=500, io_type="stream")
    assert rep["mismatches"] == 0, rep["detail"]


def test_bipolar_refused(tmp_path):
    path = _export("tfc", tmp_path, wbits=1, abits=1)
    with pytest.raises(UnsupportedModelError, match="BipolarQuant"):
        generate_hls4ml_project(path, tmp_path / "prj")


def test_bad_options(models, tmp_path):
    with pytest.raises(ConfigError, match="io type"):
        generate_hls4ml_project(models["tfc"], tmp_path, io_type="axi")
    with pytest.raises(ConfigError, match="backend"):
        generate_hls4ml_project(models["tfc"], tmp_path, backend="Quartus")


def test_generation_deterministic_and_cached(models, projects, tmp_path):
    first = projects("tfc", "parallel")
    again = compile_project(generate_hls4ml_project(models["tfc"], tmp_path / "again", io_type="parallel"))
    assert again.stamp == first.stamp and again.cached
    a = (first.out_dir / "firmware" / "parameters.h").read_bytes()
    assert a == (again.out_dir / "firmware" / "parameters.h").read_bytes()

    def tree(d):
        return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    # every file, wherever the project is written (builds move it from a partial directory)
    other = generate_hls4ml_project(models["tfc"], tmp_path / "elsewhere" / "deeper", io_type="parallel")
    assert tree(again.out_dir) == tree(other.out_dir)


def test_reuse_factor_by_hwgraph_name(models, tmp_path):
    """Reuse factors are given per HwGraph layer name (was: a list by position, now refused)."""
    proj = generate_hls4ml_project(models["tfc"], tmp_path / "rf", reuse_factor={"Gemm_2": 4, "Gemm_3": 2})
    assert {proj.hw_names[k]: v for k, v in proj.reuse.items()} == {"Gemm_0": 1, "Gemm_1": 1, "Gemm_2": 4, "Gemm_3": 2}
    assert "resource" in (proj.out_dir / "firmware" / "parameters.h").read_text().lower()
    with pytest.raises(ConfigError, match="by list position"):
        generate_hls4ml_project(models["tfc"], tmp_path / "rf2", reuse_factor=[2, 2, 2, 2])
    with pytest.raises(ConfigError, match="'Dense_MatMul_1', which is no matrix layer"):
        generate_hls4ml_project(models["tfc"], tmp_path / "rf3", reuse_factor={"Dense_MatMul_1": 2})


def test_hls_tool_absent_stops_after_csim(projects, tmp_path):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    assert find_hls_tool("Vitis", str(empty)) is None
    res = synthesize(projects("tfc", "parallel"), path=str(empty))
    assert res["synthesized"] is False and "not on PATH" in res["message"] and "\n" not in res["message"]


def test_hls_tool_present_is_invoked(projects, tmp_path):
    fake_bin = tmp_path / "fake_bin"
    fake_bin.mkdir()
    tool = fake_bin / "vitis-run"
    tool.write_text("#!/bin/sh\necho \"FAKE vitis-run invoked with: $*\"\nexit 3\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    assert find_hls_tool("Vitis", str(fake_bin)) == ("vitis-run", str(tool))
    proj = projects("tfc", "parallel")
    with pytest.raises(BuildFailedError, match="exited with 3"):
        synthesize(proj, path=str(fake_bin) + os.pathsep + "/usr/bin:/bin")
    log = (proj.out_dir / "logs" / "hls_synth.log").read_text()
    assert "FAKE vitis-run invoked with: --tcl build_prj.tcl --mode hls" in log
    assert "synth      1" in (proj.out_dir / "build_opt.tcl").read_text()


FIXTURES = Path(__file__).parent / "fixtures" / "vitis_hls"


def fake_vitis_run(bin_dir: Path, project: str = "hwkit") -> Path:
    """A vitis-run that succeeds and leaves Vitis' report files (tests/fixtures/vitis_hls) in the
    project it runs in, so hwkit's reading goes through hls4ml's real report parser."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    rpt = f"{project}_prj/solution1/syn/report"
    tool = bin_dir / "vitis-run"
    tool.write_text(f"#!/bin/sh\nmkdir -p {rpt}\ncp '{FIXTURES / 'hls.app'}' {project}_prj/hls.app\n"
                    f"cp '{FIXTURES / 'hwkit_csynth.xml'}' {rpt}/{project}_csynth.xml\n")
    tool.chmod(0o755)
    return tool


def test_hls_reports_read_into_hwkit_units(models, tmp_path):
    """A vitis-run that succeeds and leaves Vitis' report files: the numbers arrive through hls4ml's
    parser, block RAM converted to the board's 36 Kb units."""
    proj = generate_hls4ml_project(models["tfc"], tmp_path / "prj")
    fake_bin = fake_vitis_run(tmp_path / "fake_bin").parent
    res = synthesize(proj, path=str(fake_bin) + os.pathsep + "/usr/bin:/bin")
    assert res["synthesized"] and res["tool"] == "vitis-run"
    assert res["total"] == {"lut": 5678, "ff": 1234, "bram": 3.0, "dsp": 3}
    assert res["latency_cycles"] == [17, 19] and res["interval_cycles"] == [1, 2]
    assert res["clock_ns"] == {"target": 5.0, "estimated": 4.21}


def test_cli_cosim_pretrained_tfc(tmp_path, capsys):
    from hwkit.cli import main
    from hwkit.pretrained import qonnx_path

    code = main(["cosim", str(qonnx_path("tfc_w2a2_digits")), "--n", "200", "--dataset", "digits",
                 "--io", "stream", "--out", str(tmp_path / "prj")])
    out = capsys.readouterr().out
    assert code == 0 and "0 mismatches over 560 inputs vs hwkit.sim" in out, out
    assert main(["cosim", str(qonnx_path("tfc_w2a2_digits")), "--backend", "finn"]) == 2


def test_config_stamp_line_does_not_depend_on_hls4ml_random_stamp(models, tmp_path, monkeypatch):
    """hls4ml draws a random stamp; YAML quotes it when it reads as a number ('12345678'). The written
    config must not show which one was drawn (this made project files differ about one run in ten)."""
    import uuid

    def project_with(stamp):  # hls4ml's MakeStamp pass keeps the last 8 characters of a uuid4
        monkeypatch.setattr(uuid, "uuid4", lambda: "00000000-0000-0000-0000-0000" + stamp)
        p = generate_hls4ml_project(models["tfc"], tmp_path / stamp, io_type="parallel")
        return (p.out_dir / "hls4ml_config.yml").read_text()

    assert project_with("12345678") == project_with("abcdef01")
