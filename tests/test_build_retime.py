"""The rtl backend's timing re-closure is its own stage: with stand-in tools (fast, no yosys/nextpnr),
a missed PLL clock is re-synthesized and routed in the retime stage's directory, the earlier stages'
directories stay as they were, and the bitstream and the report's clock come from the re-closure."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwkit.build import BuildConfig, Stage, default_flow, hash_tree, run_flow
from hwkit.tools import nextpnr, pack, yosys
from hwkit.tools.nextpnr import PnrResult
from hwkit.tools.yosys import SynthResult

FMAX = 90.0


@pytest.fixture
def fake_tools(monkeypatch):
    def synthesize(sources, top, workdir, family, *, data_files=(), timeout=0, extra_synth_args="", **kw):
        wrapper = Path(workdir) / "hwkit_board.v"
        clk = next(line for line in wrapper.read_text().splitlines() if "CLK_HZ" in line).strip()
        # a yosys JSON netlist with no cells: the flow's netlist passes read it
        (Path(workdir) / f"{top}.json").write_text(json.dumps({"creator": f"netlist {clk}",
                                                              "modules": {top: {"ports": {}, "cells": {}}}}))
        return SynthResult(family, top, lut=100, ff=100, netlist=Path(workdir) / f"{top}.json")

    def place_and_route(netlist, workdir, family, *, freq_mhz, **kw):
        out = Path(workdir) / "routed.config"
        out.write_text(f"routed at {freq_mhz:g} from {Path(netlist).read_text()}")
        return PnrResult(family, {"clk": FMAX}, float(freq_mhz), {}, 0.0, out, output=out)

    def ecp5_pll(workdir, osc, request, module="pll"):
        (Path(workdir) / "pll.v").write_text(f"// pll {request:g}\n")
        return Path(workdir) / "pll.v", float(request)

    def do_pack(routed, bitstream, family, **kw):
        shutil.copyfile(routed, bitstream)
        return SimpleNamespace(bitstream=Path(bitstream), bytes=Path(bitstream).stat().st_size)

    monkeypatch.setattr(yosys, "synthesize", synthesize)
    monkeypatch.setattr(yosys, "instance_stats", lambda *a, **k: {})
    monkeypatch.setattr(yosys, "version", lambda: "fake")
    monkeypatch.setattr(nextpnr, "place_and_route", place_and_route)
    monkeypatch.setattr(nextpnr, "version", lambda family: "fake")
    monkeypatch.setattr(pack, "ecp5_pll", ecp5_pll)
    monkeypatch.setattr(pack, "pack", do_pack)
    monkeypatch.setattr(pack, "version", lambda family: "fake")


def test_missed_clock_is_reclosed_in_its_own_stage(fake_tools, tmp_path):
    flow = default_flow("rtl")
    flow.replace("cosim", Stage("cosim", lambda ctx: {"bit_exact": None}, deps=("generate",)))
    d = tmp_path / "b"
    ctx = run_flow(flow, BuildConfig(), d)  # ulx3s asks for 100 MHz; the stand-in routes at most 90
    pr, rt = ctx.results["place_route"], ctx.results["retime"]
    assert pr["timing_met"] is False and pr["clock"]["achieved_mhz"] == 100
    # 90 of 100 MHz is a near miss: three placement seeds before the clock is lowered
    assert "placement seeds 1: 90.0, 2: 90.0, 3: 90.0 MHz; kept 1" in pr["notes"]
    assert rt["timing_met"] is True and rt["clock"] == {"requested_mhz": 100.0, "achieved_mhz": 81.0,
                                                        "source": "timing re-closure", "pll": True,
                                                        "schema_version": 1}
    bit = next(d.glob("*-bitstream/ulx3s.bit")).read_text()
    assert bit.startswith('routed at 81 from {"creator": "netlist') and "81000000" in bit  # the UART divider followed
    for stage in ("synthesize", "place_route"):  # nothing written into earlier stages' directories
        sdir = next(d.glob(f"*-{stage}"))
        assert hash_tree(sdir) == json.loads((sdir / "stage.json").read_text())["artefacts"]
    assert "routed at 100" in (next(d.glob("*-place_route")) / "routed.config").read_text()
    report = json.loads(next(d.glob("*-report/report.json")).read_text())
    assert report["summary"]["clock_mhz"] == 81 and report["summary"]["fmax_mhz"] == FMAX


def test_met_clock_needs_no_reclosure(fake_tools, tmp_path):
    flow = default_flow("rtl")
    flow.replace("cosim", Stage("cosim", lambda ctx: {"bit_exact": None}, deps=("generate",)))
    d = tmp_path / "b"
    ctx = run_flow(flow, BuildConfig(clock_mhz=50), d)
    assert ctx.results["retime"]["status"] == "not_applicable" and "timing met" in ctx.results["retime"]["reason"]
    assert next(d.glob("*-bitstream/ulx3s.bit")).read_text().startswith("routed at 50")
    assert json.loads(next(d.glob("*-report/report.json")).read_text())["summary"]["clock_mhz"] == 50
