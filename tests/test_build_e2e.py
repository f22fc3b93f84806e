"""`hwkit build` end to end on the shipped model: user errors are one-line with no artefacts, the default
build produces report.json/report.html (and a bitstream where the open flow runs), and a build killed in
the middle of a stage resumes to the same artefacts as an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwkit.build import hash_tree

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
# artefacts whose bytes must not depend on when or how often a build ran (logs and timings may)
STABLE_SUFFIXES = (".onnx", ".pkl", ".npz", ".v", ".sv", ".mem", ".hex", ".bit", ".bin", ".pcf", ".lpf")


def hwkit(*args, cwd=None, timeout=1800, **kw):
    return subprocess.run([sys.executable, "-m", "hwkit.cli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout, **kw)


def _one_line_error(proc):
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr  # one line, nothing after it
    return errors[0]


def test_unknown_board_fails_without_artefacts(tmp_path):
    proc = hwkit("build", "--board", "ulx4s", "--out", tmp_path / "b")
    assert proc.returncode == 2
    assert "unknown board 'ulx4s'" in _one_line_error(proc)
    assert not (tmp_path / "b").exists()


def test_malformed_config_fails_without_artefacts(tmp_path):
    cfg = tmp_path / "build.yaml"
    cfg.write_text(f"board: ulx3s\nbackend: vhdl\nout: {tmp_path / 'b'}\n")
    proc = hwkit("build", cfg)
    assert proc.returncode == 2 and "'backend'" in _one_line_error(proc)
    cfg.write_text("board: ulx3s\ntarget_fps: fast\n")
    proc = hwkit("build", cfg)
    assert proc.returncode == 2 and "'target_fps'" in _one_line_error(proc)
    assert not (tmp_path / "b").exists()


def test_missing_model_file(tmp_path):
    proc = hwkit("build", tmp_path / "nope.onnx", "--out", tmp_path / "b")
    assert proc.returncode == 2 and "not found" in _one_line_error(proc)
    assert not (tmp_path / "b").exists()


def test_model_that_does_not_fit(tmp_path):
    """The W4A4 stable MLP unrolled for 10 M samples/s cannot fit an iCE40UP5K: a one-line error naming the
    resources, exit code 5, and no report or stage directory after the estimate."""
    model = ROOT / "hwkit" / "pretrained" / "stable_w4a4_digits.onnx"
    proc = hwkit("build", model, "--board", "icebreaker", "--target-fps", "10000000", "--out", tmp_path / "b")
    line = _one_line_error(proc)
    assert proc.returncode == 5, proc.stderr
    assert "does not fit" in line and "icebreaker" in line
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert "report.json" not in names and not any(n.startswith(".") for n in names)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["stages"][-1]["status"] == "failed"


def _stable_hashes(build_dir: Path) -> dict:
    out = {}
    for d in sorted(build_dir.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            out.update({f"{d.name}/{k}": v for k, v in hash_tree(d).items() if k.endswith(STABLE_SUFFIXES)})
    return out


@pytest.mark.slow
def test_default_build(tmp_path):
    """No arguments: the shipped model for the default open board, to a report and (RTL) a bitstream."""
    proc = hwkit("build", "--out", tmp_path / "full", cwd=tmp_path, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = tmp_path / "full"
    assert (full / "report.json").is_file() and (full / "report.html").is_file()
    assert f"report: {full / 'report.html'}" in proc.stderr
    report = json.loads((full / "report.json").read_text())
    assert report["board"]["name"] == "ulx3s" and report["backend"] == "rtl"
    s = report["summary"]
    assert s["accuracy_golden"] == s["accuracy_software"] == s["accuracy_hw_sim"]
    assert s["bit_exact"] is True and s["mismatches"] == 0
    assert s["fmax_mhz"] >= s["clock_mhz"]  # a missed clock is rebuilt below Fmax
    for row in report["layers"]:  # yosys' per-instance cells, attributed to layers as the estimate does
        assert all(isinstance(row["synthesized"][k], (int, float)) for k in ("lut", "ff", "bram", "dsp")), row
    assert sum(r["synthesized"]["lut"] for r in report["layers"]) > 0.5 * report["resources"]["synthesized"]["lut"]
    assert list(full.glob("*-bitstream/ulx3s.bit")) and "bitstream:" in proc.stderr


def _small_config(tmp_path, out):
    cfg = tmp_path / f"{out}.yaml"
    cfg.write_text(f"board: ulx3s\nbackend: rtl\ntarget_fps: 100000\nclock_mhz: 50\nout: {tmp_path / out}\n")
    return cfg


@pytest.mark.slow
def test_build_killed_in_place_and_route_resumes(tmp_path):
    """A build killed (SIGKILL to its process group, nextpnr included) in the middle of place & route,
    then re-run: finished stages are not redone and the artefacts equal those of an uninterrupted build."""
    killed = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "hwkit.cli", "build", str(_small_config(tmp_path, "killed"))],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 1800
    while not list(killed.glob(".07-place_route.partial-*/*.json")):  # the netlist is copied in, nextpnr starts
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3)
    assert p.poll() is None
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(60)
    assert not (killed / "07-place_route").exists() and not (killed / "report.json").exists()
    assert not list(killed.rglob("*.bit"))
    before = {d.name: (d / "stage.json").read_bytes() for d in killed.iterdir() if (d / "stage.json").is_file()}
    assert len(before) == 7

    proc = hwkit("build", _small_config(tmp_path, "killed"), timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((killed / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"]] == [False] * 7 + [True] * 5  # pnr, retime, bitstream, ip_package, report
    assert {n: (killed / n / "stage.json").read_bytes() for n in before} == before
    assert not list(killed.glob(".*partial*"))

    proc = hwkit("build", _small_config(tmp_path, "clean"), timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean = tmp_path / "clean"
    assert _stable_hashes(killed) == _stable_hashes(clean)
    assert list(killed.glob("*-bitstream/ulx3s.bit"))
    summary = {k: v for k, v in json.loads((killed / "report.json").read_text())["summary"].items()}
    assert summary == json.loads((clean / "report.json").read_text())["summary"]


def test_notebook_is_stored_without_outputs():
    nb = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def test_hls4ml_build_for_pynq(tmp_path):
    """hls4ml backend on a vendor board: project generated, C simulation bit-exact against the golden model,
    vendor-only stages marked not applicable with their reason."""
    pytest.importorskip("hls4ml")
    proc = hwkit("build", "--backend", "hls4ml", "--board", "pynq-z1", "--out", tmp_path / "b", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["summary"]["bit_exact"] is True and r["summary"]["mismatches"] == 0
    assert r["summary"]["cosim_vectors"] >= 360
    status = {s["name"]: s for s in r["stages"]}
    assert status["generate"]["status"] == "ok" and status["place_route"]["status"] == "not_applicable"
    assert "vendor tools" in status["place_route"]["reason"]
    from hwkit.tools.vitis import find_hls_tool

    if find_hls_tool("Vitis") is None:
        assert status["synthesize"]["status"] == "unavailable"  # re-tried by the next run
        assert "not on PATH" in status["synthesize"]["reason"]
    # a vitis-run on PATH that fails loudly proves the synthesize stage really invokes it
    fake_bin = tmp_path / "fake_bin"
    fake_bin.mkdir()
    tool = fake_bin / "vitis-run"
    tool.write_text("#!/bin/sh\necho \"FAKE vitis-run invoked with: $*\"\nexit 3\n")
    tool.chmod(0o755)
    env = {**ENV, "PATH": f"{fake_bin}{os.pathsep}{ENV['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "hwkit.cli", "build", "--backend", "hls4ml", "--board", "pynq-z1",
                           "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env,
                          timeout=1800)
    line = _one_line_error(proc)
    assert proc.returncode == 7 and "exited with 3" in line
    log = Path(line.split("(log: ")[1].split(")")[0])  # the error line names the kept log
    assert log.is_file() and log.is_relative_to(tmp_path / "b" / "failed")
    assert "FAKE vitis-run invoked with: --tcl build_prj.tcl --mode hls" in log.read_text()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["stages"][-1]["name"] == "synthesize" and manifest["stages"][-1]["status"] == "failed"
    assert not any(s["ran"] for s in manifest["stages"][:-1])  # the rerun resumed after cosim
    # a vitis-run that succeeds: its C-synthesis numbers become the report's synthesized column
    from test_hls4ml import fake_vitis_run

    fake_vitis_run(fake_bin)
    proc = subprocess.run([sys.executable, "-m", "hwkit.cli", "build", "--backend", "hls4ml", "--board", "pynq-z1",
                           "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["resources"]["synthesized"] == {"lut": 5678, "ff": 1234, "bram": 3.0, "dsp": 3}
    assert not (tmp_path / "b" / "failed").exists()  # the failed run's logs go once the stage succeeds


def test_finn_build_reports_its_rounding_difference(tmp_path):
    """FINN backend (estimate flow in its own venv): FINN turns round-half-even quantizers into thresholds
    that round ties up; hwkit moves the thresholds at reachable ties after streamlining
    (hwkit.backends.finn_ties), so the build is bit-exact; any difference left must be explained in the
    report instead of claimed away."""
    from hwkit.backends.finn_env import finn_env_available

    if not finn_env_available():
        pytest.skip("FINN environment missing: run `hwkit finn-env` (creates .venv-finn)")
    proc = hwkit("build", "--backend", "finn", "--board", "pynq-z1", "--out", tmp_path / "b", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    cos = json.loads(next((tmp_path / "b").glob("*-cosim/stage.json")).read_text())["result"]
    assert r["summary"]["bit_exact"] is (r["summary"]["mismatches"] == 0)
    if not r["summary"]["bit_exact"]:
        assert any("ties" in line for line in cos["explanation"])
