"""FINN backend pieces that run in hwkit's own environment (no .venv-finn needed), plus the slow
check that creating a FINN venv leaves hwkit's venv untouched."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hwkit.backends import finn_env
from hwkit.backends.finn import _folding_job, detect_vendor_tools, finn_build, missing_tools_line
from hwkit.backends.finn_reports import import_estimate_reports
from hwkit.backends.finn_worker import boot
from hwkit.errors import ConfigError, ToolMissingError

WORKER_DIR = Path(boot.__file__).parent


def test_boot_environment_is_absolute_and_parseable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = boot.finn_environment(Path("rel/build"))
    assert Path(env["FINN_BUILD_DIR"]).is_absolute() and Path(env["FINN_BUILD_DIR"]).is_dir()
    assert Path(env["FINN_SETTINGS"]).is_file()
    # FINN parses the Vivado version out of XILINX_VIVADO (finn.xsi.is_available's regex)
    assert re.search(r"\b(20\d{2})\.(1|2)\b", env["XILINX_VIVADO"])
    assert boot.finn_environment(Path("rel/build"), "/opt/Xilinx/Vivado/2024.1")["XILINX_VIVADO"].endswith("2024.1")


def test_worker_imports_only_finn_side_packages():
    """The worker runs in .venv-finn: it must not import hwkit (torch-heavy) nor sit next to a
    module named like a FINN package."""
    allowed = {"__future__", "copy", "json", "sys", "time", "traceback", "pathlib", "os", "typing",
               "importlib", "numpy", "qonnx", "finn", "boot", "worker", "ties"}
    for path in WORKER_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
    assert not {"finn.py", "qonnx.py", "onnx.py", "numpy.py"} & {p.name for p in WORKER_DIR.iterdir()}


def test_finn_python_missing_names_the_command(tmp_path):
    with pytest.raises(ToolMissingError, match=r"python -m hwkit.backends.finn_env"):
        finn_env.finn_python(tmp_path / "no-venv")
    assert not finn_env.finn_env_available(tmp_path / "no-venv")


def test_vendor_tools_absent(tmp_path):
    empty = str(tmp_path)
    tools = detect_vendor_tools(empty)
    assert tools == {"vivado": None, "vitis_hls": None, "vitis-run": None}
    line = missing_tools_line(tools)
    assert "\n" not in line
    assert "step_generate_hardware" in line and "vitis_hls or vitis-run" in line
    assert "step_synthesize_bitfile" in line and "vivado" in line
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not used: the tool check comes first")
    with pytest.raises(ToolMissingError, match="vivado"):
        finn_build(model, tmp_path / "out", board="pynq-z1", flow="full", path=empty)


def test_vendor_tools_present_on_controlled_path(tmp_path):
    bin_dir = tmp_path / "Vivado" / "2024.2" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("vivado", "vitis_hls"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 3\n")
        (bin_dir / name).chmod(0o755)
    tools = detect_vendor_tools(str(bin_dir))
    assert tools["vivado"] == str(bin_dir / "vivado") and tools["vitis_hls"] == str(bin_dir / "vitis_hls")
    assert tools["vitis-run"] is None
    assert missing_tools_line(tools) is None
    only_hls = missing_tools_line({"vitis-run": "/x"})
    assert "vivado" in only_hls and "vitis_hls or vitis-run" not in only_hls


def test_board_and_folding_validation(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    with pytest.raises(ConfigError, match="AMD/Xilinx"):
        finn_build(model, tmp_path / "o", board="ulx3s", path=str(tmp_path))
    with pytest.raises(ConfigError, match="board .* or an FPGA part"):
        finn_build(model, tmp_path / "o", path=str(tmp_path))
    with pytest.raises(ConfigError, match="folding layer 1"):
        _folding_job([{"PE": 2, "SIMD": 4}, {"PE": 0}], tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        _folding_job(str(tmp_path / "missing.json"), tmp_path)
    job = _folding_job({"MVAU_hls_0": {"PE": 4, "SIMD": 8}}, tmp_path)
    written = json.loads(Path(job["folding_file"]).read_text())
    assert written == {"Defaults": {}, "MVAU_hls_0": {"PE": 4, "SIMD": 8}}  # FINN's folding-config format
    assert _folding_job([{"PE": 2, "SIMD": 4}], tmp_path) == {"ordered_folding": [{"PE": 2, "SIMD": 4}]}


def test_import_estimate_reports_from_finn_files(tmp_path):
    """Files in the format FINN 1.6.1 writes (values typed in by hand)."""
    (tmp_path / "estimate_layer_resources.json").write_text(json.dumps({
        "MVAU_hls_0": {"BRAM_18K": 1, "BRAM_efficiency": 0.44, "LUT": 744, "URAM": 0, "URAM_efficiency": 1, "DSP": 0},
        "MVAU_hls_1": {"BRAM_18K": 0, "BRAM_efficiency": 1, "LUT": 317, "URAM": 0, "URAM_efficiency": 1, "DSP": 2},
        "total": {"BRAM_18K": 1.0, "LUT": 1061.0, "URAM": 0.0, "DSP": 2.0}}))
    (tmp_path / "estimate_layer_cycles.json").write_text(json.dumps({"MVAU_hls_0": 512, "MVAU_hls_1": 640}))
    (tmp_path / "estimate_network_performance.json").write_text(json.dumps({
        "critical_path_cycles": 1152, "max_cycles": 640, "max_cycles_node_name": "MVAU_hls_1",
        "estimated_throughput_fps": 156250.0, "estimated_latency_ns": 11520.0}))
    (tmp_path / "auto_folding_config.json").write_text(json.dumps({
        "Defaults": {}, "MVAU_hls_0": {"PE": 1, "SIMD": 8, "ram_style": "auto"}, "MVAU_hls_1": {"PE": 1, "SIMD": 1}}))
    est = import_estimate_reports(tmp_path)
    assert est["layers"]["MVAU_hls_0"]["LUT"] == 744 and est["layers"]["MVAU_hls_1"]["DSP"] == 2
    assert est["layers"]["MVAU_hls_0"]["cycles"] == 512
    assert est["layers"]["MVAU_hls_0"]["folding"] == {"PE": 1, "SIMD": 8, "ram_style": "auto"}
    assert est["total"] == {"LUT": 1061.0, "BRAM_18K": 1.0, "URAM": 0.0, "DSP": 2.0}
    assert est["performance"]["throughput_fps"] == 156250.0 and est["performance"]["bottleneck"] == "MVAU_hls_1"
    assert import_estimate_reports(tmp_path / "nothing") == {}


def _mt_model(thresholds, in_dtype="INT8"):
    """x (1, C) -> MultiThreshold(thresholds) -> y: the node FINN's streamlining leaves on an accumulator."""
    import numpy as np
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    thr = np.asarray(thresholds, dtype=np.float32)
    c = thr.shape[0]
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="qonnx.custom_op.general", out_dtype="UINT2")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_initializer("t", thr)
    model.set_tensor_datatype("x", DataType[in_dtype])
    return model


