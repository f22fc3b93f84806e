"""The stage runner with small real stages that write files: skip on unchanged inputs, re-run on changed
inputs, atomic stage directories, a build killed mid-stage resumes to the same result as an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hwkit.build import (BuildConfig, Flow, Stage, hash_tree, load_config, run_flow)
from hwkit.errors import BuildFailedError, ConfigError, DoesNotFitError

# Three stages: alpha writes numbers from the seed, beta sums them slowly (chunk by chunk, so it can be
# killed in the middle), gamma formats the result. Each appends its name to runs.log outside the build
# directory so tests can count executions.
STAGES = textwrap.dedent('''
    import json, os, sys, time
    from pathlib import Path
    from hwkit.build import BuildConfig, Flow, Stage, run_flow

    LOG = Path(sys.argv[2])

    def note(name):
        with open(LOG, "a") as f:
            f.write(name + "\\n")

    def alpha(ctx):
        note("alpha")
        import random
        rng = random.Random(ctx.config.seed)
        nums = [rng.randint(0, 999) for _ in range(200)]
        (ctx.workdir / "numbers.txt").write_text("\\n".join(map(str, nums)) + "\\n")
        return {"count": len(nums)}

    def beta(ctx):
        note("beta")
        nums = [int(x) for x in ctx.artefact("alpha", "numbers.txt").read_text().split()]
        delay = float(os.environ.get("MINI_FLOW_DELAY", "0"))  # not a build input
        with open(ctx.workdir / "partial_sums.txt", "w") as f:
            total = 0
            for i, n in enumerate(nums):
                total += n
                f.write(f"{total}\\n")
                f.flush()
                if i == 5:
                    (LOG.parent / "beta_started").write_text("1")
                time.sleep(delay)
        (ctx.workdir / "sum.json").write_text(json.dumps({"sum": total}))
        return {"sum": total}

    def gamma(ctx):
        note("gamma")
        total = json.loads(ctx.artefact("beta", "sum.json").read_text())["sum"]
        (ctx.workdir / "result.txt").write_text(f"sum={total}\\n")
        return {"summary": f"sum={total}"}

    FLOW = Flow([Stage("alpha", alpha), Stage("beta", beta), Stage("gamma", gamma)])

    if __name__ == "__main__":
        cfg = BuildConfig(board="ulx3s", seed=int(sys.argv[3]))
        run_flow(FLOW, cfg, Path(sys.argv[1]))
''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "mini_flow.py"
    path.write_text(STAGES)
    return path


def _run(script, build_dir, log, seed=1, delay=0.0, **kw):
    env = {**os.environ, "MINI_FLOW_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, str(script), str(build_dir), str(log), str(seed)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _stage_hashes(build_dir):
    return {d.name: hash_tree(d) for d in sorted(Path(build_dir).iterdir()) if d.is_dir() and not d.name.startswith(".")}


def _runs(log):
    return log.read_text().split() if log.exists() else []


def test_rerun_skips_finished_stages(script, tmp_path):
    log = tmp_path / "runs.log"
    assert _run(script, tmp_path / "b", log).wait(60) == 0
    assert _runs(log) == ["alpha", "beta", "gamma"]
    first = _stage_hashes(tmp_path / "b")
    assert _run(script, tmp_path / "b", log).wait(60) == 0
    assert _runs(log) == ["alpha", "beta", "gamma"]  # nothing ran again
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"]] == [False, False, False]
    assert _stage_hashes(tmp_path / "b") == first
    record = json.loads((tmp_path / "b" / "01-beta" / "stage.json").read_text())
    assert record["status"] == "ok" and record["result"]["sum"] > 0
    assert "stage:alpha" in record["inputs"] and record["artefacts"]["sum.json"]


def test_changed_input_reruns_downstream(script, tmp_path):
    log = tmp_path / "runs.log"
    assert _run(script, tmp_path / "b", log, seed=1).wait(60) == 0
    before = json.loads((tmp_path / "b" / "02-gamma" / "stage.json").read_text())["result"]["summary"]
    assert _run(script, tmp_path / "b", log, seed=2).wait(60) == 0
    assert _runs(log) == ["alpha", "beta", "gamma"] * 2
    after = (tmp_path / "b" / "02-gamma" / "result.txt").read_text().strip()
    assert after != before and after.startswith("sum=")
    assert not list((tmp_path / "b").glob(".*"))  # no partial or stale directories left


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_build_resumes_to_same_result(script, tmp_path, sig):
    log = tmp_path / "runs.log"
    proc = _run(script, tmp_path / "b", log, delay=0.02, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "beta_started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    proc.wait(30)
    assert proc.returncode != 0
    build = tmp_path / "b"
    # nothing of beta looks complete: no final directory, no record, manifest lists alpha only
    assert (build / "00-alpha" / "stage.json").exists()
    assert not (build / "01-beta").exists() and not (build / "02-gamma").exists()
    assert not list(build.rglob("sum.json"))
    manifest = json.loads((build / "manifest.json").read_text())
    assert [s["name"] for s in manifest["stages"] if s["status"] == "ok"] == ["alpha"]
    if sig == signal.SIGTERM:  # a catchable signal also removes the partial directory
        assert not list(build.glob(".*partial*"))

    assert _run(script, build, log, delay=0.0).wait(60) == 0
    assert _runs(log) == ["alpha", "beta", "beta", "gamma"]  # alpha was not redone
    assert not list(build.glob(".*"))
    assert _run(script, tmp_path / "clean", tmp_path / "clean.log", delay=0.0).wait(60) == 0
    assert _stage_hashes(build) == _stage_hashes(tmp_path / "clean")


def _writer(name, text):
    def fn(ctx):
        (ctx.workdir / f"{name}.txt").write_text(text)
        return {"summary": text}
    return fn


def test_failed_stage_leaves_nothing_complete(tmp_path):
    def broken(ctx):
        (ctx.workdir / "half.txt").write_text("half")
        raise RuntimeError("tool crashed\nwith a second line")

    flow = Flow([Stage("a", _writer("a", "x")), Stage("b", broken), Stage("c", _writer("c", "y"))])
    with pytest.raises(BuildFailedError) as exc:
        run_flow(flow, BuildConfig(), tmp_path / "b")
    assert "stage 'b' failed" in str(exc.value) and "\n" not in str(exc.value)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["00-a", "manifest.json"]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["stages"][-1]["status"] == "failed" and "tool crashed" in manifest["stages"][-1]["error"]
    flow.replace("b", Stage("b", _writer("b", "fixed")))
    run_flow(flow, BuildConfig(), tmp_path / "b")
    assert (tmp_path / "b" / "01-b" / "b.txt").read_text() == "fixed"
    assert (tmp_path / "b" / "02-c" / "c.txt").read_text() == "y"


def test_failed_tool_log_is_kept_and_named(tmp_path):
    """A tool that fails writes its log inside the stage's partial directory, which is removed: the log
    is kept under failed/<stage>/, the one-line error names that copy, and a later success clears it."""
    from hwkit.tools.base import run_tool

    def crashing_tool(ctx):
        run_tool([sys.executable, "-c", "print('tool says why'); raise SystemExit(3)"],
                 log=ctx.workdir / "logs" / "tool.log", stage="crashing tool")

    flow = Flow([Stage("a", _writer("a", "x")), Stage("b", crashing_tool)])
    with pytest.raises(BuildFailedError) as exc:
        run_flow(flow, BuildConfig(), tmp_path / "b")
    kept = tmp_path / "b" / "failed" / "01-b" / "logs" / "tool.log"
    assert f"(log: {kept})" in str(exc.value) and "\n" not in str(exc.value)
    assert "tool says why" in kept.read_text()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["00-a", "failed", "manifest.json"]
    flow.replace("b", Stage("b", _writer("b", "fixed")))
    run_flow(flow, BuildConfig(), tmp_path / "b")
    assert not (tmp_path / "b" / "failed").exists()


def test_hwkit_errors_propagate_unchanged(tmp_path):
    def too_big(ctx):
        raise DoesNotFitError("needs 90000 LUT, board has 83640")

    with pytest.raises(DoesNotFitError):
        run_flow(Flow([Stage("fit", too_big)]), BuildConfig(), tmp_path / "b")
    assert not (tmp_path / "b" / "00-fit").exists()


def test_user_stage_inserted_and_stage_version_invalidates(tmp_path):
    flow = Flow([Stage("a", _writer("a", "1")), Stage("c", _writer("c", "3"))])
    flow.insert_after("a", Stage("mine", _writer("mine", "2")))
    ctx = run_flow(flow, BuildConfig(), tmp_path / "b")
    assert [p.name for p in sorted((tmp_path / "b").iterdir()) if p.is_dir()] == ["00-a", "01-mine", "02-c"]
    assert ctx.results["mine"] == {"summary": "2"}
    flow.replace("mine", Stage("mine", _writer("mine", "two"), version=2))
    run_flow(flow, BuildConfig(), tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"]] == [False, True, True]
    with pytest.raises(ConfigError):
        flow.insert_before("nope", Stage("x", _writer("x", "")))


def test_config_yaml_validation(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("board: icebreaker\nbackend: rtl\ntarget_fps: 1000\nseed: 3\n")
    cfg = load_config(good)
    assert (cfg.board, cfg.backend, cfg.target_fps, cfg.seed) == ("icebreaker", "rtl", 1000, 3)
    cases = {
        "board: nosuchboard\n": "unknown board 'nosuchboard'",
        "backend: vhdl\n": "'backend'",
        "target_fps: -5\n": "'target_fps'",
        "seed: abc\n": "'seed'",
        "boards: ulx3s\n": "unknown field 'boards'",
        "board: [ulx3s\n": "not valid YAML",
        "- a\n- b\n": "expected a mapping",
    }
    for text, needle in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_config(bad)
        assert needle in str(exc.value) and "\n" not in str(exc.value), (text, str(exc.value))


def test_declared_deps_limit_reruns(tmp_path):
    calls = []

    def counting(name, text):
        def fn(ctx):
            calls.append(name)
            (ctx.workdir / f"{name}.txt").write_text(text)
            return {}
        return fn

    def flow(a_text):  # a new version of stage a writes other bytes
        return Flow([Stage("a", counting("a", a_text), version=int(a_text)), Stage("b", counting("b", "b"), deps=()),
                     Stage("c", counting("c", "c"), deps=("a",))])

    run_flow(flow("1"), BuildConfig(), tmp_path / "b")
    run_flow(flow("2"), BuildConfig(), tmp_path / "b")
    assert calls == ["a", "b", "c", "a", "c"]  # b reads nothing of a: kept
    with pytest.raises(ConfigError):
        run_flow(Flow([Stage("x", counting("x", ""), deps=("later",)), Stage("later", counting("l", ""))]),
                 BuildConfig(), tmp_path / "c")


@pytest.mark.parametrize("field,value", [("target_fps", float("inf")), ("target_fps", 1e-320),
                                         ("target_fps", float("nan")), ("clock_mhz", 0), ("n_vectors", True),
                                         ("n_vectors", -1), ("seed", 1.5), ("target_fps", True)])
def test_build_config_numbers_are_finite_and_in_range(field, value):
    from hwkit.build import BuildConfig
    from hwkit.errors import ConfigError

    with pytest.raises(ConfigError, match=f"field '{field}'"):
        BuildConfig(**{field: value}).validate()


def test_report_refuses_a_manifest_that_points_outside_the_build(tmp_path):
    import json

    from hwkit.errors import ConfigError
    from hwkit.report import collect

    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "stage.json").write_text(json.dumps({"status": "ok", "result": {"summary": "not ours"}}))
    build = tmp_path / "b"
    build.mkdir()
    (build / "manifest.json").write_text(json.dumps({"stages": [{"name": "export", "dir": "../secret"}]}))
    with pytest.raises(ConfigError, match="not a stage of this build"):
        collect(build)


def test_a_full_disk_is_one_line_and_the_build_stays_resumable(tmp_path, monkeypatch):
    """The stage fails with ENOSPC, and so does everything the failure handler would write (its logs'
    copy, the manifest record): the user still sees the stage's own error, naming the folder."""
    import errno

    import hwkit.build as b

    def full(ctx):
        (ctx.workdir / "tool.log").write_text("partial log")
        raise OSError(errno.ENOSPC, "No space left on device")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    flow = Flow([Stage("a", _writer("a", "x")), Stage("b", full)])
    monkeypatch.setattr(b, "_keep_failed_logs", no_space)
    monkeypatch.setattr(b, "_record_failure", no_space)
    with pytest.raises(BuildFailedError) as exc:
        run_flow(flow, BuildConfig(), tmp_path / "b")
    assert str(exc.value) == (f"stage 'b' failed: no space left under {tmp_path / 'b'}; free some and rerun "
                              "(finished stages are kept)")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["00-a", "manifest.json"]
    monkeypatch.undo()
    flow.replace("b", Stage("b", _writer("b", "room again")))
    ctx = run_flow(flow, BuildConfig(), tmp_path / "b")
    assert (tmp_path / "b" / "01-b" / "b.txt").read_text() == "room again"
    assert ctx.results["a"]["summary"] == "x"


