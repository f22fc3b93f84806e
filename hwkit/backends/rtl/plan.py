"""HwGraph -> a netlist plan of hls/rtl blocks: folding, beat widths, converters, forks, FIFOs.

The plan is plain data (instances with ordered parameters and port connections, memory images)
that :mod:`hwkit.backends.rtl.generate` renders. Every choice here is deterministic.

Beat widths: a stream between two blocks carries E elements per beat. An MVU reads SIMD and
writes PE elements per beat; elementwise blocks keep the width they receive; a width converter
(hk_dwc, through the gcd when neither width divides the other) joins mismatched ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir.check import adjoint_taps
from hwkit.ir.check import flatten as ir_flatten
from hwkit.ir.graph import MVU, Add, FloatTail, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Stream, Threshold
from hwkit.ir.types import IntType
from hwkit.names import identifier

BLOCK_ROM_BITS = 2048   # ROMs at least this big go to block RAM, smaller ones to LUTs
ROUNDING = {"half_even": 0, "half_up": 1, "floor": 2}


def sanitize(name: str) -> str:
    return identifier(name, 48, "n_")   # bounded with a hash of the full name: no two layers share a file


@dataclass
class Inst:
    module: str
    name: str
    params: list            # [(name, value)] in a fixed order
    ports: list             # [(port, net)]
    comment: str = ""


@dataclass
class Link:
    """A stream between two blocks: nets <name>_d/_v/_r, E elements of B bits per beat."""

    name: str
    e: int
    bits: int
    beats: int              # beats per sample

    @property
    def width(self) -> int:
        return self.e * self.bits


@dataclass
class LayerInfo:
    name: str
    kind: str
    modules: list
    pe: int = 0
    simd: int = 0
    cycles: int = 0
    rom: Optional[dict] = None


@dataclass
class Plan:
    name: str
    insts: list = field(default_factory=list)
    links: list = field(default_factory=list)
    mems: dict = field(default_factory=dict)          # file name -> text
    roms: list = field(default_factory=list)          # shared ROM nets: (key, addr bits, width)
    layers: list = field(default_factory=list)        # LayerInfo
    input: Optional[Link] = None
    output: Optional[Link] = None
    in_stream: Optional[Stream] = None
    out_stream: Optional[Stream] = None
    ii: int = 0


def _bits(t: IntType) -> int:
    return 1 if t.bipolar else t.bits


def _enc(values, t: IntType, bits: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    if t is not None and t.bipolar:
        v = (v > 0).astype(np.int64)
    return v & ((1 << bits) - 1)


def _mem(codes: np.ndarray, bits: int) -> str:
    from hwkit.backends.rtl.stream import mem_text

    return mem_text(codes, bits)


def flatten(graph: HwGraph) -> tuple[list, dict]:
    """Hardware layers (SymmetricBlocks opened, FloatTails left out) and every stream they use."""
    layers, streams = ir_flatten(graph)
    return [l for l in layers if not isinstance(l, FloatTail)], streams


def _pixels(streams, layer) -> int:
    shp = streams[layer.outputs[0]].shape
    return int(np.prod(shp[:-1])) if len(shp) > 1 else 1


def choose_folding(graph: HwGraph, target_ii: Optional[int] = None, overrides: Optional[dict] = None) -> dict:
    """{mvu name: (pe, simd)} of :func:`hwkit.ir.fold` for ``target_ii`` cycles per sample, keeping a
    folding already set on the graph (the build's lower stage folded it)."""
    from hwkit.ir.folding import choose

    return choose(graph, target_ii, overrides, keep=True)


def transpose_taps(layers, layer) -> Optional[int]:
    """Window taps T when ``layer`` reads its K's weight memory as K^T (see :func:`adjoint_taps`)."""
    if not isinstance(layer, MVU) or layer.transposed_of is None:
        return None
    k = next((l for l in layers if l.name == layer.transposed_of and isinstance(l, MVU)), None)
    if k is None or k.wtype != layer.wtype:
        return None
    return adjoint_taps(k.weights, layer.weights)


class _Builder:
    def __init__(self, graph: HwGraph, folding: dict, fifo_depths: dict, rom_style: str):
        self.graph = graph
        self.layers, self.streams = flatten(graph)
        self.folding = folding
        self.fifo_depths = fifo_depths
        self.rom_style = rom_style
        self.plan = Plan(sanitize(graph.name))
        self.names: set = set()
        self.alias: dict = {}
        self.stream_link: dict = {}     # stream name -> Link produced
        self.consumers_done: dict = {}  # stream -> list of links handed out (forks)

    # ---- naming and nets
    def uname(self, base: str) -> str:
        n, i = sanitize(base), 1
        cand = n
        while cand in self.names:
            i += 1
            cand = f"{n}_{i}"
        self.names.add(cand)
        return cand

    def link(self, base: str, e: int, bits: int, beats: int) -> Link:
        lk = Link(self.uname(base), e, bits, beats)
        self.plan.links.append(lk)
        return lk

    def add(self, module, base, params, ports, comment=""):
        self.plan.insts.append(Inst(module, self.uname("u_" + base), params, ports, comment))

    def block(self, module, base, params, src: Link, dst: Link, comment=""):
        ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
                 ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
                 ("out_ready", f"{dst.name}_r")]
        self.add(module, base, params, ports, comment)

    # ---- stream plumbing
    def resolve(self, s: str) -> str:
        while s in self.alias:
            s = self.alias[s]
        return s

    def n_consumers(self, s: str) -> int:
        return sum(1 for l in self.layers if not isinstance(l, Reshape) for i in l.inputs if self.resolve(i) == s) + \
            (1 if s in [self.resolve(o) for o in self.graph.outputs] else 0)

    def take(self, s: str) -> Link:
        """The link a consumer of stream ``s`` reads; forks when ``s`` has several consumers."""
        s = self.resolve(s)
        pending = self.consumers_done.setdefault(s, [])
        if pending:
            return pending.pop(0)
        src = self.stream_link[s]
        n = self.n_consumers(s)
        if n <= 1:
            return src
        outs = []
        cur = src
        for k in range(n - 1):
            a = self.link(f"{src.name}_f{k}a", src.e, src.bits, src.beats)
            b = self.link(f"{src.name}_f{k}b", src.e, src.bits, src.beats)
            self.add("hk_fork", f"fork_{src.name}_{k}", [("W", src.width)],
                     [("clk", "clk"), ("rst", "rst"), ("in_data", f"{cur.name}_d"), ("in_valid", f"{cur.name}_v"),
                      ("in_ready", f"{cur.name}_r"), ("a_data", f"{a.name}_d"), ("a_valid", f"{a.name}_v"),
                      ("a_ready", f"{a.name}_r"), ("b_data", f"{b.name}_d"), ("b_valid", f"{b.name}_v"),
                      ("b_ready", f"{b.name}_r")])
            outs.append(a)
            cur = b
        outs.append(cur)
        self.consumers_done[s] = outs[1:]
        return outs[0]

    def convert(self, src: Link, e: int, base: str) -> Link:
        if src.e == e:
            return src
        steps = [e] if (e % src.e == 0 or src.e % e == 0) else [math.gcd(src.e, e), e]
        cur = src
        for step in steps:
            total = cur.e * cur.beats
            nxt = self.link(f"{base}_w{step}", step, cur.bits, total // step)
            self.block("hk_dwc", f"dwc_{base}_{step}", [("B", cur.bits), ("EI", cur.e), ("EO", step)], cur, nxt)
            cur = nxt
        return cur

    def fifo(self, src: Link, depth: int, base: str) -> Link:
        dst = self.link(f"{base}_q", src.e, src.bits, src.beats)
        self.block("hk_fifo", f"fifo_{base}", [("W", src.width), ("DEPTH", max(2, int(depth)))], src, dst)
        return dst

    def feed(self, s: str, e: int, consumer: str, depth: int) -> Link:
        src = self.convert(self.take(s), e, sanitize(consumer) + "_in")
        return self.fifo(src, self.fifo_depths.get(consumer, depth), sanitize(consumer))

    def rom_block(self, bits: int) -> int:
        if self.rom_style == "block":
            return 1
        if self.rom_style == "logic":
            return 0
        return int(bits >= BLOCK_ROM_BITS)

    # ---- layers
    def build(self) -> Plan:
        g, p = self.graph, self.plan
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise UnsupportedModelError(f"RTL backend needs one input and one output stream, graph "
                                        f"'{g.name}' has {len(g.inputs)} and {len(g.outputs)}")
        for layer in self.layers:
            if isinstance(layer, Reshape):
                self.reshape_alias(layer)
        in_s = self.streams[g.inputs[0]]
        first = next(l for l in self.layers if g.inputs[0] in [self.resolve(i) for i in l.inputs])
        e_in = self.folding[first.name][1] if isinstance(first, MVU) else 1
        if isinstance(first, SlidingWindow):
            e_in = self.swg_simd(first)
        n_in = int(np.prod(in_s.shape))
        p.input = Link("in", e_in, _bits(in_s.dtype), n_in // e_in)
        p.in_stream = in_s
        self.stream_link[g.inputs[0]] = self.fifo(p.input, 2, "in")
        for layer in self.layers:
            if isinstance(layer, Reshape):
                continue
            getattr(self, "do_" + layer.kind.lower())(layer)
        out_name = self.resolve(g.outputs[0])
        src = self.take(out_name)
        p.output = Link("out", src.e, src.bits, src.beats)
        p.out_stream = self.streams[out_name]
        self.block("hk_fifo", "fifo_out", [("W", src.width), ("DEPTH", 2)], src, p.output)
        p.ii = max(l.cycles for l in p.layers) if p.layers else 1
        return p

    def reshape_alias(self, layer: Reshape):
        src = self.streams[layer.inputs[0]]
        idx = np.arange(int(np.prod(src.shape))).reshape(src.shape)
        moved = idx if layer.perm is None else idx.transpose(layer.perm)
        if not np.array_equal(moved.reshape(-1), idx.reshape(-1)):
            raise UnsupportedModelError(
                f"layer '{layer.name}' (Reshape with perm {layer.perm}) reorders the stream; the RTL backend only "
                f"supports order-preserving reshapes (fold the permutation into the next MVU's weights)")
        self.alias[layer.outputs[0]] = layer.inputs[0]

    def info(self, layer, modules, cycles, pe=0, simd=0, rom=None):
        self.plan.layers.append(LayerInfo(layer.name, layer.kind, modules, pe, simd, int(cycles), rom))

    def out_link(self, layer, e: int) -> Link:
        st = self.streams[layer.outputs[0]]
        n = int(np.prod(st.shape))
        lk = self.link(f"s_{layer.name}", e, _bits(st.dtype), n // e)
        self.stream_link[layer.outputs[0]] = lk
        return lk

    def do_mvu(self, layer: MVU):
        pe, simd = self.folding[layer.name]
        xin = self.streams[self.resolve(layer.inputs[0])]
        yt = self.streams[layer.outputs[0]].dtype
        px = _pixels(self.streams, layer)
        nf, sf = layer.mh // pe, layer.mw // simd
        src = self.feed(layer.inputs[0], simd, layer.name, sf + 2)
        dst = self.out_link(layer, pe)
        xt, wt = xin.dtype, layer.wtype
        wb, ab = _bits(wt), _bits(yt)
        tag = sanitize(layer.name)
        bias = layer.bias
        bb = ab
        if bias is not None:
            bb = max(ab, IntType.for_range(min(0, int(bias.min())), max(0, int(bias.max()))).bits + 1)
            p_mem = f"b_{tag}.mem"
            self.plan.mems[p_mem] = _mem(_enc(bias.reshape(nf, pe), None, bb), bb)
        kname, taps = self.shares(layer)
        partner = next((l for l in self.layers if isinstance(l, MVU) and self.shares(l)[0] == layer.name), None)
        shared = kname is not None or partner is not None
        if kname is not None:
            wfile = f"w_{sanitize(kname)}.mem"
        else:
            wfile = f"w_{tag}.mem"
            tiles = layer.weights.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
            self.plan.mems[wfile] = _mem(_enc(tiles, wt, wb), wb)
        rom_bits = nf * sf * pe * simd * wb
        block = self.rom_block(rom_bits)
        params = [("MW", layer.mw), ("MH", layer.mh), ("PE", pe), ("SIMD", simd),
                  ("XB", _bits(xt)), ("XS", int(xt.signed and not xt.bipolar)), ("XBIP", int(xt.bipolar)),
                  ("WB", wb), ("WS", int(wt.signed and not wt.bipolar)), ("WBIP", int(wt.bipolar)),
                  ("AB", ab), ("HAS_BIAS", int(bias is not None)), ("BB", bb),
                  ("WFILE", wfile), ("BFILE", f"b_{tag}.mem"), ("BLOCK", block),
                  ("TRANSPOSED", int(kname is not None)), ("EXT_ROM", int(shared))]
        if kname is not None:
            params.append(("TAPS", taps))
        ports = [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
                 ("in_ready", f"{src.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
                 ("out_ready", f"{dst.name}_r")]
        depth = nf * sf
        if shared:
            key = sanitize(kname or layer.name)
            side = "b" if kname is not None else "a"
            ports += [("rom_en", f"rom_{key}_en_{side}"), ("rom_addr", f"rom_{key}_addr_{side}"),
                      ("rom_data", f"rom_{key}_data_{side}")]
            if kname is not None:
                aw = max(1, math.ceil(math.log2(max(depth, 2))))
                self.plan.roms.append((key, aw, pe * simd * wb))
                self.add("hk_rom_dp", f"rom_{key}", [("W", pe * simd * wb), ("DEPTH", depth), ("FILE", wfile),
                                                     ("BLOCK", block)],
                         [("clk", "clk"), ("en_a", f"rom_{key}_en_a"), ("addr_a", f"rom_{key}_addr_a"),
                          ("data_a", f"rom_{key}_data_a"), ("en_b", f"rom_{key}_en_b"),
                          ("addr_b", f"rom_{key}_addr_b"), ("data_b", f"rom_{key}_data_b")],
                         f"one weight memory read as {kname} (K) and {layer.name} (K^T"
                         f"{f', {taps} taps flipped' if taps > 1 else ''})")
        else:
            ports += [("rom_en", ""), ("rom_addr", ""), ("rom_data", "0")]
        self.add("hk_mvu", layer.name, params, ports, f"{layer.name}: {layer.mh}x{layer.mw} {wt} x {xt} -> {yt}")
        self.info(layer, ["hk_mvu"], px * nf * sf, pe, simd,
                  {"file": wfile, "width": pe * simd * wb, "depth": depth, "block": bool(block),
                   "shared_with": kname})

    def shares(self, layer: MVU) -> tuple[Optional[str], int]:
        """(K's name, window taps) when this unit reads K's memory as K^T, else (None, 0). A conv K^T
        (ConvTranspose) is K with flipped taps and swapped channels; with K^T's PE = K's SIMD (which
        divides C) and K^T's SIMD = K's PE, each K^T word is one K word with its lanes transposed."""
        taps = transpose_taps(self.layers, layer)
        if taps is None:
            return None, 0
        kpe, ksimd = self.folding[layer.transposed_of]
        if self.folding[layer.name] != (ksimd, kpe):    # choose_folding refuses this; keep plans honest
            raise UnsupportedModelError(f"layer '{layer.name}' reads '{layer.transposed_of}' as K^T but is not "
                                        f"folded PE={ksimd} SIMD={kpe}")
        return layer.transposed_of, taps

    def do_threshold(self, layer: Threshold):
        xin = self.streams[self.resolve(layer.inputs[0])]
        yt = self.streams[layer.outputs[0]].dtype
        src = self.feed(layer.inputs[0], self.take_e(layer), layer.name, 2)
        e, c = src.e, xin.channels
        if xin.dtype.bipolar:
            raise UnsupportedModelError(f"layer '{layer.name}': thresholds on a bipolar stream are not supported")
        t = layer.thresholds
        if t.shape[0] == 1 and c > 1:
            t = np.repeat(t, c, axis=0)
        n = t.shape[1]
        t = np.clip(t, xin.dtype.min, xin.dtype.max + 1)
        tb = _bits(xin.dtype) + 2
        tag = sanitize(layer.name)
        tfile = f"t_{tag}.mem"
        self.plan.mems[tfile] = _mem(_enc(t.reshape(c // e, e * n), None, tb), tb)
        dst = self.out_link(layer, e)
        base = 0 if yt.bipolar else layer.base
        block = self.rom_block(c * n * tb)
        self.block("hk_thresh", layer.name, [("C", c), ("PE", e), ("IB", _bits(xin.dtype)), ("IS", int(xin.dtype.signed)),
                                             ("N", n), ("TB", tb), ("OB", _bits(yt)), ("BASE", base), ("TFILE", tfile),
                                             ("BLOCK", block)], src, dst, f"{layer.name}: {n} thresholds -> {yt}")
        px = int(np.prod(xin.shape)) // c
        self.info(layer, ["hk_thresh"], px * c // e, e, 0, {"file": tfile, "width": e * n * tb, "depth": c // e,
                                                           "block": bool(block), "shared_with": None})

    def take_e(self, layer) -> int:
        s = self.resolve(layer.inputs[0])
        return self.stream_link[s].e

    def do_shiftround(self, layer: ShiftRound):
        xin = self.streams[self.resolve(layer.inputs[0])]
        yt = self.streams[layer.outputs[0]].dtype
        src = self.feed(layer.inputs[0], self.take_e(layer), layer.name, 2)
        dst = self.out_link(layer, src.e)
        self.block("hk_shiftround", layer.name,
                   [("E", src.e), ("IB", _bits(xin.dtype)), ("IS", int(xin.dtype.signed)), ("SHIFT", layer.shift),
                    ("RMODE", ROUNDING[layer.rounding]), ("LO", layer.lo), ("HI", layer.hi), ("OB", _bits(yt))],
                   src, dst, f"{layer.name}: round(x / 2**{layer.shift}) in [{layer.lo}, {layer.hi}]")
        self.info(layer, ["hk_shiftround"], src.beats)

    def swg_simd(self, layer) -> int:
        c = self.streams[self.resolve(layer.inputs[0])].channels
        cons = [l for l in self.layers if layer.outputs[0] in l.inputs]
        if cons and isinstance(cons[0], MVU) and cons[0].name in self.folding:
            return self.folding[cons[0].name][1]
        s = self.resolve(layer.inputs[0])
        e = self.stream_link[s].e if s in self.stream_link else 1
        return math.gcd(e, c)

    def _swg(self, layer, src: Link, simd: int, kernel, stride, pad, padv, base) -> Link:
        h, w, c = self.streams[self.resolve(layer.inputs[0])].shape
        oh = (h + pad[0] + pad[2] - kernel[0]) // stride[0] + 1
        ow = (w + pad[1] + pad[3] - kernel[1]) // stride[1] + 1
        out = self.link(f"{base}_win", simd, src.bits, oh * ow * kernel[0] * kernel[1] * c // simd)
        self.block("hk_swg", base + "_swg",
                   [("H", h), ("W", w), ("C", c), ("SIMD", simd), ("B", src.bits), ("KH", kernel[0]),
                    ("KW", kernel[1]), ("SH", stride[0]), ("SW", stride[1]), ("PT", pad[0]), ("PL", pad[1]),
                    ("PB", pad[2]), ("PR", pad[3]), ("PADV", int(padv) & ((1 << src.bits) - 1)),
                    ("BLOCK", self.rom_block(2 * h * w * c * src.bits))],
                   src, out, f"{layer.name}: {kernel[0]}x{kernel[1]} windows of {h}x{w}x{c}")
        return out, max(h * w * c // simd, out.beats)

    def do_slidingwindow(self, layer: SlidingWindow):
        xin = self.streams[self.resolve(layer.inputs[0])]
        if _bits(self.streams[layer.outputs[0]].dtype) != _bits(xin.dtype):
            raise UnsupportedModelError(f"layer '{layer.name}': padding value {layer.pad_value} needs a wider type "
                                        f"than the input {xin.dtype}")
        simd = self.swg_simd(layer)
        src = self.feed(layer.inputs[0], simd, layer.name, 2)
        out, cyc = self._swg(layer, src, simd, layer.kernel, layer.stride, layer.pad, layer.pad_value,
                             sanitize(layer.name))
        self.stream_link[layer.outputs[0]] = out
        self.info(layer, ["hk_swg"], cyc, 0, simd)

    def do_pool(self, layer: Pool):
        xin = self.streams[self.resolve(layer.inputs[0])]
        yt = self.streams[layer.outputs[0]].dtype
        c = xin.channels
        simd = math.gcd(self.take_e(layer), c)
        src = self.feed(layer.inputs[0], simd, layer.name, 2)
        win, cyc = self._swg(layer, src, simd, layer.kernel, layer.stride, layer.pad, xin.dtype.min,
                             sanitize(layer.name))
        k = layer.kernel[0] * layer.kernel[1]
        dst = self.out_link(layer, simd)
        self.block("hk_pool", layer.name, [("C", c), ("SIMD", simd), ("K", k), ("B", src.bits),
                                           ("S", int(xin.dtype.signed)), ("MODE", 0 if layer.mode == "max" else 1),
                                           ("SHIFT", layer.shift), ("OB", _bits(yt))], win, dst,
                   f"{layer.name}: {layer.mode} pool {layer.kernel}")
        self.info(layer, ["hk_swg", "hk_pool"], cyc)

    def do_add(self, layer: Add):
        ta = self.streams[self.resolve(layer.inputs[0])]
        tb_ = self.streams[self.resolve(layer.inputs[1])]
        yt = self.streams[layer.outputs[0]].dtype
        # the skip branch (the input forked earlier) goes to port b, which has the branch FIFO
        forked = [self.n_consumers(self.resolve(s)) > 1 for s in layer.inputs]
        order = (1, 0) if forked[0] and not forked[1] else (0, 1)
        ia, ib = order
        e = self.stream_link[self.resolve(layer.inputs[ia])].e
        a = self.feed(layer.inputs[ia], e, layer.name + "_a", 2)
        b = self.convert(self.take(layer.inputs[ib]), e, sanitize(layer.name) + "_b")
        types = (ta, tb_)
        dst = self.out_link(layer, e)
        bdepth = self.fifo_depths.get(layer.name + "_branch", 3 * b.beats + 8)
        params = [("E", e), ("AB", _bits(types[ia].dtype)), ("AS", int(types[ia].dtype.signed)),
                  ("BB", _bits(types[ib].dtype)), ("BS", int(types[ib].dtype.signed)),
                  ("SA", layer.shifts[ia]), ("SB", layer.shifts[ib]), ("SGA", layer.signs[ia]),
                  ("SGB", layer.signs[ib]), ("OB", _bits(yt)), ("BDEPTH", bdepth)]
        ports = [("clk", "clk"), ("rst", "rst"), ("a_data", f"{a.name}_d"), ("a_valid", f"{a.name}_v"),
                 ("a_ready", f"{a.name}_r"), ("b_data", f"{b.name}_d"), ("b_valid", f"{b.name}_v"),
                 ("b_ready", f"{b.name}_r"), ("out_data", f"{dst.name}_d"), ("out_valid", f"{dst.name}_v"),
                 ("out_ready", f"{dst.name}_r")]
        self.add("hk_add", layer.name, params, ports, f"{layer.name}: residual add, branch FIFO {bdepth}")
        self.info(layer, ["hk_add"], a.beats)


def build_plan(graph: HwGraph, *, target_ii: Optional[int] = None, folding: Optional[dict] = None,
               fifo_depths: Optional[dict] = None, rom_style: str = "auto") -> Plan:
    fold = choose_folding(graph, target_ii, folding)
    return _Builder(graph, fold, dict(fifo_depths or {}), rom_style).build()
