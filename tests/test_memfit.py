"""Memory placement (one rule for the RTL plan and the estimate), folding that weighs block RAMs, and
the fastest folding that fits (``target_fps: max``)."""
from __future__ import annotations

import pytest

from hwkit.estimate.memory import rom_home
from hwkit.ir.folding import _pick, fastest, fold, reachable_cycles


@pytest.mark.parametrize("depth,width,family,home", [
    (8, 22440, "ecp5", "logic"),    # a float-BatchNorm threshold table: 624 DP16KD otherwise
    (8, 22440, "xilinx", "logic"),
    (64, 208, "ecp5", "bram"),      # 13 Kbit read 208 bits at a time: 6 blocks beat ~1,330 LUTs
    (64, 128, "ecp5", "bram"),      # the default model's weight tables: 4 blocks, ~820 LUTs in logic
    (64, 6, "ecp5", "logic"),
    (16, 896, "ecp5", "logic"),     # 25 blocks for 14 Kbit: LUTs
    (1024, 1024, "ecp5", "bram"),
    (4, 16, "ice40", "logic"),
])
def test_table_home(depth, width, family, home):
    assert rom_home(depth, width, family) == home


def test_plan_places_tables_by_the_rule_and_the_estimate_follows():
    from tests.test_estimate_blocks import _small_graph
    from hwkit.backends.rtl.plan import build_plan

    g = _small_graph()
    plan = build_plan(g, folding={"fc1": (4, 4), "fc2": (2, 2)}, family="ecp5")
    for info in plan.layers:
        if info.rom:
            assert info.rom["block"] == (rom_home(info.rom["depth"], info.rom["width"], "ecp5") == "bram")
    forced = build_plan(g, folding={"fc1": (4, 4), "fc2": (2, 2)}, rom_style="block")
    assert all(info.rom["block"] for info in forced.layers if info.rom)


def test_folding_packs_block_ram():
    # LFC's 1024 x 784 layer within 1666 cycles: fewest lanes is 32 x 16 (1568 x 512 bits: 57 DP16KD);
    # weighing block RAMs picks 16 x 49 (1024 x 784 bits: 44 DP16KD)
    assert _pick(1024, 784, 1, 1666, None, None) == (32, 16)
    assert _pick(1024, 784, 1, 1666, None, None, (1, 1, "ecp5")) == (16, 49)


def test_fastest_is_the_fewest_cycles_that_fit():
    from tests.test_estimate_blocks import _small_graph
    from hwkit.sim import cycles

    g = _small_graph()
    lanes = lambda h: sum(l.folding.pe * l.folding.simd for l in h.layers if l.kind == "MVU")  # noqa: E731
    best, ok = fastest(g, lambda h: lanes(h) <= 12)
    assert ok and lanes(best) <= 12
    ii = cycles(best)["ii"]
    assert ii > 1
    for c in reachable_cycles(g):   # every faster reachable target needs more lanes than allowed
        if c < ii:
            assert lanes(fold(g, target_cycles=c)) > 12
    slow, ok = fastest(g, lambda h: False)
    assert not ok and slow is not None