def test_stage_directories_of_an_earlier_flow_are_removed_only_when_hwkit_wrote_them(tmp_path):
    d = tmp_path / "b"
    run_flow(Flow([Stage("a", _writer("a", "x")), Stage("b", _writer("b", "y")), Stage("c", _writer("c", "z"))]),
             BuildConfig(), d)
    (d / "05-mine").mkdir()
    (d / "05-mine" / "notes.txt").write_text("the user's")
    run_flow(Flow([Stage("a", _writer("a", "x")), Stage("x", _writer("x", "new")), Stage("b", _writer("b", "y")),
                   Stage("c", _writer("c", "z"))]), BuildConfig(), d)
    assert sorted(p.name for p in d.iterdir()) == ["00-a", "01-x", "02-b", "03-c", "05-mine", "manifest.json"]
    assert (d / "05-mine" / "notes.txt").read_text() == "the user's"


def test_grid_vectors_fit_the_cosim_budget():
    """1,000 random grid vectors unless the test data plus the grid would simulate more than the cosim
    cycle budget; an explicit n_vectors always wins; never fewer than 8."""
    from hwkit.stages.model import COSIM_CYCLE_BUDGET, GRID_VECTORS, MIN_GRID_VECTORS, grid_vectors

    assert grid_vectors(0, 64, 360) == GRID_VECTORS == 1000              # the default model
    assert grid_vectors(0, 451_584, 0) == 1000                           # CNV W1A1 keeps its 1,000
    n = grid_vectors(0, 28_901_376, 0)                                   # CNV W2A2 at its slowest folding
    assert n == COSIM_CYCLE_BUDGET // 28_901_376 == 17 and n * 28_901_376 <= COSIM_CYCLE_BUDGET
    assert grid_vectors(0, 1_000_000, 400) == 100                        # the test data counts against it
    assert grid_vectors(0, 10**9, 0) == MIN_GRID_VECTORS == 8
    assert grid_vectors(5, 10**9, 0) == 5 and grid_vectors(3000, 64, 0) == 3000
    assert grid_vectors(0, None, 0) == 1000                              # no cycle model: the default
