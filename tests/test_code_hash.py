"""hwkit's own code keys every build stage (hwkit.builddir.code_hash): a build directory made by other
code re-runs its stages, an unchanged tree hits the cache."""
import json
import subprocess
import sys

from hwkit import builddir
from hwkit.build import BuildConfig, Flow, Stage, run_flow


def test_code_hash_is_stable_across_processes():
    cmd = [sys.executable, "-c", "from hwkit.builddir import code_hash; print(code_hash())"]
    first, second = (subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip() for _ in range(2))
    assert first == second == builddir.code_hash() and len(first) == 64


def test_hash_code_tree_sees_content_and_names_not_caches(tmp_path):
    src, hls = tmp_path / "pkg", tmp_path / "hls"
    (src / "sub").mkdir(parents=True)
    hls.mkdir()
    (src / "a.py").write_text("x = 1\n")
    (src / "sub" / "b.py").write_text("y = 2\n")
    (hls / "m.v").write_text("module m; endmodule\n")
    roots = {"hwkit": src, "hls": hls}
    base = builddir.hash_code_tree(roots)
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0junk")
    (src / "sub" / "b.pyc").write_bytes(b"\0junk")
    assert builddir.hash_code_tree(roots) == base          # bytecode is not code
    (hls / "m.v").write_text("module m; wire w; endmodule\n")
    changed = builddir.hash_code_tree(roots)
    assert changed != base                                 # an edited Verilog file
    (hls / "m.v").rename(hls / "n.v")
    assert builddir.hash_code_tree(roots) not in (base, changed)   # a renamed one


def test_changed_code_hash_reruns_stages(tmp_path, monkeypatch):
    runs = []

    def alpha(ctx):
        runs.append("alpha")
        (ctx.workdir / "a.txt").write_text("a\n")
        return {}

    def beta(ctx):
        runs.append("beta")
        (ctx.workdir / "b.txt").write_text(ctx.artefact("alpha", "a.txt").read_text() + "b\n")
        return {}

    flow = Flow([Stage("alpha", alpha), Stage("beta", beta)])
    cfg = BuildConfig(board="ulx3s")
    monkeypatch.setattr(builddir, "code_hash", lambda: "0" * 64)
    run_flow(flow, cfg, tmp_path / "b")
    run_flow(flow, cfg, tmp_path / "b")
    assert runs == ["alpha", "beta"]                       # unchanged code: both cached
    record = json.loads((tmp_path / "b" / "00-alpha" / "stage.json").read_text())
    assert record["inputs"]["code"] == "0" * 64
    monkeypatch.setattr(builddir, "code_hash", lambda: "1" * 64)
    run_flow(flow, cfg, tmp_path / "b")
    assert runs == ["alpha", "beta"] * 2                   # other code: every stage ran again
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["ran"] for s in manifest["stages"]] == [True, True]