def test_fastest_finds_a_faster_folding_past_one_that_does_not_fit():
    # fitting is not monotonic in the target (block RAM packing): a band of fast foldings fits although
    # a slower target between it and the slowest does not; bisection alone stops above the gap
    from tests.test_estimate_blocks import _small_graph
    from hwkit.ir.folding import ladder
    from hwkit.sim import cycles

    g = _small_graph()
    cands = reachable_cycles(g)
    assert len(cands) >= 6
    gap = cands[(len(cands) - 1) // 2]   # where a bisection over the candidates looks first
    fits_ = lambda h: cycles(h)["ii"] != gap and cycles(h)["ii"] >= cands[1]  # noqa: E731
    best, ok = fastest(g, fits_)
    assert ok and cycles(best)["ii"] == cands[1]
    # nor is the slowest the smallest: a faster folding fits although the slowest does not
    best, ok = fastest(g, lambda h: cands[1] <= cycles(h)["ii"] < cands[-1])
    assert ok and cycles(best)["ii"] == cands[1]
    rungs = ladder(cands)
    assert rungs[0] == len(cands) - 1 and rungs[-1] == 0
    assert all(cands[a] >= cands[b] * 2 ** 0.5 for a, b in zip(rungs, rungs[1:-1]))


def test_target_fps_max_is_an_rtl_setting():
    from hwkit.build import BuildConfig
    from hwkit.errors import ConfigError

    BuildConfig(target_fps="max").validate()
    with pytest.raises(ConfigError, match="max"):
        BuildConfig(target_fps="max", backend="hls4ml").validate()
    with pytest.raises(ConfigError):
        BuildConfig(target_fps="fast").validate()


def test_finn_cybsec_mlp_fits_a_pynq_z1_at_over_100k_samples_per_second(tmp_path):
    # FINN's 600-input UNSW-NB15 MLP (float-scale BatchNorm, bipolar output) on an xc7z020 at the
    # default folding: the estimate fits with the margin, and at the board clock the II gives > 100k/s
    from hwkit.boards import load_board
    from hwkit.backends import estimate_graph, get_backend
    from hwkit.estimate import fits
    from hwkit.ir.lower import lower
    from hwkit.sim import cycles
    from hwkit.zoo.finn_cybsec import export

    board = load_board("pynq-z1")
    g = lower(str(export(tmp_path / "cybsec.onnx", clean=True)))
    folded = get_backend("rtl").fold(g, board, None)
    est = estimate_graph(folded, board, backend="rtl")
    assert fits(est, board)
    assert board.clock_mhz * 1e6 / cycles(folded)["ii"] >= 100_000


def _one_mvu(mh: int, mw: int):
    """x (MW, 2-bit) -> one MH x MW MVU with 2-bit weights, a graph check_graph accepts."""
    import numpy as np
    from hwkit.ir.graph import MVU, HwGraph, Stream
    from hwkit.ir.types import IntType

    acc = IntType(2 * mw.bit_length() + 4, True)
    w = np.random.default_rng(0).integers(-2, 2, (mh, mw))
    streams = {"x": Stream("x", (mw,), IntType(2, False)), "a": Stream("a", (mh,), acc)}
    return HwGraph("one", streams, [MVU("fc", ["x"], ["a"], weights=w, wtype=IntType(2, True), acc=acc)], ["x"], ["a"])


def test_weight_bits_count_every_stored_table():
    from tests.test_estimate_blocks import _small_graph
    from hwkit.estimate.fit_floor import weight_bits

    assert weight_bits(_small_graph()) == (16 * 16 + 4 * 16, 2 * (16 * 16 + 4 * 16))


def test_weights_beyond_the_parts_memory_are_refused_in_bits():
    # LFC W2A2's case: 2048 x 2048 2-bit weights (8.39 Mbit) against the 85F's 3.83 Mbit of block RAM and
    # at most 1.34 Mbit of LUT ROM: refused before any estimate, naming both and the bit width that fits
    from hwkit.backends import get_backend
    from hwkit.boards import load_board
    from hwkit.errors import DoesNotFitError

    with pytest.raises(DoesNotFitError) as err:
        get_backend("rtl").fold(_one_mvu(2048, 2048), load_board("ulx3s"), None)
    msg = str(err.value)
    assert "\n" not in msg and err.value.exit_code == 5
    assert "4,194,304 weights hold 8.39 Mbit" in msg and "3.83 Mbit of block RAM (208 DP16KD)" in msg
    assert "1.34 Mbit more as ROM" in msg and "use at most 1-bit weights" in msg


def test_a_design_over_the_part_at_its_slowest_folding_names_what_holds_the_block_rams():
    from dataclasses import replace

    from hwkit.boards import load_board
    from hwkit.backends import get_backend
    from hwkit.errors import DoesNotFitError

    board = load_board("ulx3s")
    small = replace(board, resources=replace(board.resources, bram_blocks=2, bram_bits=2 * 18432))
    with pytest.raises(DoesNotFitError, match=r"at any folding: the slowest \(32,768 cycles per sample\) is "
                                              r"estimated to need \d+ DP16KD but ulx3s .* has 2 \(weight tables"):
        get_backend("rtl").fold(_one_mvu(64, 512), small, None)
    assert get_backend("rtl").fold(_one_mvu(64, 512), board, None) is not None   # the real 85F: fits


def test_no_folding_fits_claims_every_folding_only_past_the_bit_tight_floor():
    # CNV W2A2 with two-frame window generators was such a case: 3.09 Mbit of weights need >= 168 DP16KD
    # packed bit-tight, the frame buffers and the rest 57 more: 225 > 208 whatever the folding. Under that
    # floor only the foldings tried are claimed: another packing might fit (with line buffers and packed
    # table rows it does: 206 by the estimate).
    from dataclasses import replace

    from hwkit.boards import load_board
    from hwkit.estimate import rtl_estimate
    from hwkit.estimate.fit_floor import no_folding_fits
    from hwkit.sim import cycles

    board = load_board("ulx3s")
    g = fold(_one_mvu(64, 512), target_cycles=32768)
    est = rtl_estimate(g, board, clock_mhz=board.clock_mhz)
    need = est["total"]["bram"]
    assert need > 5   # 65,536 weight bits: at least 4 blocks of 18 Kbit, plus the rest
    msg = {}
    for blocks in (2, need - 1):
        small = replace(board, resources=replace(board.resources, bram_blocks=blocks, bram_bits=blocks * 18432))
        msg[blocks] = str(no_folding_fits(g, small, est, cycles(g)["ii"]))
    assert "at any folding:" in msg[2] and "65,536 bits, at least 4 DP16KD even packed bit-tight" in msg[2]
    assert "at any folding tried:" in msg[need - 1] and "bit-tight" not in msg[need - 1]
    assert no_folding_fits(g, board, est, cycles(g)["ii"]) is None
