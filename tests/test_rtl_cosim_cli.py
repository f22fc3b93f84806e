"""`hwkit cosim --backend rtl`: the C++ bench with waves, the cocotb bench, and the waveform of the
first mismatching vector."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hwkit.backends.rtl.cosim import cosimulate, first_bad_vector, write_waves
from hwkit.backends.rtl.generate import generate
from hwkit.ir import lower, random_grid_inputs

from golden_helpers import export, pot_mlp

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return export(pot_mlp([12, 8, 4], 2, 2, 4, seed=2), (12,), tmp_path_factory.mktemp("m") / "mlp.onnx")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hwkit.cli", *map(str, args)], capture_output=True, text=True)


def test_cosim_rtl_cxx_with_waves(mlp, tmp_path):
    r = _cli("cosim", mlp, "--backend", "rtl", "--n", 300, "--waves", 3, "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["mismatches"] == 0 and s["n"] == 300 and s["ii_measured"] == s["ii_model"]
    vcd = tmp_path / "c" / "core" / "waves.vcd"
    assert s["waves"] == str(vcd) and s["waves_vectors"] == 3 and vcd.stat().st_size > 200


def test_waves_stop_at_the_first_mismatching_vector(mlp, tmp_path):
    graph = lower(str(mlp))
    core = tmp_path / "core"
    desc = generate(graph, core)
    wfile = next(core / f for f in desc["files"]["mem"] if f.startswith("w_"))
    lines = wfile.read_text().split()
    lines[0] = format(int(lines[0], 16) ^ 1, f"0{len(lines[0])}x")     # one weight bit flipped
    wfile.write_text("\n".join(lines) + "\n")
    x = random_grid_inputs(graph, 200, seed=5)
    res = cosimulate(graph, x, core)
    assert res.mismatches > 0
    bad = first_bad_vector(_golden(graph, x, desc), res.outputs[desc["out"]["stream"]])
    assert bad is not None
    vcd = write_waves(core, x, bad + 1)
    in_beats = len(np.loadtxt(core / "in_cycles.txt", ndmin=1))
    assert vcd.stat().st_size > 200 and in_beats == (bad + 1) * desc["in"]["beats_per_sample"]


def _golden(graph, x, desc):
    from hwkit.sim import simulate

    return simulate(graph, x).outputs[desc["out"]["stream"]]


@pytest.mark.slow
def test_cosim_rtl_cocotb_bench(mlp, tmp_path):
    r = _cli("cosim", mlp, "--backend", "rtl", "--bench", "cocotb", "--n", 200, "--out", tmp_path / "c")
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.loads(r.stdout)
    assert s["mismatches"] == 0 and s["passed"] and s["vectors"] == 200


def test_bench_options_need_rtl(mlp, tmp_path):
    r = _cli("cosim", mlp, "--waves", 2, "--out", tmp_path / "h")
    assert r.returncode != 0 and "apply to --backend rtl" in r.stderr
