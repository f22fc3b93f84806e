"""hk_mvu with its input buffer in block RAM (IBLOCK): the buffer's read reaches a plain register before
the input select, and the weights and flags wait that cycle too. Verilator on plain, tiled and packed
tables at full rate (a misaligned weight, flag or input shows as wrong sums, a short credit window as a
slower II) and under stalls; the plan sets IBLOCK exactly where the buffer maps to block RAM."""
from __future__ import annotations

import numpy as np
import pytest

from hwkit.backends.rtl.rom_tiles import Tiling
from tests.test_rom_tiles import TILED, _mvu, needs_verilator
from tests.test_rom_pack import SHORT

pytestmark = pytest.mark.tools

# SF = 8 and NF = 3: every vector is replayed twice from the buffer
REPLAYED = dict(MW=16, MH=6, PE=2, SIMD=2, XB=3, XS=1, XBIP=0, WB=3, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12,
                BLOCK=0)


@needs_verilator
@pytest.mark.parametrize("params, tiles, pack", [
    (REPLAYED, None, 1), (TILED, Tiling(8, 5, 10, 3), 1), (SHORT, None, 3)],
    ids=["replayed", "tiled", "packed"])
def test_mvu_block_ram_input_buffer_exact_at_full_rate(tmp_path, params, tiles, pack):
    p = dict(params, IBLOCK=1)
    run, ii = _mvu(tmp_path, p, tiles, n=12, seed=1, pack=pack)
    starts = run.out_cycles[::p["MH"] // p["PE"]]
    assert set(np.diff(starts).tolist()) == {ii}
    _mvu(tmp_path, p, tiles, n=30, seed=2, stall=(30, 40), pack=pack)


@needs_verilator
def test_mvu_block_ram_input_buffer_xnor(tmp_path):
    from tests.test_rtl_blocks import _build, _mvu_case

    p = dict(MW=32, MH=4, PE=2, SIMD=8, XB=1, XS=1, XBIP=1, WB=1, WS=1, WBIP=1, AB=8, HAS_BIAS=0, BLOCK=1,
             IBLOCK=1)
    exe = _build("hk_mvu", p)
    kw = dict(mw=32, mh=4, pe=2, simd=8, xb=1, xs=1, xbip=1, wb=1, ws=1, wbip=1, ab=8, bias=False)
    run = _mvu_case(tmp_path, exe, np.random.default_rng(2), stall=(0, 0), **kw)
    assert set(np.diff(run.out_cycles[::2]).tolist()) == {8}     # NF * SF cycles a vector
    _mvu_case(tmp_path, exe, np.random.default_rng(3), **kw)


def test_plan_sets_iblock_where_the_buffer_maps_to_block_ram():
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.estimate.memory import mapping
    from tests.test_rom_pack import _deep_net

    g = _deep_net(2048)
    plan = build_plan(g)
    mvus = {i.name: dict(i.params) for i in plan.insts if i.module == "hk_mvu"}
    assert mvus, "the net has MVUs"
    for p in mvus.values():
        sf = p["MW"] // p["SIMD"]
        want = mapping(sf, p["SIMD"] * p["XB"], "ecp5", async_read=True) == "bram"
        assert p.get("IBLOCK", 0) == int(want)
    assert any(p.get("IBLOCK") for p in mvus.values())   # the 2,048-deep 2-bit input buffer