def test_shift_round_tie_levels():
    """round(n / 8) half to even, clipped to [0, 3]: boundaries 4, 12, 20 on n; at 4 and 20 golden
    keeps the even level (0, 2), so its thresholds are one higher there; FINN's x >= t rounds up."""
    from hwkit.backends.finn_ties import _shift_round_levels
    from hwkit.ir.graph import ShiftRound

    exact, up = _shift_round_levels(ShiftRound("q", ("a",), ("b",), shift=3, rounding="half_even", lo=0, hi=3))
    assert exact.tolist() == [[5, 12, 21]] and up.tolist() == [[4, 12, 20]]
    exact, up = _shift_round_levels(ShiftRound("q", ("a",), ("b",), shift=3, rounding="half_up", lo=-2, hi=1))
    assert exact.tolist() == up.tolist() == [[-12, -4, 4]]
    exact, up = _shift_round_levels(ShiftRound("q", ("a",), ("b",), shift=0, rounding="half_even", lo=0, hi=2))
    assert exact.tolist() == up.tolist() == [[1, 2]]  # no shift: no tie is reachable


def test_apply_tie_table_pairs_by_value_and_moves_only_ties():
    """The worker's correction in hwkit's venv: thresholds equal to the ties-up values (in FINN's
    domain: hwkit's accumulator minus the MVU bias) move to the golden ones; a node whose
    thresholds do not all match is left alone and reported."""
    import numpy as np

    from hwkit.backends.finn_worker.ties import apply_tie_table

    entry = {"layer": "Quant_1", "kind": "ShiftRound", "exact": [[5, 12, 21]], "ties_up": [[4, 12, 20]],
             "valid": [[True, True, True]], "offset": [1, -2]}
    model, rep = apply_tie_table(_mt_model([[3, 11, 19], [6, 14, 22]]), {"input": None, "requant": [entry]})
    assert model.get_initializer("t").tolist() == [[4, 11, 20], [7, 14, 23]]
    assert rep["changed"] == 4 and not rep["skipped"]
    model, rep = apply_tie_table(_mt_model([[3, 11, 19], [6, 15, 22]]), {"input": None, "requant": [entry]})
    assert model.get_initializer("t").tolist() == [[3, 11, 19], [6, 15, 22]]
    assert rep["changed"] == 0 and "not paired" in rep["skipped"][0]
    _model, rep = apply_tie_table(_mt_model([[3, 11, 19]]), {"input": None, "requant": [entry, entry]})
    assert rep["changed"] == 0 and "2 requantizers" in rep["notes"][0]
    # the float input quantizer: t -> the next float32 above t where golden rounds down
    up = np.float32(0.5 / 256)
    inp = {"ties_up": [[float(up), 1.5 / 256]], "exact": [[float(np.nextafter(up, np.float32(1))), 1.5 / 256]]}
    model, rep = apply_tie_table(_mt_model([[0.5 / 256, 1.5 / 256]], "FLOAT32"), {"input": inp, "requant": []})
    assert model.get_initializer("t")[0, 0] == np.nextafter(up, np.float32(1)) and rep["changed"] == 1


