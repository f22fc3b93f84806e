"""Sliding-window generator (im2col): an (H, W, C) stream (or a 1-D (L, C) one, read as (1, L, C))
into (OH, OW, KH*KW*C) windows, the last axis ordered (kh, kw, c), padded with ``pad_value``; taps
``dilation`` apart. Feeds a convolution's
MVU or a depthwise VVU (and, inside the Verilog, a Pool). Verilog ``hls/rtl/hk_swg.v``: a circular
buffer of :func:`line_rows` image rows."""
from __future__ import annotations

import math

import numpy as np

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import Cost, clog2, family_key, memory_cost
from hwkit.estimate.plumbing import ARITH
from hwkit.ir.graph import MVU, SlidingWindow
from hwkit.ir.types import IntType

LAYER = SlidingWindow
HARDWARE = True
STREAM_ALIAS = False
blocks_sample = False   # windows stream out as lines arrive


def output_range(layer: SlidingWindow, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    lo, hi = int(t.min), int(t.max)
    if any(layer.pad):
        lo, hi = min(lo, layer.pad_value), max(hi, layer.pad_value)
    return lo, hi


def output_type(layer: SlidingWindow, streams, max_acc_bits: int = 32) -> IntType:
    t = streams[layer.inputs[0]].dtype
    lo, hi = output_range(layer, streams)
    return t if (lo, hi) == (int(t.min), int(t.max)) else IntType.for_range(lo, hi)


def check(layer, streams, producer) -> str | None:
    return None


def map_shape(stream) -> tuple[int, int, int]:
    """(H, W, C) of the map a window slides over; a 1-D map (L, C) is (1, L, C)."""
    return (1,) * (3 - len(stream.shape)) + tuple(stream.shape)


def span(layer) -> tuple[int, int]:
    """The window's extent on the map: (KH-1)*DH+1, (KW-1)*DW+1 (the kernel itself when undilated)."""
    (kh, kw), (dh, dw) = layer.kernel, getattr(layer, "dilation", (1, 1))
    return (kh - 1) * dh + 1, (kw - 1) * dw + 1


def out_size(layer, h: int, w: int) -> tuple[int, int]:
    t, l, b, r = layer.pad
    eh, ew = span(layer)
    return (h + t + b - eh) // layer.stride[0] + 1, (w + l + r - ew) // layer.stride[1] + 1


def execute(layer: SlidingWindow, ins, run) -> np.ndarray:
    """im2col into (N, OH, OW, KH*KW*C), last axis ordered (kh, kw, c): one strided copy per kernel
    row, each moving runs of KW*C contiguous values (much faster than a 6-D strided view); a dilated
    window copies tap by tap (its taps are not contiguous)."""
    x = ins[0]
    if x.ndim == 3:   # a 1-D map
        x = x[:, None]
    t, l, b, r = layer.pad
    n, H, W, C = x.shape
    if any(layer.pad):
        xp = np.full((n, H + t + b, W + l + r, C), layer.pad_value, dtype=x.dtype)
        xp[:, t:t + H, l:l + W] = x
        x = xp
    H, W = x.shape[1:3]
    kh, kw = layer.kernel
    sh, sw = layer.stride
    dh, dw = layer.dilation
    oh, ow = out_size(layer, H - t - b, W - l - r)
    x = np.ascontiguousarray(x)
    if (dh, dw) != (1, 1):
        out = np.empty((n, oh, ow, kh, kw, C), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, :, i, j] = x[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
        return out.reshape(n, oh, ow, kh * kw * C)
    out = np.empty((n, oh, ow, kh, kw * C), dtype=x.dtype)
    s = x.strides
    for i in range(kh):
        # the kw*C values of one kernel row are contiguous in an (H, W, C) map: copy them as one run
        row = np.lib.stride_tricks.as_strided(x[:, i:], (n, oh, ow, kw * C), (s[0], s[1] * sh, s[2] * sw, s[3]))
        out[:, :, :, i] = row
    return out.reshape(n, oh, ow, kh * kw * C)


def float_lane(layer, graph) -> bool:
    return True   # copies values


def tie(layer, graph, acc: int, element) -> bool:
    return False


def reads(graph, layer: SlidingWindow, arriving: int) -> int:
    """Its MVU's SIMD or VVU's PE (the generator emits whole channel groups), else what divides both ends."""
    from hwkit.kinds.vvu import VVU

    c = graph.streams[layer.inputs[0]].channels
    for m in graph.consumers(layer.outputs[0]):
        if isinstance(m, MVU):
            return m.folding.simd
        if isinstance(m, VVU):
            return m.folding.pe
    return math.gcd(arriving, c)


def out_lanes(graph, layer, arriving: int) -> int:
    return reads(graph, layer, arriving)


def line_rows(h: int, kh: int, dh: int, sh: int, pt: int = 0, pb: int = 0) -> int:
    """Image rows hk_swg keeps (its ROWS) over a map of ``h`` rows padded by ``pt``/``pb``, for a kernel of
    ``kh`` rows ``dh`` apart moved by ``sh`` rows: enough that the reader never waits for the writer
    unless the writer is the slower side, so the generator keeps :func:`window_cycles`
    (tests/test_rtl_blocks.py measures it, and that one row fewer is slower for CNV's 3x3 layers).
    Inside a frame a window row holds its EH = (kh-1)*dh+1 rows while the writer writes the next window
    row's SH new ones: EH + SH. Across frames the last window row holds its EH rows plus the rows below
    them that no window needs ((h+pt+pb-EH) mod SH, released at the frame's end) while the writer must
    write the next frame's first window row, up to EH rows: 2*EH + (h+pt+pb-EH) mod SH. Two frames
    (2*h rows) hold everything, so never more."""
    eh = (kh - 1) * dh + 1
    return min(2 * h, max(eh + sh, 2 * eh + (h + pt + pb - eh) % sh))


def swg_params(h: int, w: int, c: int, simd: int, b: int, kernel, stride, pad, padv: int, dilation=(1, 1)) -> list:
    """hk_swg's parameters (a convolution's window generator and a pool's share them)."""
    rows = line_rows(h, kernel[0], dilation[0], stride[0], pad[0], pad[2])
    dil = [("DH", dilation[0]), ("DW", dilation[1])] if tuple(dilation) != (1, 1) else []
    return [("H", h), ("W", w), ("C", c), ("SIMD", simd), ("B", b), ("KH", kernel[0]), ("KW", kernel[1]),
            ("SH", stride[0]), ("SW", stride[1]), ("PT", pad[0]), ("PL", pad[1]), ("PB", pad[2]), ("PR", pad[3]),
            ("PADV", int(padv) & ((1 << b) - 1)), ("ROWS", rows)] + dil


def window_cycles(graph, layer, lanes: dict) -> int:
    """The larger of the beats read (input map / lanes) and written (windows * taps * C / lanes);
    shared with Pool, whose Verilog runs the same generator."""
    e = lanes[layer.outputs[0]]
    ins = graph.streams[layer.inputs[0]]
    kh, kw = layer.kernel
    h, w, c = map_shape(ins)
    oh, ow = out_size(layer, h, w)
    return max(int(np.prod(ins.shape)) // e, oh * ow * kh * kw * c // e)


cycles = window_cycles


def emit(b, layer: SlidingWindow):
    xin = b.streams[b.resolve(layer.inputs[0])]
    if bits(b.streams[layer.outputs[0]].dtype) != bits(xin.dtype):
        raise UnsupportedModelError(f"layer '{layer.name}': padding value {layer.pad_value} needs a wider type "
                                    f"than the input {xin.dtype}")
    simd = b.swg_simd(layer)
    src = b.feed(layer.inputs[0], simd, layer.name, 2)
    tag = sanitize(layer.name)
    (h, w, c), (kh, kw), pad = map_shape(xin), layer.kernel, layer.pad
    oh, ow = out_size(layer, h, w)
    out = b.link(f"{tag}_win", simd, src.bits, oh * ow * kh * kw * c // simd)
    dil = tuple(layer.dilation) != (1, 1)
    b.block("hk_swg", tag + "_swg",
            swg_params(h, w, c, simd, src.bits, layer.kernel, layer.stride, pad, layer.pad_value, layer.dilation),
            src, out, f"{layer.name}: {kh}x{kw} windows{' dilated %dx%d' % layer.dilation if dil else ''} "
                      f"of {h}x{w}x{c}")
    cyc = max(h * w * c // simd, out.beats)
    b.stream_link[layer.outputs[0]] = out
    b.info(layer, ["hk_swg"], cyc, 0, simd)


def cost(p: dict, family: str, mems: dict) -> Cost:
    fam = family_key(family)
    h, w, c, simd, b = (int(p[k]) for k in ("H", "W", "C", "SIMD", "B"))
    kbits = max(1, clog2(max(int(p["KH"]), int(p["KW"]))))   # the tap row and column counters
    kh, kw = int(p["KH"]), int(p["KW"])
    kh, kw = (kh - 1) * int(p.get("DH", 1)) + 1, (kw - 1) * int(p.get("DW", 1)) + 1   # the window's span
    pads = sum(int(p[k]) for k in ("PT", "PL", "PB", "PR"))
    cf = c // simd
    rows = int(p.get("ROWS", 0)) or 2 * h   # hk_swg: ROWS = 0 keeps two frames
    depth = rows * w * cf
    aw = clog2(depth)
    cwid = clog2(max(h, w) + rows + pads + kh + kw + int(p["SH"]) + cf + 2) + 2
    # a row base (a slot times W*C/SIMD) is a multiple of W*C/SIMD's largest power of two: those bits never move
    rbits = aw - min(aw, ((w * cf) & -(w * cf)).bit_length() - 1)
    # thirteen counters (free rows and the slack, window row, tap row, window column, tap column, release and
    # release - 1, next row's need, the slack steps dn and dn - 1, and the next row's release and need taken
    # from registers), five addresses (write, row base of the window and of the tap, column base of the window
    # and of the tap), the write word, the channel group and tap counters, the read word's copy beside the RAM
    # and the output word (the read word itself is the block RAM's): within 5 % on every synth_ecp5 and
    # synth_xilinx point of the fixture (137-398 FFs)
    ff = 13 * cwid + 5 * aw + clog2(w * cf) + max(1, clog2(cf)) + 2 * kbits + 2 * simd * b - 2
    # each counter's step, compare and select, the slack and free-row sums, each address's constant steps with
    # their wrap compares, and the read address (row base + column): least squares on relative error over the
    # 16 synth_ecp5 fit points (299-618 LUTs, within 10 % + 8); a buffer several block RAMs deep also muxes
    # their outputs, not counted
    lut = 52 * cwid + 29 * rbits - 116
    mem = memory_cost(depth, simd * b, fam, style="block", sync_read=True)
    return mem + Cost(lut=lut * ARITH[fam], ff=ff)


BLOCKS = {"hk_swg": cost}
