"""hwkit search: space, fronts, resumption (a stand-in point function keeps these fast), and one
real tiny search end to end (slow)."""
import json
import subprocess
import sys

import pytest

from hwkit.errors import ConfigError
from hwkit.search import SearchConfig, search
from hwkit.search import front as fr
from hwkit.search import space

TINY = SearchConfig(wmenu=(2, 4), amenu=(2, 3), epochs=1, seeds=2, max_candidates=4, synth_points=2, pnr_points=1)


def fake_task(phase, point, fps, root, stages=()):
    """A point without training or tools: LUTs grow with widths, accuracy saturates with them."""
    w, a = list(point.wbits), list(point.abits)
    acc = 1.0 - 0.4 / (sum(w) + 2 * sum(a)) - 0.01 * (point.seed % 2) - 0.02 * (w[0] == 2)
    rec = {"phase": phase, "wbits": w, "abits": a, "seed": point.seed, "epochs": point.epochs,
           "test_accuracy": acc, "status": "ok", "variants": []}
    for target in fps:
        lut = 1000 * sum(w) + 700 * sum(a) // (2 if target else 1)
        v = {"target_fps": target, "status": "ok", "lut": lut, "ff": lut // 2, "bram": sum(w) // 2, "dsp": 0,
             "ii_cycles": 64 * (4 if target else 1), "fps": 1e8 / (64 * (4 if target else 1)), "accuracy_golden": acc}
        if "synthesize" in stages:
            v["synth"] = {"lut": int(lut * 0.97), "ff": lut // 2, "bram": sum(w) // 2, "dsp": 0}
        if "place_route" in stages:
            v["fmax_mhz"] = 61.5
        rec["variants"].append(v)
    return rec


def test_sensitivity_widths_and_pruned_candidates():
    sens = space.sensitivity_widths(TINY)
    assert sens[0] == ("base", (4, 4, 4, 4), (3, 3, 3))
    assert ("w1", (4, 2, 4, 4), (3, 3, 3)) in sens and ("a2", (4, 4, 4, 4), (3, 3, 2)) in sens
    assert len(sens) == 1 + 4 + 3
    assert space.allowed(0.001, (1, 2, 3, 4), 0.01) == (1, 2)
    assert space.allowed(0.02, (1, 2, 3, 4), 0.01) == (2, 3)
    assert space.allowed(0.2, (1, 2, 3, 4), 0.01) == (3, 4)
    cands = space.candidates(SearchConfig(max_candidates=5), {"w0": 0.2, "a0": 0.0})
    uniform = [c for c in cands if space.is_uniform(*c)]
    assert len(uniform) == 4 * 3 and len(cands) == 12 + 5
    assert all(c[0][0] in (3, 4) and c[1][0] in (2, 3) for c in cands if not space.is_uniform(*c))
    assert cands == space.candidates(SearchConfig(max_candidates=5), {"w0": 0.2, "a0": 0.0})


def test_pareto_front_is_the_staircase_of_non_dominated_points():
    items = [{"lut": 1, "accuracy": 0.5}, {"lut": 2, "accuracy": 0.4}, {"lut": 3, "accuracy": 0.9},
             {"lut": 3, "accuracy": 0.8}, {"lut": 5, "accuracy": 0.95}]
    assert [(r["lut"], r["accuracy"]) for r in fr.pareto(items, "lut")] == [(1, 0.5), (3, 0.9), (5, 0.95)]
    fast = [{"fps": 10, "accuracy": 0.9}, {"fps": 100, "accuracy": 0.5}, {"fps": 50, "accuracy": 0.4}]
    assert [r["fps"] for r in fr.pareto(fast, "fps")] == [100, 10]


def test_bad_search_config_is_a_config_error():
    with pytest.raises(ConfigError, match="takes no per-layer widths"):
        SearchConfig(model="stable_mlp").check()
    with pytest.raises(ConfigError, match="wmenu must list bit widths in 1..8"):
        SearchConfig(wmenu=(0, 2)).check()


def test_throughput_targets_mean_what_the_help_says():
    """'max' must reach the build as the fastest-that-fits request, not as the default folding (it once
    did: the search's 'max' was None, which the build folds by default)."""
    from hwkit.cli import _fps_targets
    from hwkit.dse import SweepPoint

    assert _fps_targets("") == [None]
    assert _fps_targets("default, max,2e5") == [None, "max", 200000.0]
    with pytest.raises(ConfigError):
        _fps_targets("fastest")
    assert SweepPoint(target_fps="max").name.endswith("-ulx3s-fpsmax")
    assert SweepPoint(target_fps=200000.0).name.endswith("-ulx3s-fps200000")
    assert "fps" not in SweepPoint().name
    with pytest.raises(ConfigError):
        SearchConfig(fps=("fastest",)).check()
    recs = {"p": {"phase": "candidate", "wbits": [2], "abits": [2], "seed": 0, "test_accuracy": 0.9,
                  "variants": [{"target_fps": t, "status": "ok", "lut": 1, "ff": 1, "bram": 0, "dsp": 0, "fps": 1.0,
                                "ii_cycles": 1} for t in (None, "max", 2e5)]}}
    assert [r["id"] for r in fr.rows(recs)] == ["W2 A2", "W2 A2 @200000/s", "W2 A2 @max"]


def test_stopped_search_resumes_without_recomputing_finished_points(tmp_path):
    first = search(TINY, tmp_path, n_workers=2, processes=False, progress=False, stop_after=5, task=fake_task,
                   html=False)
    assert first["stopped"] == "stop_after" and len(first["computed"]) == 5
    stored = json.loads((tmp_path / "search.json").read_text())["points"]
    assert set(first["computed"]) == set(stored)
    second = search(TINY, tmp_path, n_workers=2, processes=False, progress=False, task=fake_task, html=False)
    assert second["stopped"] is None
    assert not set(second["computed"]) & set(first["computed"])
    final = json.loads((tmp_path / "search.json").read_text())
    for key, rec in stored.items():  # finished points are kept as they were
        assert final["points"][key] == rec
    # a third run finds everything done
    third = search(TINY, tmp_path, n_workers=2, processes=False, progress=False, task=fake_task)
    assert third["computed"] == [] and third["points"] == len(final["points"])
    phases = {r["phase"] for r in final["points"].values()}
    assert phases == {"sensitivity", "candidate", "seed", "synth"}
    summary = final["config"]["summary"]
    assert summary["fronts"]["lut"] and summary["synth"] and summary["synth"][0]["synth"]["lut"] > 0
    assert any(s["fmax_mhz"] == 61.5 for s in summary["synth"])
    front = [r for r in summary["rows"] if r["id"] in summary["fronts"]["lut"]]
    assert all(r["seeds"] == 2 and r["accuracy_std"] is not None for r in front)
    html = (tmp_path / "search.html").read_text()
    assert "Mixed against uniform" in html and "data:image/png;base64," in html
    assert (tmp_path / "front.png").stat().st_size > 5000


@pytest.mark.slow
def test_real_tiny_search_then_killed_cli_resumes(tmp_path):
    """Real QAT and estimates on a local dask cluster; the CLI killed mid-run keeps finished points."""
    import signal
    import time

    args = [sys.executable, "-m", "hwkit.cli", "search", "tfc", "--wbits", "2,4", "--abits", "2", "--epochs", "1",
            "--seeds", "2", "--candidates", "1", "--synth-points", "0", "--pnr-points", "0", "--out", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    path = tmp_path / "search.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and len(json.loads(path.read_text())["points"]) >= 2:
            break
        time.sleep(0.5)
    import os

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = json.loads(path.read_text())["points"]
    assert len(before) >= 2
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    after = json.loads(path.read_text())
    assert all(after["points"][k] == v for k, v in before.items())
    rows = after["config"]["summary"]["rows"]
    assert rows and all(0.0 < r["accuracy"] <= 1.0 and r["lut"] > 0 for r in rows)
    assert (tmp_path / "search.html").is_file()
