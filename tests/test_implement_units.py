"""Board wrapper and fit check without any tool: core.json parsing, generated parameters, errors."""
from __future__ import annotations

import pytest

from hwkit.errors import ConfigError, DoesNotFitError
from hwkit.implement import CoreShape, check_fit, part_resources
from hwkit.implement.wrapper import clocks_per_bit, wrapper_verilog

CORE_JSON = {  # the layout hwkit/backends/rtl writes (nested in/out)
    "in": {"bits": 8, "signed": False, "bipolar": False, "elems_per_beat": 8, "beats_per_sample": 8, "shape": [64]},
    "out": {"bits": 11, "signed": True, "bipolar": False, "elems_per_beat": 5, "beats_per_sample": 2, "shape": [10]},
}


def test_core_shape_from_nested_and_flat_json():
    s = CoreShape.from_json(CORE_JSON)
    assert (s.in_bits, s.in_signed, s.in_epb, s.in_beats, s.in_elems) == (8, False, 8, 8, 64)
    assert (s.out_bits, s.out_signed, s.out_epb, s.out_beats, s.out_elems) == (11, True, 5, 2, 10)
    flat = {"in_bits": 4, "in_signed": 1, "in_epb": 2, "in_beats": 3, "out_bits": 2, "out_signed": 0,
            "out_epb": 1, "out_beats": 1}
    assert CoreShape.from_json(flat) == CoreShape(4, True, 2, 3, 2, False, 1, 1)


def test_core_shape_errors_are_one_line():
    bad = {"in": dict(CORE_JSON["in"]), "out": dict(CORE_JSON["out"])}
    del bad["out"]["beats_per_sample"]
    with pytest.raises(ConfigError, match="missing 'out_beats'"):
        CoreShape.from_json(bad)
    bad = {"in": dict(CORE_JSON["in"], bits=200), "out": CORE_JSON["out"]}
    with pytest.raises(ConfigError, match="1..127"):
        CoreShape.from_json(bad)


def test_wrapper_binds_parameters_and_pll():
    s = CoreShape.from_json(CORE_JSON)
    v = wrapper_verilog(s, clk_hz=25_000_000, btn_active_low=True, led_active_low=True)
    for p in (".CLK_HZ(25000000)", ".BAUD(115200)", ".IN_BITS(8)", ".IN_EPB(8)", ".IN_BEATS(8)", ".OUT_BITS(11)",
              ".OUT_SIGNED(1)", ".OUT_EPB(5)", ".OUT_BEATS(2)", ".BTN_ACTIVE_LOW(1)", ".LED_ACTIVE_LOW(1)"):
        assert p in v
    assert "pll" not in v
    v = wrapper_verilog(s, clk_hz=100_000_000, pll=True)
    assert "pll u_pll (.clkin(clk), .clkout0(core_clk), .locked(locked));" in v and ".clk(core_clk)" in v
    with pytest.raises(ConfigError, match="too slow"):
        wrapper_verilog(s, clk_hz=300_000, baud=115200)
    assert clocks_per_bit(25_000_000, 115200) == 217 and clocks_per_bit(12_000_000, 115200) == 104


def test_fit_check_names_every_overused_resource():
    part = part_resources("ice40", "up5k")
    assert part["lut"] == 5280 and part["bram"] == 30
    ok = check_fit({"lut": 100, "ff": 200, "bram": 1, "dsp": 0}, "ice40", part, "iCE40UP5K")
    assert ok["lut"] == {"used": 200, "available": 5280}          # an LC holds one LUT and one FF
    with pytest.raises(DoesNotFitError) as err:
        check_fit({"lut": 90_000, "ff": 10, "bram": 300, "dsp": 2, "lutram": 10}, "ecp5",
                  part_resources("ecp5", "85k"), "LFE5U-85F")
    msg = str(err.value)
    assert "90,060 LUT4 but LFE5U-85F has 83,640" in msg and "300 DP16KD but LFE5U-85F has 208" in msg
    assert "MULT18X18D" not in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="no resource table"):
        part_resources("ecp5", "12k")


def test_retime_policy_only_for_a_missed_clock_the_flow_can_lower():
    from hwkit.implement.policy import TIMING_MARGIN, retime_limit_mhz, timing_missed

    assert retime_limit_mhz(False, 80.0, True) == pytest.approx(80.0 * TIMING_MARGIN)
    assert TIMING_MARGIN < 1
    assert retime_limit_mhz(True, 120.0, True) is None        # met: keep the clock
    assert retime_limit_mhz(False, 80.0, False) is None       # iCE40 / no PLL: nothing to lower
    assert retime_limit_mhz(False, None, True) is None        # no Fmax reported: nothing to aim at
    assert timing_missed(False, 80.0) and not timing_missed(True, 80.0) and not timing_missed(False, 0.0)


def test_seed_policy_retries_only_a_near_miss_and_keeps_the_fastest():
    from hwkit.implement.policy import SEED_NEAR, SEED_TRIES, best_seed, try_next_seed

    assert try_next_seed(False, 96.1, 100.0, 1)                    # a near miss: place again
    assert not try_next_seed(True, 106.0, 100.0, 1)                # met
    assert not try_next_seed(False, SEED_NEAR * 100.0 - 0.1, 100.0, 1)   # far off: lower the clock instead
    assert not try_next_seed(False, 99.0, 100.0, SEED_TRIES)       # out of tries
    assert not try_next_seed(False, None, 100.0, 1)                # no Fmax: nothing to compare
    assert best_seed({1: 96.1, 2: 101.2, 3: 99.0}) == 2
    assert best_seed({1: 98.0, 2: 98.0}) == 1                      # equals: the first


def test_nodsp_policy():
    from hwkit.implement.policy import nodsp_from_estimate, nodsp_retry

    assert nodsp_from_estimate("ecp5", 0) and not nodsp_from_estimate("ecp5", 3)
    assert not nodsp_from_estimate("ice40", 0)                # iCE40 synthesis has no such switch in the flow
    assert not nodsp_from_estimate("ecp5", None)              # no estimate: let yosys choose
    assert nodsp_retry("ecp5", 30, 28, False)
    assert not nodsp_retry("ecp5", 28, 28, False) and not nodsp_retry("ecp5", 30, 28, True)
    assert not nodsp_retry("ice40", 30, 8, False)