@pytest.mark.parametrize("mw, moved", [(4, True), (3, False)])
def test_apply_tie_table_on_xnor_popcount(mw, moved):
    """After FINN's XNOR conversion the threshold is on the popcount p (n = 2 p - MW): golden's
    strict tie at n = 0 needs p >= MW/2 + 1; with MW odd n never reaches 0, so nothing moves."""
    import numpy as np
    from onnx import helper

    from hwkit.backends.finn_worker.ties import apply_tie_table

    up = -(-mw // 2)
    model = _mt_model([[up], [up]], "UINT32")
    model.set_initializer("w", np.ones((mw, 2), dtype=np.float32))
    model.graph.node.insert(0, helper.make_node("XnorPopcountMatMul", ["a", "w"], ["x"], domain="finn.custom_op.general"))
    model.graph.input[0].name = "a"
    entry = {"layer": "BipolarQuant_0", "kind": "Threshold", "exact": [[1], [1]], "ties_up": [[0], [0]],
             "valid": [[True], [True]], "offset": [0, 0]}
    model, rep = apply_tie_table(model, {"input": None, "requant": [entry]})
    assert model.get_initializer("t").ravel().tolist() == [up + moved] * 2 and rep["changed"] == 2 * moved


def _freeze(python) -> str:
    return subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_create_finn_env_leaves_main_venv_alone(tmp_path):
    """Creates a second FINN venv (~1-10 min, ~2.2 GB) and checks hwkit's venv did not change."""
    before = _freeze(sys.executable)
    info = finn_env.create_finn_env(tmp_path / "venv-finn")
    assert _freeze(sys.executable) == before
    assert info["versions"]["torch"] == "2.13.0+cpu" and info["versions"]["finn-plus"] == "1.6.1"
    assert info["versions"]["brevitas"] == "0.13.4"
    assert finn_env.finn_env_available(tmp_path / "venv-finn")
    assert finn_env.create_finn_env(tmp_path / "venv-finn") == info  # idempotent
