"""Analytic estimator (hand-computed values from FINN-R's formulas) and the report: report.json schema,
self-contained HTML opened in headless Chromium (screenshot + DOM)."""
import base64
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hwkit.boards import load_board
from hwkit.build import BuildConfig, Flow, Stage, run_flow
from hwkit.errors import DoesNotFitError
from hwkit.backends import estimate_graph
from hwkit.estimate import bram_blocks, check_fit
from hwkit.ir.graph import MVU, FloatTail, Folding, HwGraph, Stream, Threshold
from hwkit.ir.types import IntType


def small_graph(mh=16, mw=64, pe=2, simd=4):
    """in(uint8 x64) -> MVU(int2 weights) -> acc -> Threshold(3 levels) -> uint2 -> MVU(10) -> tail."""
    rng = np.random.default_rng(0)
    u8, i2, u2 = IntType(8, False), IntType(2, True), IntType(2, False)
    acc1, acc2 = IntType(12, True), IntType(8, True)
    streams = {
        "x": Stream("x", (mw,), u8), "a1": Stream("a1", (mh,), acc1), "h1": Stream("h1", (mh,), u2),
        "a2": Stream("a2", (10,), acc2), "y": Stream("y", (10,), acc2),
    }
    layers = [
        MVU("fc1", ["x"], ["a1"], weights=rng.integers(-2, 2, (mh, mw)), wtype=i2, acc=acc1, folding=Folding(pe, simd)),
        Threshold("act1", ["a1"], ["h1"], thresholds=np.sort(rng.integers(-50, 50, (mh, 3)), axis=1),
                  folding=Folding(pe, 1)),
        MVU("fc2", ["h1"], ["a2"], weights=rng.integers(-2, 2, (10, mh)), wtype=i2, acc=acc2, folding=Folding(1, 2)),
        FloatTail("tail", ["a2"], ["y"], scale=0.25),
    ]
    return HwGraph("small", streams, layers, ["x"], ["a2"])  # as lowering does: the integer stream before the tail


def test_bram_blocks_hand_computed():
    assert bram_blocks(1024, 16, "ecp5") == 1  # one DP16KD as 1024 x 18
    assert bram_blocks(4096, 8, "ecp5") == 2  # 4096 x 4 twice, or 2048 x 9 twice
    assert bram_blocks(512, 16, "ice40") == 2  # SB_RAM40_4K: 512 x 8 twice
    assert bram_blocks(2048, 16, "zynq7000") == 2  # FINN: ceil(2048/1024) * ceil(16/18)
    assert bram_blocks(100, 72, "ecp5") == 2  # 512 x 36 twice


