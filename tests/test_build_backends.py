"""The build's backend interface: the registry, the generic cosim comparison against golden.npz, and
that no backend can report bit-exactness against anything but the golden model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwkit.backends import BACKENDS, get_backend
from hwkit.backends.base import Backend, SimOutputs
from hwkit.build import BuildConfig, Flow, Stage, default_flow, run_flow
from hwkit.errors import BuildFailedError, ConfigError, UnsupportedModelError

ROOT = Path(__file__).resolve().parent.parent


class FakeBackend(Backend):
    """Generates nothing; its 'simulator' returns the golden outputs, optionally corrupted."""

    name = "fake"
    corrupt = 0
    extra_stream = False

    def generate(self, graph, qonnx_path, workdir, board, config):
        (Path(workdir) / "fake.txt").write_text("fake sources\n")
        return {"summary": "fake"}

    def simulate(self, graph, generated_dir, x_int, workdir, config, *, qonnx_path=None, board=None):
        from hwkit.sim import simulate

        out = {k: np.array(v) for k, v in simulate(graph, x_int).outputs.items()}
        name = sorted(out)[0]
        out[name].reshape(-1)[: self.corrupt] += 1
        if self.extra_stream:
            out["not_a_golden_stream"] = out[name]
        return SimOutputs(out, simulator="fake")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(BACKENDS, "fake", f"{__name__}:FakeBackend")
    monkeypatch.setattr(FakeBackend, "corrupt", 0)
    monkeypatch.setattr(FakeBackend, "extra_stream", False)
    return FakeBackend


def _flow(upto="cosim"):
    flow = default_flow("rtl")
    return Flow(flow[: flow.index_of(upto) + 1])


def test_registry_names_every_backend_and_loads_it():
    assert set(BACKENDS) == {"rtl", "hls4ml", "finn"}
    assert get_backend("rtl").name == "rtl"
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        get_backend("nope")
    with pytest.raises(ConfigError, match="expected one of rtl, hls4ml, finn"):
        BuildConfig(backend="nope").validate()


def test_no_module_outside_the_registry_branches_on_a_backend_name():
    import re

    pattern = re.compile(r"backend\s*[!=]=|==\s*['\"](rtl|hls4ml|finn)['\"]|in \(['\"](rtl|hls4ml|finn)['\"]")
    allowed = {"hwkit/backends/__init__.py", "hwkit/cli.py", "hwkit/backends/hls4ml/cli.py"}
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "hwkit").rglob("*.py"))
            if p.relative_to(ROOT).as_posix() not in allowed
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
    assert not (ROOT / "hwkit" / "build_stages.py").exists()


def test_generic_cosim_compares_with_golden(fake, tmp_path):
    ctx = run_flow(_flow(), BuildConfig(backend="fake", n_vectors=50), tmp_path / "ok")
    cos = ctx.results["cosim"]
    assert cos["bit_exact"] is True and cos["mismatches"] == 0 and cos["reference"] == "hwkit.sim (golden)"
    assert cos["vectors"] == cos["test_vectors"] + 50 and cos["schema_version"] == 1


def test_generic_cosim_counts_a_corrupted_output(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(FakeBackend, "corrupt", 3)
    ctx = run_flow(_flow(), BuildConfig(backend="fake", n_vectors=50), tmp_path / "bad")
    cos = ctx.results["cosim"]
    assert cos["bit_exact"] is False and cos["mismatches"] == 3
    assert "input 0" in cos["first_mismatch"] and "reference" in cos["first_mismatch"]


def test_a_backend_cannot_bring_its_own_reference_stream(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(FakeBackend, "extra_stream", True)
    with pytest.raises(BuildFailedError, match="not_a_golden_stream"):
        run_flow(_flow(), BuildConfig(backend="fake", n_vectors=10), tmp_path / "extra")


def test_cosim_without_golden_outputs_never_reports_bit_exact(fake, tmp_path):
    """The golden stage did not produce golden.npz: cosim is unavailable, bit_exact is never true."""
    flow = _flow()
    flow.replace("golden_sim", Stage("golden_sim", lambda ctx: {"status": "not_applicable", "reason": "none"},
                                     deps=("export", "lower")))
    ctx = run_flow(flow, BuildConfig(backend="fake", n_vectors=10), tmp_path / "nogolden")
    assert ctx.results["cosim"]["status"] == "unavailable" and "bit_exact" not in ctx.results["cosim"]


def test_hls4ml_cosim_has_no_silent_qonnx_reference(tmp_path, monkeypatch):
    """When the golden model cannot lower the model, hls4ml's cosim refuses instead of switching to
    qonnx execution (which used to report 0 mismatches against a different reference)."""
    pytest.importorskip("hls4ml")
    from hwkit.backends.hls4ml import cosim as hcosim
    from hwkit.pretrained import qonnx_path

    def no_lowering(*a, **k):
        raise UnsupportedModelError("lowering failed on purpose")

    monkeypatch.setattr(hcosim, "golden_inputs_and_outputs", no_lowering)
    with pytest.raises(UnsupportedModelError, match="golden model, which cannot lower"):
        hcosim.cosim_hls4ml(qonnx_path("tfc_w2a2_digits"), tmp_path / "prj", n=20)


def test_hls4ml_build_without_golden_cannot_be_bit_exact(tmp_path, monkeypatch):
    """hls4ml through the build with lowering broken: the build stops at lower, no cosim record."""
    pytest.importorskip("hls4ml")
    import importlib

    ir_lower = importlib.import_module("hwkit.ir.lower")  # the package exports a function of that name

    def no_lowering(*a, **k):
        raise UnsupportedModelError("lowering failed on purpose")

    monkeypatch.setattr(ir_lower, "lower", no_lowering)
    out = tmp_path / "b"
    with pytest.raises(UnsupportedModelError, match="on purpose"):
        run_flow(default_flow("hls4ml"), BuildConfig(backend="hls4ml", board="pynq-z1"), out)
    assert not list(out.glob("*-cosim")) and not (out / "report.json").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][-1] == {**manifest["stages"][-1], "name": "lower", "status": "failed"}
