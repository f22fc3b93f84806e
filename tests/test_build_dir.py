"""Build directories fail closed: a folder hwkit did not write is refused (nothing deleted), a second
build on the same folder stops at once, a retrained model at the same path rebuilds, and an artefact
or record edited on disk is rebuilt instead of reused."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from hwkit.build import BuildConfig, Flow, Stage, default_flow, run_flow
from hwkit.errors import ConfigError

PRETRAINED = Path(__file__).resolve().parent.parent / "hwkit" / "pretrained"


def _tiny_flow():
    def write(ctx):
        (ctx.workdir / "a.txt").write_text("a\n")
        return {"summary": "wrote a"}
    return Flow([Stage("one", write), Stage("two", lambda ctx: {"n": 2})])


def _snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_non_empty_foreign_folder_is_refused_and_untouched(tmp_path):
    d = tmp_path / "thesis"
    (d / "00-one").mkdir(parents=True)
    (d / "00-one" / "chapter1.tex").write_text("years of work\n")
    (d / ".00-one.partial-1").mkdir()  # looks like a hwkit temporary; PID 1 is alive
    (d / ".00-one.partial-1" / "draft.txt").write_text("draft\n")
    (d / "manifest.json").write_text('{"my": "own manifest"}\n')
    before = _snapshot(d)
    with pytest.raises(ConfigError) as err:
        run_flow(_tiny_flow(), BuildConfig(), d)
    assert "not an hwkit build" in str(err.value) and "--overwrite" in str(err.value) and "\n" not in str(err.value)
    assert _snapshot(d) == before
    with pytest.raises(ConfigError, match="manifest.json was not written by hwkit"):  # overwrite: still not ours
        run_flow(_tiny_flow(), BuildConfig(), d, overwrite=True)
    assert _snapshot(d) == before
    (d / "manifest.json").unlink()
    with pytest.raises(ConfigError, match="00-one exists but was not written by hwkit"):
        run_flow(_tiny_flow(), BuildConfig(), d, overwrite=True)
    assert (d / "00-one" / "chapter1.tex").read_text() == "years of work\n"
    assert (d / ".00-one.partial-1" / "draft.txt").is_file()


def test_overwrite_builds_beside_foreign_files(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "notes.txt").write_text("keep me\n")
    ctx = run_flow(_tiny_flow(), BuildConfig(), d, overwrite=True)
    assert ctx.results["two"] == {"n": 2} and (d / "notes.txt").read_text() == "keep me\n"
    run_flow(_tiny_flow(), BuildConfig(), d)  # now an hwkit build: no option needed


def test_regular_file_as_build_dir_is_one_line(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_flow(_tiny_flow(), BuildConfig(), f)


SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hwkit.build import BuildConfig, Flow, Stage, run_flow

    def slow(ctx):
        time.sleep(60)
        return {}
    run_flow(Flow([Stage("slow", slow)]), BuildConfig(), Path(sys.argv[1]))
""")


def test_second_build_on_the_same_folder_fails_at_once(tmp_path):
    d = tmp_path / "race"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_BUILD)
    p = subprocess.Popen([sys.executable, str(script), str(d)], env={**os.environ},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # the running build is inside its stage (lock taken, partial stage folder made)
        while not ((d / ".hwkit.lock").exists() and list(d.glob(".00-slow.partial-*"))):
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        t0 = time.monotonic()
        with pytest.raises(ConfigError) as err:
            run_flow(_tiny_flow(), BuildConfig(), d)
        assert time.monotonic() - t0 < 5
        assert f"in use by another hwkit build (PID {p.pid})" in str(err.value) and "\n" not in str(err.value)
        assert list(d.glob(".00-slow.partial-*"))  # the running build's work was not deleted
    finally:
        p.kill()
        p.wait(30)
    # its lock is now stale (dead PID): taken over, the build runs and releases it
    ctx = run_flow(_tiny_flow(), BuildConfig(), d)
    assert ctx.results["two"] == {"n": 2} and not (d / ".hwkit.lock").exists()


def _model_flow():
    flow = default_flow("rtl")
    return Flow([s for s in flow if s.name in ("export", "lower", "generate")])


def test_retrained_model_at_the_same_path_rebuilds(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copyfile(PRETRAINED / "tfc_w2a2_digits.onnx", model)
    cfg = BuildConfig(model=str(model))
    first = run_flow(_model_flow(), cfg, tmp_path / "b")
    shutil.copyfile(PRETRAINED / "stable_w4a4_digits.onnx", model)  # "retrained" to the same path
    second = run_flow(_model_flow(), cfg, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"]] == [True, True, True]
    assert first.results["export"]["sha256"] != second.results["export"]["sha256"]
    assert first.results["lower"]["layers"] != second.results["lower"]["layers"]


def test_artefacts_edited_on_disk_are_rebuilt(tmp_path):
    d = tmp_path / "b"
    run_flow(_model_flow(), BuildConfig(), d)
    mem = sorted(next(d.glob("*-generate")).glob("w_*.mem"))[0]
    good = mem.read_bytes()
    mem.write_bytes(good.replace(b"0", b"f", 1))  # a tampered weight image
    lower_rec = next(d.glob("*-lower")) / "stage.json"
    rec = json.loads(lower_rec.read_text())
    rec["result"]["summary"] = "999 hardware layers"  # an edited record
    lower_rec.write_text(json.dumps(rec))
    out = io.StringIO()
    run_flow(_model_flow(), BuildConfig(), d, console=Console(file=out, width=200))
    log = out.getvalue()
    assert "= cached" in log.splitlines()[0] and "export" in log.splitlines()[0]
    assert sum("~ changed on disk, re-run" in line for line in log.splitlines()) == 2, log
    assert mem.read_bytes() == good and "999" not in lower_rec.read_text()
    out = io.StringIO()
    run_flow(_model_flow(), BuildConfig(), d, console=Console(file=out, width=200))
    assert out.getvalue().count("= cached") == 3