def test_mvu_estimate_hand_computed():
    g = small_graph()
    # HLS backends: FINN-R. LUT6 family with the HLS constant reproduces FINN's own numbers
    xil = estimate_graph(g, load_board("pynq-z1"), backend="hls4ml")
    fc1 = xil["layers"][0]
    assert xil["method"] == "finn-r"
    assert fc1["lut"] == int(300 + 1.1 * 2 * (4 * (2 * 2 - 1) * 10 + 70 + 12))
    assert fc1["cycles"] == (16 // 2) * (64 // 4)  # FINN get_exp_cycles
    assert fc1["bram"] == 0.5  # one RAMB18 = half a 36 Kb block
    assert fc1["dsp"] == 0  # a 2-bit operand: shift-and-add in LUTs


def test_rtl_estimate_follows_the_generated_plan():
    from hwkit.backends.rtl.plan import build_plan

    g = small_graph()
    est = estimate_graph(g, load_board("ulx3s"), backend="rtl")
    assert est["method"] == "rtl-plan"
    plan = build_plan(g, folding={"fc1": (2, 4), "fc2": (1, 2)})
    assert [r["name"] for r in est["layers"]] == [info.name for info in plan.layers] == ["fc1", "act1", "fc2"]
    fc1 = est["layers"][0]
    assert fc1["cycles"] == (16 // 2) * (64 // 4) and (fc1["pe"], fc1["simd"]) == (2, 4)
    # 128 words x 16 bits of weights: one DP16KD (cost 128) beats ~205 LUTs by the table rule
    # (hwkit.estimate.memory.rom_home), and the estimate follows the plan
    assert fc1["bram"] == 1 and fc1["dsp"] == 0
    assert plan.layers[0].rom["block"] is True
    # every instance of the plan is costed once: layers own their feeds, the wrapper the core's I/O FIFOs
    modules = sorted(m for r in est["layers"] + [est["wrapper"]] for m in r["modules"])
    assert modules == sorted([i.module for i in plan.insts] + ["board_top"])
    for key in ("lut", "ff", "bram", "lutram", "dsp"):
        assert est["total"][key] == sum(r[key] for r in est["layers"]) + est["wrapper"][key]
    # a Xilinx board synthesizes the bare core: no board top
    assert "board_top" not in estimate_graph(g, load_board("pynq-z1"), backend="rtl")["wrapper"]["modules"]


def test_does_not_fit_is_one_line():
    board = load_board("icebreaker")
    est = estimate_graph(small_graph(mh=64, mw=64, pe=64, simd=64), board)
    with pytest.raises(DoesNotFitError) as exc:
        check_fit(est, board)
    msg = str(exc.value)
    assert "icebreaker" in msg and "logic cells" in msg and "\n" not in msg
    check_fit(estimate_graph(small_graph(), load_board("ulx3s")), load_board("ulx3s"))


# ---- report --------------------------------------------------------------------------------------

def _report_flow(graph):
    """The report's input records from stages that compute them on a hand-made graph (no lowering)."""
    from hwkit import stages as s

    def export(ctx):
        return {"model": "small", "source": "hand-made", "sha256": "0" * 64}

    def golden(ctx):
        return {"accuracy_software": 0.95, "accuracy_golden": 0.95, "test_samples": 360, "ii_cycles": 128,
                "latency_cycles": 180, "layer_cycles": {"fc1": 128, "act1": 8, "fc2": 80}}

    def est(ctx):
        ctx.cache["board"] = load_board(ctx.config.board)
        ctx.cache["graph"] = graph
        return s.estimate(ctx)

    def cos(ctx):
        return {"bit_exact": True, "mismatches": 0, "vectors": 10360, "accuracy_hw_sim": 0.95, "reference": "golden"}

    flow = Flow([Stage("export", export), Stage("lower", lambda ctx: {}), Stage("golden_sim", golden),
                 Stage("estimate", est), Stage("generate", lambda ctx: {"folding": {"fc1": [2, 4]}}),
                 Stage("cosim", cos), Stage("report", s.report)])
    return flow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("b")
    ctx = run_flow(_report_flow(small_graph()), BuildConfig(board="ulx3s"), d)
    from hwkit.stages import publish_report

    publish_report(d, ctx)
    return d


def test_report_json_schema(built):
    r = json.loads((built / "report.json").read_text())
    assert r["schema"] == "hwkit.report/1"
    assert set(r) == {"schema", "model", "board", "backend", "summary", "layers", "resources", "throughput", "stages",
                      "tools", "artefacts"}
    s = r["summary"]
    assert s["ii_cycles"] == 128 and s["clock_mhz"] == 100
    assert s["throughput_fps"] == pytest.approx(100e6 / 128)
    assert s["latency_us"] == pytest.approx(1.8)
    assert s["bit_exact"] is True and s["fmax_mhz"] is None
    assert [row["name"] for row in r["layers"]] == ["fc1", "act1", "fc2"]
    assert r["layers"][0]["cycles"] == 128 and r["layers"][0]["synthesized"] is None
    assert r["resources"]["available"]["lut"] == 83640
    doc = (Path(__file__).parent.parent / "hwkit" / "report" / "SCHEMA.md").read_text()
    for key in list(r["summary"]) + list(r) + list(r["layers"][0]):  # every key is documented
        assert f"`{key}`" in doc, key


def test_report_html_self_contained(built):
    html = (built / "report.html").read_text()
    assert "<script" not in html and not re.search(r'(src|href)="(?!data:|#)', html)
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) == 2 and all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_report_rerender_is_deterministic(built):
    from hwkit.report import write_report

    before = (built / "report.html").read_bytes(), (built / "report.json").read_bytes()
    write_report(built)
    assert ((built / "report.html").read_bytes(), (built / "report.json").read_bytes()) == before


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("headless Chromium not installed (Debian package 'chromium')")
    return exe


def test_report_opens_in_chromium(built, tmp_path):
    exe = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        flags = CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]
        dom = subprocess.run([exe, *flags, "--dump-dom", (built / "report.html").as_uri()], capture_output=True,
                             text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        shot = tmp_path / "report.png"
        proc = subprocess.run([exe, *flags, f"--screenshot={shot}", "--window-size=1200,1600",
                               (built / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'id="summary"' in dom.stdout and "bit-exact vs golden" in dom.stdout and "yes, 0 / 10360" in dom.stdout
    assert "fc1" in dom.stdout and "Utilization" in dom.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000
