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

from hwkit.backends.rtl.words import bits, sanitize
from hwkit.errors import UnsupportedModelError
from hwkit.estimate.memory import ram_in_bram
from hwkit.ir.graph import MVU, SlidingWindow, Stream
from hwkit.kinds import kind_of
from hwkit.kinds.sliding_window import swg_params

BLOCK_ROM_BITS = 2048   # line buffers at least this big go to block RAM, smaller ones to LUTs


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
    main: str = ""          # the instance that is the layer's own block (its feed comes before it)


@dataclass
class Plan:
    name: str
    insts: list = field(default_factory=list)
    links: list = field(default_factory=list)
    mems: dict = field(default_factory=dict)          # file name -> text
    roms: list = field(default_factory=list)          # shared ROM nets: (key, addr bits, width)
    fifo_keys: dict = field(default_factory=dict)     # FIFO instance path -> its key in fifo_depths
    layers: list = field(default_factory=list)        # LayerInfo
    input: Optional[Link] = None
    output: Optional[Link] = None
    in_stream: Optional[Stream] = None
    out_stream: Optional[Stream] = None
    ii: int = 0
    prec_bits: int = 0            # >0: the core has an in_prec pin (any-precision kinds, hk_prec_src.v)


def choose_folding(graph: HwGraph, target_ii: Optional[int] = None, overrides: Optional[dict] = None) -> dict:
    """{mvu name: (pe, simd)} of :func:`hwkit.ir.fold` for ``target_ii`` cycles per sample, keeping a
    folding already set on the graph (the build's lower stage folded it)."""
    from hwkit.ir.folding import choose

    return choose(graph, target_ii, overrides, keep=True)


