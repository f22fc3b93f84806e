"""Parallel Verilator cosim (vectors split over processes of one compiled simulator, merged in order)
and the tool runner's process-group kill on timeout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from hwkit.backends.rtl.cosim import PARALLEL_WORK, cosim_jobs, cosimulate, cpu_count, merge_runs, slices
from hwkit.backends.rtl.stream import StreamRun
from hwkit.errors import ConfigError
from hwkit.tools.base import run_tool


def test_slices_are_contiguous_balanced_and_cover_every_vector():
    for n, jobs in [(10, 3), (7, 2), (2, 4), (1, 1), (1000, 2)]:
        parts = slices(n, jobs)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(b == a2 for (_, b), (a2, _) in zip(parts, parts[1:]))
        sizes = [b - a for a, b in parts]
        assert len(parts) == min(n, jobs) and min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_jobs_default_follows_the_work():
    assert cosim_jobs(None, 100, 50) == 1                           # small: one process
    assert cosim_jobs(None, 1000, PARALLEL_WORK) == cpu_count()      # a CIFAR CNV: every CPU
    assert cosim_jobs(8, 3, 10) == 3 and cosim_jobs(2, 100, 1) == 2  # explicit, never more than vectors
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="--jobs"):
            cosim_jobs(bad, 10, 10)


def _run(n, ii, latency, beats=1):
    """A StreamRun of n samples at a steady II: sample s's beats leave at latency + s*II + b."""
    out = np.array([latency + s * ii + b for s in range(n) for b in range(beats)], dtype=np.int64)
    return StreamRun(np.arange(n * beats).reshape(-1, 1), out, np.arange(n, dtype=np.int64) * ii, 1.0)


def test_merge_keeps_order_offsets_cycles_and_records_the_starts():
    a, b = _run(5, 10, 30, beats=2), _run(4, 10, 30, beats=2)
    m = merge_runs([(a, 5), (b, 4)])
    assert m.starts == (5,)
    assert np.array_equal(m.out_codes, np.concatenate([a.out_codes, b.out_codes]))
    end_a = int(a.out_cycles[-1]) + 1
    assert np.array_equal(m.out_cycles[10:], b.out_cycles + end_a) and np.all(np.diff(m.out_cycles) > 0)
    assert merge_runs([(a, 5)]) is a


def test_measured_ii_ignores_the_refill_between_processes():
    from hwkit.backends.rtl.cosim import CosimResult, _cycles

    desc = {"in": {"beats_per_sample": 1}, "out": {"beats_per_sample": 2}}
    one = CosimResult({}, 16, None)
    _cycles(one, _run(16, 10, 300, beats=2), desc, 16)
    two = CosimResult({}, 16, None)
    _cycles(two, merge_runs([(_run(8, 10, 300, beats=2), 8), (_run(8, 10, 300, beats=2), 8)]), desc, 16)
    assert (two.ii_measured, two.ii_min, two.ii_max, two.latency_cycles) == \
        (one.ii_measured, one.ii_min, one.ii_max, one.latency_cycles) == (10, 10, 10, 302)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_timed_out_tool_takes_its_children_with_it(tmp_path):
    pidfile = tmp_path / "child.pid"
    # the tool starts a long-running child (as make starts g++) and then hangs itself
    script = ("import subprocess, sys, time\n"
              "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
              "time.sleep(60)\n")
    t0 = time.monotonic()
    res = run_tool([sys.executable, "-c", script], timeout=3, check=False, log=tmp_path / "tool.log")
    assert res.returncode == -1 and "timed out" in res.stdout and time.monotonic() - t0 < 30
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the timed-out tool's child survived"


# ---- the simulator itself (Verilator) -------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    sys.path.insert(0, os.path.dirname(__file__))
    from golden_helpers import export, pot_mlp

    return export(pot_mlp([12, 8, 4], 2, 2, 4, seed=2), (12,), tmp_path_factory.mktemp("m") / "mlp.onnx")


