"""Translate a normalised QONNX model into an HwGraph by symbolic execution.

Every ONNX tensor is tracked as one of:
- a float constant (initializer),
- :class:`QW`, a quantized constant (weights: integer array and per-element scale),
- :class:`Pre`, the float graph input before its first quantizer (host preprocessing),
- :class:`Sym`, ``real = chain(int stream)`` where ``index`` maps each element of the ONNX tensor
  (one sample) to its flat position in the channels-last stream. Layout ops only rewrite ``index``;
  a MatMul absorbs the permutation into its weight columns.
Elementwise ops extend a chain; a quantizer turns a chain into ShiftRound or Threshold.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwkit.errors import UnsupportedModelError
from hwkit.ir import requant as rq
from hwkit.ir.graph import (MVU, FloatOutput, FloatTail, HwGraph, InputPrep, PrepOp, Probe, Reshape, ShiftRound,
                            Stream, Threshold)
from hwkit.ir.ops_conv import ConvOps
from hwkit.ir.ops_linear import LinearOps
from hwkit.ir.ops_misc import MiscOps
from hwkit.ir.types import BIPOLAR, IntType
from hwkit.ir.typing import infer_layer
from hwkit.ir.values import QW, Pre, Sym, canonical, sanitize, stream_shape_for  # noqa: F401 (re-exported)


class Translator(ConvOps, LinearOps, MiscOps):
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
            if hasattr(layer, "acc"):   # an MVU or VVU: its output stream is its accumulator
                layer = replace(layer, acc=t)
        self.layers.append(layer)
        return out

    def update_mvu(self, mvu: MVU, **changes) -> MVU:
        """Re-emit an MVU this translation made (new rows or bias), retyping its accumulator."""
        new = replace(mvu, **changes)
        t = infer_layer(new, self.streams, self.max_acc_bits)
        new = replace(new, acc=t)
        pos = next(i for i, l in enumerate(self.layers) if l.name == mvu.name)
        self.layers[pos] = new
        self.streams[new.outputs[0]] = replace(self.streams[new.outputs[0]], dtype=t)
        return new

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
        return HwGraph(name, self.streams, self.layers, [self.input_prep.stream], outputs, input_prep=self.input_prep,
                       probes=self.probes, boundaries=self.boundaries, float_outputs=self.float_outputs,
                       constant_outputs=self.constant_outputs)

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

    # ---- quantizers ------------------------------------------------------------------------------
    def _quant_args(self, node):
        attrs = {a.name: a for a in node.attribute}
        signed = bool(attrs["signed"].i) if "signed" in attrs else True
        narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
        mode = attrs["rounding_mode"].s.decode() if "rounding_mode" in attrs else "ROUND"
        return signed, narrow, mode

    def op_Quant(self, node):
        x = self.value(node.input[0])
        scale = self.const(node.input[1], "scale").astype(np.float64)
        zp = self.const(node.input[2], "zero point").astype(np.float64)
        bits = self.const(node.input[3], "bit width")
        if bits.size != 1 or float(bits.ravel()[0]) != int(bits.ravel()[0]):
            self.fail("bit width must be a scalar integer")
        bits = int(bits.ravel()[0])
        signed, narrow, mode = self._quant_args(node)
        if np.any(scale <= 0):
            self.fail("quantizer scale must be positive")
        bipolar = bits == 1 and signed
        dtype = BIPOLAR if bipolar else IntType(bits, signed, narrow=narrow and signed)
        qmin = -1 if bipolar else (-(1 << (bits - 1)) + int(narrow) if signed else 0)
        qmax = 1 if bipolar else ((1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - int(narrow))
        self.quantize(node, x, scale, zp, dtype, qmin, qmax, mode, bipolar)

    def op_BipolarQuant(self, node):
        x = self.value(node.input[0])
        scale = self.const(node.input[1], "scale").astype(np.float64)
        if np.any(scale <= 0):
            self.fail("quantizer scale must be positive")
        self.quantize(node, x, scale, np.zeros(1), BIPOLAR, -1, 1, "ROUND", True)

    def quantize(self, node, x, scale, zp, dtype, qmin, qmax, mode, bipolar):
        out = node.output[0]
        if isinstance(x, np.ndarray):
            self.env[out] = self.quantize_const(x, scale, zp, qmin, qmax, mode, bipolar, dtype)
        elif isinstance(x, Pre):
            self.quantize_input(node, x, scale, zp, dtype, qmin, qmax, mode, bipolar)
        elif isinstance(x, Sym):
            quant = rq.Quantizer(rq.fvec(self.per_channel(scale, x, out)), rq.fvec(self.per_channel(zp, x, out)),
                                 qmin, qmax, mode, bipolar)
            self.requant(x, quant, dtype, out)
        else:
            self.fail("quantizer input of unknown kind")

    def quantize_const(self, w, scale, zp, qmin, qmax, mode, bipolar, dtype):
        if np.any(zp != 0):
            self.fail("weights with a non-zero zero point")
        w32 = w.astype(np.float32)
        u = w32 / scale.astype(np.float32)
        if bipolar:
            q = np.where(u >= 0, 1, -1)
        else:
            from qonnx.custom_op.general.quant import resolve_rounding_mode

            q = resolve_rounding_mode(mode)(np.clip(u, qmin, qmax))
        q = q.astype(np.int64)
        return QW(q, np.broadcast_to(scale, q.shape).astype(np.float64), dtype)

    def quantize_input(self, node, pre, scale, zp, dtype, qmin, qmax, mode, bipolar):
        if self.input_prep is not None:
            self.fail("a second quantizer on the float input: only one input grid is supported")
        shape = self.shape(node.output[0])[1:]
        sshape = stream_shape_for(shape)
        index = canonical(shape) if len(shape) > 1 else np.arange(shape[0])
        sym0 = Sym("", [], index)
        name = self.new_stream("in0", sshape, dtype)
        sym0.stream = name
        s_c = self.per_channel(scale, sym0, node.output[0])
        z_c = self.per_channel(zp, sym0, node.output[0])
        self.streams[name] = replace(self.streams[name], scale=s_c if np.ptp(s_c) else float(s_c[0]))
        self.input_prep = InputPrep(
            stream=name, ops=tuple(prep_op(op) for op in pre.ops), onnx_input=self.model.graph.input[0].name,
            quant_input=node.input[0], onnx_shape=tuple(shape),
            model_input_shape=tuple(self.shape(self.model.graph.input[0].name)[1:]),
            scale=np.broadcast_to(scale, (1,) + shape)[0].astype(np.float32),
            zeropt=np.broadcast_to(zp, (1,) + shape)[0].astype(np.float32),
            qmin=int(qmin), qmax=int(qmax), mode=str(mode), bipolar=bool(bipolar), index=index)
        self.probes[name] = Probe(node.output[0], index, np.asarray(s_c, np.float64), np.asarray(z_c, np.float64))
        chain = [rq.Affine(rq.fvec(s_c), -rq.fvec(z_c) * rq.fvec(s_c))]
        self.env[node.output[0]] = Sym(name, chain, index)

    def annotated_input(self, name):
        """FINN-style models may declare the input integer (qonnx datatype annotation, e.g. BIPOLAR
        or UINT8) instead of quantizing it with a Quant node: then that is the input grid."""
        dt = self.model.get_tensor_datatype(name)
        if dt is None or not dt.is_integer():
            return
        bits = dt.bitwidth()
        bipolar = dt.name == "BIPOLAR"
        signed = dt.signed()
        dtype = BIPOLAR if bipolar else IntType(bits, signed)
        qmin, qmax = (-1, 1) if bipolar else (int(dt.min()), int(dt.max()))
        shape = (1,) + self.shape(name)[1:]
        fake = type(self.model.graph.node[0])(op_type="Quant", name=f"{name}_datatype", input=[name], output=[name])
        self.node = fake
        self.quantize_input(fake, Pre([], shape), np.ones(1), np.zeros(1), dtype, qmin, qmax, "ROUND", bipolar)

    def producer_mvu(self, sym: Sym):
        lay = self.layers[-1] if self.layers else None
        for l in self.layers:
            if sym.stream in l.outputs:
                lay = l
        return lay if hasattr(lay, "acc") and sym.exclusive else None

    def requant(self, x: Sym, quant: rq.Quantizer, dtype: IntType, out: str, out_scale=None, out_zp=None):
        C = self.channels(x)
        st = self.streams[x.stream]
        lo, hi = st.dtype.min, st.dtype.max
        chain = rq.compose(x.chain)
        name = self.layer_name(self.node.name or out)
        sr = self.shift_round(chain, quant, C)
        mvu = self.producer_mvu(x)
        if sr is not None and (not np.any(sr[1]) or mvu is not None):
            shift, bias, relu = sr
            if np.any(bias):
                self.update_mvu(mvu, bias=(mvu.bias if mvu.bias is not None else np.zeros(mvu.mh, np.int64)) + bias)
            qlo = max(quant.qmin, 0) if relu else quant.qmin
            lay = ShiftRound(name, [x.stream], [], shift=shift, rounding="floor" if quant.mode.upper() == "FLOOR"
                             else "half_even", lo=qlo, hi=quant.qmax)
        else:
            try:
                T, neg = rq.thresholds(chain, quant, C, lo, hi)
            except ValueError as e:
                self.fail(str(e))
            if np.any(neg):
                if mvu is None:
                    self.fail("decreasing requantization (negative scale) on a stream that is not a private MVU output")
                sign = np.where(neg, -1, 1).astype(np.int64)
                self.update_mvu(mvu, weights=mvu.weights * sign[:, None],
                                bias=None if mvu.bias is None else mvu.bias * sign)
            bnd = rq.boundaries(chain, quant, C)
            bnd[neg] *= -1
            self.boundaries[name] = bnd
            base = -1 if quant.bipolar else quant.qmin
            lay = Threshold(name, [x.stream], [], thresholds=T, base=base)
        oscale = quant.scale if out_scale is None else out_scale
        ozp = quant.zeropt if out_zp is None else out_zp
        s_c = np.array([float(v) for v in oscale])
        z_c = np.array([float(v) for v in ozp])
        sout = self.emit(lay, st.shape, out, dtype=dtype, scale=s_c if np.ptp(s_c) else float(s_c[0]))
        self.probes[sout] = Probe(out, x.index, s_c, z_c)
        self.env[out] = Sym(sout, [rq.Affine(oscale, -ozp * oscale)], x.index)

    def shift_round(self, chain, quant: rq.Quantizer, C):
        """(shift, integer bias per channel, relu) when requantization is a power-of-two shift."""
        if quant.bipolar or quant.trunc_shift or quant.mode.upper() not in ("ROUND", "HALF_EVEN", "FLOOR"):
            return None
        relu = False
        if chain and isinstance(chain[-1], rq.Max):
            if not all(m == 0 for m in chain[-1].m) or any(z != 0 for z in quant.zeropt):
                return None
            relu, chain = True, chain[:-1]
        if len(chain) != 1 or not isinstance(chain[0], rq.Affine):
            return None
        a, b = chain[0].a, chain[0].b
        alpha = {a[c] / quant.scale[c] for c in range(C)}
        if len(alpha) != 1:
            return None
        alpha = alpha.pop()
        num, den = alpha.numerator, alpha.denominator
        if alpha <= 0 or num & (num - 1) or den & (den - 1):
            return None
        shift = den.bit_length() - num.bit_length()  # alpha = 2**-shift
        beta = [b[c] / quant.scale[c] + quant.zeropt[c] for c in range(C)]
        bias = [x * Fraction(2) ** shift for x in beta]
        if any(x.denominator != 1 for x in bias):
            return None
        return shift, np.array([int(x) for x in bias], dtype=np.int64), relu

    def op_Trunc(self, node):
        """QONNX Trunc: ``q = R(round(v/s + z) / 2**m)``; v2 (6 inputs) clips to its output type and
        rescales by ``output_scale``, v1 keeps ``s`` and does not clip."""
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Trunc on something other than a quantized stream")
        out = node.output[0]
        scale = self.const(node.input[1]).astype(np.float64)
        zp = self.const(node.input[2]).astype(np.float64)
        attrs = {a.name: a for a in node.attribute}
        mode = attrs["rounding_mode"].s.decode() if "rounding_mode" in attrs else "FLOOR"
        s_c, z_c = self.per_channel(scale, x, out), self.per_channel(zp, x, out)
        ibw = int(self.const(node.input[3]).ravel()[0])
        if len(node.input) >= 6:
            oscale = self.const(node.input[4]).astype(np.float64)
            obw = int(self.const(node.input[5]).ravel()[0])
            os_c = self.per_channel(oscale, x, out)
            ratio = {Fraction(float(o)) / Fraction(float(si)) for o, si in zip(os_c, s_c)}
            if len(ratio) != 1:
                self.fail("Trunc output/input scale ratio differs per channel")
            m = int(np.round(np.log2(float(ratio.pop()))))
            signed = bool(attrs["signed"].i) if "signed" in attrs else True
            narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
            qmin = -(1 << (obw - 1)) + int(narrow) if signed else 0
            qmax = (1 << (obw - 1)) - 1 if signed else (1 << obw) - 1 - int(narrow)
            zq = rq.fvec(z_c) / (1 << m) if m >= 0 else rq.fvec(z_c) * (1 << -m)
            quant = rq.Quantizer(rq.fvec(s_c), rq.fvec(z_c), qmin, qmax, mode, False, trunc_shift=m)
            self.requant(x, quant, IntType.for_range(qmin, qmax), out, out_scale=rq.fvec(os_c), out_zp=zq)
            return
        obw = int(self.const(node.input[4]).ravel()[0])
        quant = rq.Quantizer(rq.fvec(s_c), rq.fvec(z_c), 0, 0, mode, False, trunc_shift=ibw - obw)
        st = self.streams[x.stream]
        chain = rq.compose(x.chain)
        qs = []  # level range from the exact chain at the ends of the input range (it is monotone)
        for c in range(self.channels(x)):
            for n in (st.dtype.min, st.dtype.max):
                v = self.eval_chain(chain, c, n)
                u = Fraction(round(v / quant.scale[c] + quant.zeropt[c]))
                qs.append(self.apply_round(mode, u / (1 << quant.trunc_shift)))
        quant.qmin, quant.qmax = min(qs), max(qs)
        self.requant(x, quant, IntType.for_range(quant.qmin, quant.qmax), out)

    @staticmethod
    def apply_round(mode, u):
        import math

        mode = mode.upper()
        if mode == "FLOOR":
            return math.floor(u)
        if mode == "CEIL":
            return math.ceil(u)
        if mode in ("ROUND", "HALF_EVEN"):
            return round(u)
        raise UnsupportedModelError(f"Trunc rounding mode {mode} is not supported")

    @staticmethod
    def eval_chain(chain, c, n):
        v = Fraction(n)
        for op in chain:
            if isinstance(op, rq.Affine):
                v = op.a[c] * v + op.b[c]
            elif isinstance(op, rq.Max):
                v = max(v, op.m[c])
            else:
                v = min(v, op.m[c])
        return v


def prep_op(op: tuple) -> PrepOp:
    """A host op recorded while translating (:class:`hwkit.ir.values.Pre`) as a typed record."""
    if op[0] in ("Reshape", "Transpose"):
        return PrepOp(op[0], tuple(int(v) for v in op[1]))
    return PrepOp(op[0], const=np.asarray(op[1], dtype=np.float32), swapped=bool(op[2]))