class _Builder:
    def __init__(self, graph: HwGraph, folding: dict, fifo_depths: dict, rom_style: str, family: str = "ecp5"):
        self.graph = graph
        self.layers = graph.hardware_layers()
        self.streams = dict(graph.streams)
        self.folding = folding
        self.fifo_depths = fifo_depths
        self.rom_style = rom_style
        self.family = family
        self.plan = Plan(sanitize(graph.name))
        self.names: set = set()
        self.alias: dict = {}
        self.stream_link: dict = {}     # stream name -> Link produced
        self.consumers_done: dict = {}  # stream -> list of links handed out (forks)
        self.prec_tags: dict = {}       # layer name -> its precision tag link (any-precision kinds)

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
        return sum(1 for l in self.layers if not kind_of(l).STREAM_ALIAS for i in l.inputs if self.resolve(i) == s) + \
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
        depth = max(2, int(depth))
        self.block("hk_fifo", f"fifo_{base}", [("W", src.width), ("DEPTH", depth)]
                   + ([("BLOCK", 1)] if ram_in_bram(depth, src.width, self.family) else []), src, dst)
        return dst

    def feed(self, s: str, e: int, consumer: str, depth: int) -> Link:
        """Stream ``s`` converted to ``e`` lanes through a FIFO of ``depth`` words (or the depth
        ``fifo_depths[consumer]`` gives: FIFO sizing by simulation, hwkit.backends.rtl.fifos)."""
        src = self.convert(self.take(s), e, sanitize(consumer) + "_in")
        out = self.fifo(src, self.fifo_depths.get(consumer, depth), sanitize(consumer))
        self.plan.fifo_keys[self.plan.insts[-1].name] = consumer
        return out

    def rom_block(self, bits: int, depth: int = 0, width: int = 0) -> int:
        """1 if a memory goes to block RAM. A table of known ``depth`` x ``width`` follows the family's
        rule (:func:`hwkit.estimate.memory.rom_home`, which the estimate costs); others by size."""
        if self.rom_style == "block":
            return 1
        if self.rom_style == "logic":
            return 0
        if depth and width:
            from hwkit.estimate.memory import rom_home

            return int(rom_home(depth, width, self.family) == "bram")
        return int(bits >= BLOCK_ROM_BITS)

    # ---- layers
    def build(self) -> Plan:
        g, p = self.graph, self.plan
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise UnsupportedModelError(f"RTL backend needs one input and one output stream, graph "
                                        f"'{g.name}' has {len(g.inputs)} and {len(g.outputs)}")
        for layer in self.layers:  # renamed streams first: forks count their consumers through them
            if kind_of(layer).STREAM_ALIAS:
                kind_of(layer).emit(self, layer)
        in_s = self.streams[g.inputs[0]]
        first = next(l for l in self.layers if g.inputs[0] in [self.resolve(i) for i in l.inputs])
        e_in = self.folding[first.name][1] if isinstance(first, MVU) else 1
        if isinstance(first, SlidingWindow):
            e_in = self.swg_simd(first)
        n_in = int(np.prod(in_s.shape))
        p.input = Link("in", e_in, bits(in_s.dtype), n_in // e_in)
        p.in_stream = in_s
        tagged = [l for l in self.layers if getattr(kind_of(l), "PRECISION_BITS", 0)]
        src = self.prec_source(p.input, tagged) if tagged else p.input
        self.stream_link[g.inputs[0]] = self.fifo(src, 2, "in")
        for layer in self.layers:
            if not kind_of(layer).STREAM_ALIAS:
                kind_of(layer).emit(self, layer)
        out_name = self.resolve(g.outputs[0])
        src = self.take(out_name)
        p.output = Link("out", src.e, src.bits, src.beats)
        p.out_stream = self.streams[out_name]
        self.block("hk_fifo", "fifo_out", [("W", src.width), ("DEPTH", 2)], src, p.output)
        p.ii = max(l.cycles for l in p.layers) if p.layers else 1
        return p

    def prec_source(self, src: Link, tagged: list) -> Link:
        """The input through hk_prec_src: the in_prec pin, sampled with each sample's first beat, queued
        once per precision-dependent layer (``self.prec_tags``)."""
        pb = max(kind_of(l).PRECISION_BITS for l in tagged)
        self.plan.prec_bits = pb
        tags = [self.link(f"prec_{l.name}", 1, pb, 1) for l in tagged]
        self.prec_tags = {l.name: t for l, t in zip(tagged, tags)}
        out = self.link("in_t", src.e, src.bits, src.beats)
        cat = lambda sfx: "{" + ", ".join(f"{t.name}_{sfx}" for t in reversed(tags)) + "}"  # noqa: E731
        self.add("hk_prec_src", "prec_src", [("W", src.width), ("BEATS", src.beats), ("N", len(tags)), ("PB", pb),
                                             ("DEPTH", 8)],
                 [("clk", "clk"), ("rst", "rst"), ("in_data", f"{src.name}_d"), ("in_valid", f"{src.name}_v"),
                  ("in_ready", f"{src.name}_r"), ("in_prec", "in_prec"), ("out_data", f"{out.name}_d"),
                  ("out_valid", f"{out.name}_v"), ("out_ready", f"{out.name}_r"), ("tag_data", cat("d")),
                  ("tag_valid", cat("v")), ("tag_ready", cat("r"))], "the run-time precision, one tag per sample")
        return out

    def info(self, layer, modules, cycles, pe=0, simd=0, rom=None):
        """Record ``layer``, whose own block is the instance just added."""
        self.plan.layers.append(LayerInfo(layer.name, layer.kind, modules, pe, simd, int(cycles), rom,
                                          self.plan.insts[-1].name))

    def out_link(self, layer, e: int) -> Link:
        st = self.streams[layer.outputs[0]]
        n = int(np.prod(st.shape))
        lk = self.link(f"s_{layer.name}", e, bits(st.dtype), n // e)
        self.stream_link[layer.outputs[0]] = lk
        return lk

    def take_e(self, layer) -> int:
        s = self.resolve(layer.inputs[0])
        return self.stream_link[s].e

    def swg_simd(self, layer) -> int:
        c = self.streams[self.resolve(layer.inputs[0])].channels
        cons = [l for l in self.layers if layer.outputs[0] in l.inputs]
        if cons and isinstance(cons[0], MVU) and cons[0].name in self.folding:
            return self.folding[cons[0].name][1]
        if cons and cons[0].kind == "VVU" and cons[0].name in self.folding:   # a depthwise unit's PE lanes
            return self.folding[cons[0].name][0]
        s = self.resolve(layer.inputs[0])
        e = self.stream_link[s].e if s in self.stream_link else 1
        return math.gcd(e, c)

    def swg(self, layer, src: Link, simd: int, kernel, stride, pad, padv, base) -> tuple[Link, int]:
        """A window generator over ``layer``'s input map (a convolution's or a pool's): (windows, cycles)."""
        h, w, c = self.streams[self.resolve(layer.inputs[0])].shape
        oh = (h + pad[0] + pad[2] - kernel[0]) // stride[0] + 1
        ow = (w + pad[1] + pad[3] - kernel[1]) // stride[1] + 1
        out = self.link(f"{base}_win", simd, src.bits, oh * ow * kernel[0] * kernel[1] * c // simd)
        self.block("hk_swg", base + "_swg", swg_params(h, w, c, simd, src.bits, kernel, stride, pad, padv),
                   src, out, f"{layer.name}: {kernel[0]}x{kernel[1]} windows of {h}x{w}x{c}")
        return out, max(h * w * c // simd, out.beats)


def build_plan(graph: HwGraph, *, target_ii: Optional[int] = None, folding: Optional[dict] = None,
               fifo_depths: Optional[dict] = None, rom_style: str = "auto", family: str = "ecp5") -> Plan:
    """``family``: the FPGA family whose memory primitives decide where each table goes."""
    fold = choose_folding(graph, target_ii, folding)
    return _Builder(graph, fold, dict(fifo_depths or {}), rom_style, family).build()
