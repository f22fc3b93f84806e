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
def test_default_build_and_resume_after_kill(tmp_path):
    """No arguments: the shipped model for the default open board. Then the same build killed inside its
    third stage and re-run must give the same artefacts, without redoing the finished stages."""
    proc = hwkit("build", "--out", tmp_path / "full", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = tmp_path / "full"
    assert (full / "report.json").is_file() and (full / "report.html").is_file()
    assert "report:" in proc.stderr
    report = json.loads((full / "report.json").read_text())
    assert report["board"]["name"] == "ulx3s" and report["backend"] == "rtl"
    assert report["summary"]["accuracy_golden"] == report["summary"]["accuracy_software"]
    stages = {s["name"]: s for s in report["stages"]}
    if stages["bitstream"]["status"] == "ok":
        assert list(full.glob("*-bitstream/*.bit")) and report["summary"]["bit_exact"] is True

    killed = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "hwkit.cli", "build", "--out", str(killed)], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list(killed.glob(".02-golden_sim.partial-*")):
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(60)
    assert not (killed / "02-golden_sim").exists() and not (killed / "report.json").exists()
    first = json.loads((killed / "00-export" / "stage.json").read_text())
    proc = hwkit("build", "--out", killed, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((killed / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"][:2]] == [False, False]
    assert json.loads((killed / "00-export" / "stage.json").read_text()) == first
    assert not list(killed.glob(".*partial*"))
    assert _stable_hashes(killed) == _stable_hashes(full)
    assert json.loads((killed / "report.json").read_text())["summary"] == report["summary"]


def test_notebook_is_stored_without_outputs():
    nb = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None
