"""The command line: one-line errors, non-zero exits, nothing half-written."""
import subprocess
import sys

import pytest


def hwkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hwkit.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_zoo_lists_models():
    res = hwkit("zoo")
    assert res.returncode == 0
    for name in ("tfc", "jet", "cnv", "stable_mlp", "residual_cnv"):
        assert name in res.stdout


@pytest.mark.parametrize("args,msg", [
    (["train", "resnet50"], "unknown model 'resnet50'"),
    (["train", "tfc", "--wbits", "0"], "weight bit width must be an integer in 1..8, got 0"),
    (["train", "tfc", "--abits", "17"], "activation bit width must be an integer in 1..8, got 17"),
    (["train", "tfc", "--dataset", "cifar10"], "unknown dataset 'cifar10'"),
])
def test_bad_training_input_fails_in_one_line(tmp_path, args, msg):
    res = hwkit(*args, "--epochs", "1", "--out", str(tmp_path / "o" / "m.pt"), cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and msg in lines[0], res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unreadable_checkpoint_export_fails_in_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    res = hwkit("export", str(bad))
    assert res.returncode == 2
    assert "not a readable hwkit checkpoint" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_train_then_export(tmp_path):
    res = hwkit("train", "tfc", "--epochs", "2", "--out", str(tmp_path / "m.pt"))
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout
    res = hwkit("export", str(tmp_path / "m.pt"), "--out", str(tmp_path / "again.onnx"), "--strict")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "again.onnx").exists()


def test_help_is_there_for_newcomers():
    res = hwkit("--help")
    assert res.returncode == 0 and "train" in res.stdout and "export" in res.stdout
