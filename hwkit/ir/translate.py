"""The translation step of lowering: a normalised QONNX model -> HwGraph, by symbolic execution.

Every ONNX tensor is tracked as one of:
- a float constant (initializer),
- :class:`QW`, a quantized constant (weights: integer array and per-element scale),
- :class:`Pre`, the float graph input before its first quantizer (host preprocessing),
- :class:`Sym`, ``real = chain(int stream)`` where ``index`` maps each element of the ONNX tensor
  (one sample) to its flat position in the channels-last stream. Layout ops only rewrite ``index``;
  a MatMul absorbs the permutation into its weight columns.
One rule per ONNX op type (``op_<type>``, in :mod:`hwkit.ir.ops_linear`, :mod:`hwkit.ir.ops_misc`,
:mod:`hwkit.ir.ops_quant`) extends a chain or emits layers; a quantizer on a stream becomes a
requantization site that the passes of :mod:`hwkit.ir.lowering.requantize` decide. Their changes to
the producing MVU's rows are applied once, when the graph is assembled (:meth:`Translator.assemble`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwkit.errors import UnsupportedModelError
from hwkit.ir import requant as rq
from hwkit.ir.graph import MVU, FloatOutput, FloatTail, HwGraph, InputPrep, Probe, Reshape, Stream
from hwkit.ir.lowering.graph_passes import accumulates
from hwkit.ir.ops_layout import LayoutOps
from hwkit.ir.ops_conv import ConvOps
from hwkit.ir.ops_linear import LinearOps
from hwkit.ir.ops_misc import MiscOps
from hwkit.ir.ops_quant import QuantOps, prep_op  # noqa: F401 (prep_op re-exported)
from hwkit.ir.ops_tv import TVOps
from hwkit.ir.types import IntType
from hwkit.ir.typing import infer_layer
from hwkit.ir.values import QW, Pre, Sym, canonical, sanitize, stream_shape_for  # noqa: F401 (re-exported)


class Translator(ConvOps, LinearOps, MiscOps, QuantOps, LayoutOps, TVOps):
    def __init__(self, model: ModelWrapper, max_acc_bits: int = 32):
        self.model = model
        self.max_acc_bits = max_acc_bits
        self.env: dict = {}
        self.streams: dict[str, Stream] = {}
        self.layers: list = []
        # what ties the graph to the ONNX model (typed records of HwGraph)
        self.input_prep: InputPrep | None = None
        self.probes: dict[str, Probe] = {}
        self.boundaries: dict[str, np.ndarray] = {}
        self.float_outputs: dict[str, FloatOutput] = {}
        self.constant_outputs: list[str] = []
        self.row_edits: dict[str, tuple] = {}  # MVU name -> (bias to add, row sign), from requantization
        self.node = None

    # ---- helpers ---------------------------------------------------------------------------------
    def fail(self, why: str):
        n = self.node
        raise UnsupportedModelError(f"node '{n.name}' ({n.op_type}): {why}")

    def shape(self, name):
        return tuple(int(d) for d in self.model.get_tensor_shape(name))

    def value(self, name):
        if name == "":
            return None
        if name in self.env:
            return self.env[name]
        init = self.model.get_initializer(name)
        if init is not None:
            return np.asarray(init)
        self.fail(f"input '{name}' is neither computed nor an initializer")

    def const(self, name, what="constant"):
        v = self.value(name)
        if isinstance(v, QW):  # a quantized constant (bias): its float32 value, as qonnx computes it
            v = (v.q.astype(np.float32) * v.scale.astype(np.float32)).astype(np.float32)
        if not isinstance(v, np.ndarray):
            self.fail(f"{what} '{name}' must be a constant initializer")
        return v

    def new_stream(self, base: str, shape, dtype: IntType, scale=1.0) -> str:
        name, i = sanitize(base), 1
        while name in self.streams:
            name, i = f"{sanitize(base)}_{i}", i + 1
        self.streams[name] = Stream(name, tuple(int(s) for s in shape), dtype, scale)
        return name

    def layer_name(self, base: str) -> str:
        taken = {l.name for l in self.layers}
        name, i = sanitize(base), 1
        while name in taken:
            name, i = f"{sanitize(base)}_{i}", i + 1
        return name

    def emit(self, layer, out_shape, out_base, dtype=None, scale=1.0):
        out = self.new_stream(out_base, out_shape, dtype or IntType(1, False), scale)
        layer = replace(layer, outputs=(out,))
        if dtype is None:
            t = infer_layer(layer, self.streams, self.max_acc_bits)
            self.streams[out] = replace(self.streams[out], dtype=t)
            if accumulates(layer):
                layer = replace(layer, acc=t)
        self.layers.append(layer)
        return out

    def finish_mvu(self, mvu: MVU) -> MVU:
        """The MVU with the row changes its requantization decided (bias absorbed, rows flipped),
        accumulator retyped."""
        if mvu.name not in self.row_edits:
            return mvu
        bias, sign = self.row_edits[mvu.name]
        changes = {}
        if bias is not None:
            changes["bias"] = (mvu.bias if mvu.bias is not None else np.zeros(mvu.mh, np.int64)) + bias
        if sign is not None:
            changes.update(weights=mvu.weights * sign[:, None], bias=None if mvu.bias is None else mvu.bias * sign)
        new = replace(mvu, **changes)
        return replace(new, acc=infer_layer(new, self.streams, self.max_acc_bits))

    def record_rows(self, mvu_name: str, edit: tuple):
        """Keep a site's row changes for :meth:`assemble`; typed now, so that an accumulator too wide
        is reported at the quantizer that widened it."""
        self.row_edits[mvu_name] = edit
        self.finish_mvu(next(l for l in self.layers if l.name == mvu_name))

    def assemble(self, name: str, outputs: list) -> HwGraph:
        """The HwGraph from the emitted layers, each MVU built once with its row changes."""
        layers = []
        for layer in self.layers:
            if accumulates(layer) and layer.name in self.row_edits:
                layer = self.finish_mvu(layer)
                out = layer.outputs[0]
                self.streams[out] = replace(self.streams[out], dtype=layer.acc)
            layers.append(layer)
        return HwGraph(name, self.streams, layers, [self.input_prep.stream], outputs, input_prep=self.input_prep,
                       probes=self.probes, boundaries=self.boundaries, float_outputs=self.float_outputs,
                       constant_outputs=self.constant_outputs)

    def per_channel(self, const, sym: Sym, onnx_name) -> np.ndarray:
        """A constant broadcast against an ONNX tensor -> one value per stream channel (float64)."""
        shape = (1,) + sym.index.shape
        const = np.asarray(const, dtype=np.float64)
        try:
            full = np.broadcast_to(const, shape)[0] if const.ndim <= len(shape) else None
        except ValueError:
            full = None
        if full is None:
            self.fail(f"constant of shape {const.shape} does not broadcast to {shape}")
        st = self.streams[sym.stream]
        flat = np.empty(int(np.prod(st.shape)))
        flat[sym.index.ravel()] = full.ravel()
        rows = flat.reshape(-1, st.channels)
        if not np.all(rows == rows[0]):
            self.fail("a per-element constant that is not per-channel in the channels-last stream")
        return rows[0].copy()

    def channels(self, sym: Sym) -> int:
        return self.streams[sym.stream].channels

    def producer_mvu(self, sym: Sym):
        """The MVU (or other layer whose output is its accumulator) that ``sym`` reads, if that output
        feeds only this value (its rows may change)."""
        lay = self.layers[-1] if self.layers else None
        for l in self.layers:
            if sym.stream in l.outputs:
                lay = l
        return lay if accumulates(lay) and sym.exclusive else None

    def is_single_use(self, tensor: str) -> bool:
        return len(self.model.find_consumers(tensor)) <= 1 and tensor not in [o.name for o in
                                                                            self.model.graph.output]

    # ---- main loop -------------------------------------------------------------------------------
    def run(self) -> HwGraph:
        m = self.model
        inp = m.graph.input[0]
        self.env[inp.name] = Pre([], self.shape(inp.name))
        self.annotated_input(inp.name)
        for node in m.graph.node:
            self.node = node
            if node.output and node.output[0] in self.tv_skip:   # inside a matched TV step (hwkit.ir.ops_tv)
                continue
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None:
                self.fail("op type has no hwkit lowering")
            handler(node)
        outputs = []
        self.node = m.graph.node[-1] if len(m.graph.node) else None
        for o in m.graph.output:
            if not isinstance(self.env.get(o.name, self.model.get_initializer(o.name)), Sym):
                if o.name in self.env and isinstance(self.env[o.name], Pre):
                    self.fail(f"graph output '{o.name}' is the unquantized input")
                self.constant_outputs.append(o.name)
                continue  # quant-tensor metadata (scale, zero point, bit width): not data
            outputs.append(self.finish_output(o.name))
        if not outputs:
            raise UnsupportedModelError("no graph output is computed from the quantized input")
        name = sanitize(m.graph.name or "model")
        if self.input_prep is None:
            raise UnsupportedModelError("graph input never reaches a Quant/BipolarQuant: its integer grid is unknown")
        return self.assemble(name, outputs)

    def finish_output(self, tensor):
        v = self.env.get(tensor)
        if not isinstance(v, Sym):
            self.fail(f"graph output '{tensor}' is not computed from the quantized input")
        ab = rq.as_affine(v.chain)
        if ab is None:
            self.fail(f"graph output '{tensor}' ends in a non-affine float op that is not requantized")
        stream = v.stream
        st = self.streams[stream]
        onnx_shape = v.index.shape
        if not np.array_equal(v.index.ravel(), np.arange(v.index.size)):
            perm = self.find_perm(st.shape, v.index)
            lay = Reshape(self.layer_name(f"{tensor}_layout"), [stream], [], perm=perm, shape=onnx_shape)
            stream = self.emit(lay, onnx_shape, f"{tensor}_layout", dtype=st.dtype)
            a = np.array([float(x) for x in ab[0]])
            b = np.array([float(x) for x in ab[1]])
            src = np.arange(st.size if hasattr(st, "size") else int(np.prod(st.shape))) % st.channels
            ch = src.reshape(st.shape).transpose(perm).reshape(onnx_shape)
            scale, offset = a[ch], b[ch]
        else:
            scale = np.array([float(x) for x in ab[0]])
            offset = np.array([float(x) for x in ab[1]])
        fout = sanitize(tensor) + "_float"
        tail = FloatTail(self.layer_name(f"{tensor}_tail"), [stream], [fout], scale=scale, offset=offset,
                         softmax="softmax" in v.tail, ops=list(v.tail))
        self.layers.append(tail)
        self.float_outputs[stream] = FloatOutput(fout, tensor)
        return stream

    @staticmethod
    def find_perm(stream_shape, index):
        from itertools import permutations

        base = np.arange(index.size).reshape(stream_shape)
        for p in permutations(range(len(stream_shape))):
            if np.array_equal(base.transpose(p).ravel(), index.ravel()):
                return tuple(p)
        raise UnsupportedModelError("output layout is not a transpose of the stream")
