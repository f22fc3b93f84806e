"""`hwkit build --top`: the board top with a bitstream (uart, default), or the IP itself (axis, core)
placed and routed out of context on ECP5."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwkit.build import BuildConfig
from hwkit.errors import ConfigError


@pytest.mark.parametrize("board,top,why", [("icebreaker", "axis", "ECP5 only"), ("ulx3s", "wishbone", "expected one of"),
                                           ("tang-nano-20k", "core", "ECP5 only")])
def test_top_refused_where_it_cannot_be_built(board, top, why):
    with pytest.raises(ConfigError, match=why):
        BuildConfig(board=board, top=top).validate()


def test_top_is_an_rtl_choice():
    with pytest.raises(ConfigError, match="hls4ml backend builds its own top"):
        BuildConfig(board="pynq-z1", backend="hls4ml", top="axis").validate()


@pytest.mark.slow
@pytest.mark.tools
def test_axis_top_routed_out_of_context(tmp_path):
    out = tmp_path / "b"
    r = subprocess.run([sys.executable, "-m", "hwkit.cli", "build", "--top", "axis", "--out", str(out)],
                       capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stderr[-2000:]
    stage = lambda name: json.loads(next(out.glob(f"*-{name}/stage.json")).read_text())["result"]  # noqa: E731
    syn, pnr, bit = stage("synthesize"), stage("place_route"), stage("bitstream")
    assert syn["top"] == "hwkit_axis" and syn["total"]["lut"] > 0
    assert pnr["fmax_mhz"] > 0
    assert bit["status"] == "not_applicable" and "no board pins" in bit["reason"]