@pytest.mark.tools
def test_two_processes_give_the_same_result_as_one_including_a_located_mismatch(mlp, tmp_path):
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower, random_grid_inputs

    graph = lower(str(mlp))
    core = tmp_path / "core"
    desc = generate(graph, core)
    x = random_grid_inputs(graph, 301, seed=4)
    clean = {j: cosimulate(graph, x, core, jobs=j) for j in (1, 2)}
    wfile = next(core / f for f in desc["files"]["mem"] if f.startswith("w_"))
    lines = wfile.read_text().split()
    lines[-1] = format(int(lines[-1], 16) ^ 1, f"0{len(lines[-1])}x")     # one weight bit flipped
    wfile.write_text("\n".join(lines) + "\n")
    bad = {j: cosimulate(graph, x, core, jobs=j) for j in (1, 2)}
    stream = desc["out"]["stream"]
    assert clean[1].mismatches == clean[2].mismatches == 0
    assert bad[1].mismatches == bad[2].mismatches > 0
    for r in (clean, bad):
        assert r[1].extra["jobs"] == 1 and r[2].extra["jobs"] == 2
        assert np.array_equal(r[1].outputs[stream], r[2].outputs[stream])
        assert (r[1].ii_measured, r[1].latency_cycles) == (r[2].ii_measured, r[2].latency_cycles)
        assert r[1].ii_measured == desc["ii_cycles"]
    # located exactly as with one process: the same layer, vector and element
    assert [str(e) for e in bad[1].report.entries] == [str(e) for e in bad[2].report.entries]
    assert (core / "sim.1.log").is_file()     # each process kept its own files


@pytest.mark.tools
def test_cli_jobs_option(mlp, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hwkit.cli", *map(str, args)], capture_output=True, text=True)

    r = cli("cosim", mlp, "--backend", "rtl", "--n", 120, "--jobs", 2, "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["jobs"] == 2 and s["mismatches"] == 0 and s["n"] == 120 and s["ii_measured"] == s["ii_model"]
    r = cli("cosim", mlp, "--backend", "rtl", "--n", 10, "--jobs", 0, "--out", tmp_path / "d")
    assert r.returncode != 0 and "--jobs must be" in r.stderr


@pytest.mark.tools
def test_max_pool_of_a_bipolar_stream_is_exact(tmp_path):
    """CNV's first MaxPool: +-1 activations (1 bit, 0 = -1) ordered as codes, not as signed 1-bit numbers."""
    import brevitas.nn as qnn
    import torch
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    sys.path.insert(0, os.path.dirname(__file__))
    from golden_helpers import export

    from hwkit.ir import lower, random_grid_inputs
    from hwkit.zoo.quant import InputQuantPoT

    torch.manual_seed(3)
    binw = dict(weight_quant=SignedBinaryWeightPerTensorConst, bias=False, return_quant_tensor=True)
    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=InputQuantPoT, bit_width=4, max_val=1.0, return_quant_tensor=True),
        qnn.QuantConv2d(1, 8, 3, padding=1, **binw), torch.nn.BatchNorm2d(8),
        qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), qnn.QuantLinear(8 * 4 * 4, 4, **binw))
    with torch.no_grad():   # thresholds near the accumulator's middle: windows of mixed signs are common
        model[2].running_mean.copy_(torch.randn(8) * 0.3)
    graph = lower(str(export(model.eval(), (1, 8, 8), tmp_path / "bin_pool.onnx")))
    pools = [l for l in graph.layers if l.kind == "Pool"]
    assert pools and graph.streams[pools[0].inputs[0]].dtype.bipolar
    x = random_grid_inputs(graph, 200, seed=1)
    res = cosimulate(graph, x, tmp_path / "core", generate_first=True)
    y = next(iter(res.outputs.values()))
    assert len(np.unique(y.reshape(len(y), -1), axis=0)) > 20      # the outputs depend on the input
    assert res.mismatches == 0, res.report.entries[:3]


@pytest.mark.tools
def test_the_build_cosim_stage_goes_parallel_when_the_work_is_large(mlp, tmp_path, monkeypatch):
    """The rtl backend's simulate (the build's cosim stage) takes the default: every CPU past the threshold."""
    import hwkit.backends.rtl.cosim as cosim
    from hwkit.backends.rtl.backend import RtlBackend
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.sim import simulate

    graph = lower(str(mlp))
    generate(graph, tmp_path / "gen")
    x = random_grid_inputs(graph, 64, seed=9)
    monkeypatch.setattr(cosim, "PARALLEL_WORK", 1)
    monkeypatch.setattr(cosim, "cpu_count", lambda: 2)
    sim = RtlBackend().simulate(graph, tmp_path / "gen", x, tmp_path / "work", None)
    assert sim.detail["simulator_processes"] == 2 and sim.ii_cycles == sim.detail["ii_model"]
    golden = simulate(graph, x).outputs
    assert all(np.array_equal(golden[k], v) for k, v in sim.outputs.items())
