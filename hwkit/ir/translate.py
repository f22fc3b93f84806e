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

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwkit.errors import UnsupportedModelError
from hwkit.ir import requant as rq
from hwkit.ir.graph import (MVU, Add, FloatTail, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Stream,
                            Threshold)
from hwkit.ir.types import BIPOLAR, IntType
from hwkit.ir.typing import infer_layer


@dataclass
class QW:
    q: np.ndarray  # int64, ONNX shape
    scale: np.ndarray  # float64, broadcast to q's shape
    dtype: IntType


@dataclass
class Pre:
    ops: list
    shape: tuple


@dataclass
class Sym:
    stream: str
    chain: list
    index: np.ndarray
    exclusive: bool = False  # the producer MVU feeds only this chain: its rows may be rewritten
    tail: list = field(default_factory=list)


def sanitize(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and not s[0].isdigit() else "t_" + s


def canonical(shape_chw: tuple) -> np.ndarray:
    """ONNX (C, H, W) element -> flat index in an (H, W, C) stream."""
    c, *sp = shape_chw
    idx = np.arange(int(np.prod(shape_chw))).reshape(*sp, c)
    return np.moveaxis(idx, -1, 0)


def stream_shape_for(shape: tuple) -> tuple:
    return tuple(shape[1:]) + (shape[0],) if len(shape) > 1 else tuple(shape)


class Translator:
    def __init__(self, model: ModelWrapper, max_acc_bits: int = 32):
        self.model = model
        self.max_acc_bits = max_acc_bits
        self.env: dict = {}
        self.streams: dict[str, Stream] = {}
        self.layers: list = []
        self.meta: dict = {"probes": {}, "boundaries": {}, "float_outputs": {}, "input_prep": None}
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
        layer.outputs = [out]
        self.layers.append(layer)
        if dtype is None:
            self.streams[out].dtype = infer_layer(layer, self.streams, self.max_acc_bits)
        return out

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
                self.meta.setdefault("constant_outputs", []).append(o.name)
                continue  # quant-tensor metadata (scale, zero point, bit width): not data
            outputs.append(self.finish_output(o.name))
        if not outputs:
            raise UnsupportedModelError("no graph output is computed from the quantized input")
        name = sanitize(m.graph.name or "model")
        if self.meta["input_prep"] is None:
            raise UnsupportedModelError("graph input never reaches a Quant/BipolarQuant: its integer grid is unknown")
        return HwGraph(name, self.streams, self.layers, [self.meta["input_prep"]["stream"]], outputs, self.meta)

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
        self.meta["float_outputs"][stream] = {"name": fout, "onnx": tensor}
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
        if self.meta["input_prep"] is not None:
            self.fail("a second quantizer on the float input: only one input grid is supported")
        shape = self.shape(node.output[0])[1:]
        sshape = stream_shape_for(shape)
        index = canonical(shape) if len(shape) > 1 else np.arange(shape[0])
        sym0 = Sym("", [], index)
        name = self.new_stream(node.output[0] if False else "in0", sshape, dtype)
        sym0.stream = name
        s_c = self.per_channel(scale, sym0, node.output[0])
        z_c = self.per_channel(zp, sym0, node.output[0])
        self.streams[name].scale = s_c if np.ptp(s_c) else float(s_c[0])
        self.meta["input_prep"] = {"stream": name, "ops": pre.ops, "onnx_input": self.model.graph.input[0].name,
                                   "quant_input": node.input[0], "onnx_shape": shape,
                                   "model_input_shape": self.shape(self.model.graph.input[0].name)[1:],
                                   "scale": np.broadcast_to(scale, (1,) + shape)[0].astype(np.float32),
                                   "zeropt": np.broadcast_to(zp, (1,) + shape)[0].astype(np.float32),
                                   "qmin": qmin, "qmax": qmax, "mode": mode, "bipolar": bipolar,
                                   "index": index}
        self.meta["probes"][name] = {"onnx": node.output[0], "index": index, "scale": s_c, "zeropt": z_c}
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
        return lay if isinstance(lay, MVU) and sym.exclusive else None

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
                mvu.bias = (mvu.bias if mvu.bias is not None else np.zeros(mvu.mh, np.int64)) + bias
                st.dtype = infer_layer(mvu, self.streams, self.max_acc_bits)
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
                mvu.weights = mvu.weights * sign[:, None]
                if mvu.bias is not None:
                    mvu.bias = mvu.bias * sign
                st.dtype = infer_layer(mvu, self.streams, self.max_acc_bits)
            bnd = rq.boundaries(chain, quant, C)
            bnd[neg] *= -1
            self.meta["boundaries"][name] = bnd
            base = -1 if quant.bipolar else quant.qmin
            lay = Threshold(name, [x.stream], [], thresholds=T, base=base)
        oscale = quant.scale if out_scale is None else out_scale
        ozp = quant.zeropt if out_zp is None else out_zp
        s_c = np.array([float(v) for v in oscale])
        z_c = np.array([float(v) for v in ozp])
        sout = self.emit(lay, st.shape, out, dtype=dtype, scale=s_c if np.ptp(s_c) else float(s_c[0]))
        self.meta["probes"][sout] = {"onnx": out, "index": x.index, "scale": s_c, "zeropt": z_c}
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

    # ---- linear layers ---------------------------------------------------------------------------
    def weight(self, name, what="weight") -> QW:
        w = self.value(name)
        if isinstance(w, QW):
            return w
        if isinstance(w, np.ndarray):
            if np.all(w == np.round(w)):
                q = w.astype(np.int64)
                return QW(q, np.ones(q.shape), IntType.for_range(min(q.min(), 0), max(q.max(), 0)))
            self.fail(f"{what} '{name}' is a float tensor without a quantizer")
        self.fail(f"{what} '{name}' is computed at run time; hwkit needs constant weights")

    def input_affine(self, x: Sym):
        ab = rq.as_affine(x.chain)
        if ab is None:
            self.fail("input is not quantized (a float op between quantizer and linear layer)")
        a, b = ab
        if len(set(a)) != 1:
            self.fail("input scale differs per channel; it cannot be factored out of the weights")
        return a[0], b

    def flat_stream(self, x: Sym) -> str:
        st = self.streams[x.stream]
        if len(st.shape) == 1:
            return x.stream
        size = int(np.prod(st.shape))
        lay = Reshape(self.layer_name(f"{self.node.name}_flatten"), [x.stream], [], perm=None, shape=(size,))
        return self.emit(lay, (size,), f"{x.stream}_flat", dtype=st.dtype, scale=st.scale)

    def mvu_out(self, node, mvu, x_a, w: QW, const_term, out_shape_stream, index):
        sw = w.scale  # per output channel
        a = np.array([x_a * Fraction(float(s)) for s in sw], dtype=object)
        af = np.array([float(v) for v in a])
        # the accumulator's real value is acc * scale + (bias terms folded into the chain)
        out = self.emit(mvu, out_shape_stream, node.output[0], scale=af if np.ptp(af) else float(af[0]))
        self.env[node.output[0]] = Sym(out, [rq.Affine(a, const_term)], index,
                                       exclusive=self.is_single_use(node.output[0]))

    def op_MatMul(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("MatMul's first input must be the quantized data stream")
        w = self.weight(node.input[1])
        if x.index.ndim != 1 or w.q.ndim != 2:
            self.fail(f"MatMul on per-sample shape {x.index.shape}; only vectors are lowered")
        K, N = w.q.shape
        sw = w.scale
        if not np.all(sw == sw[0:1, :]):
            self.fail("weight scale varies along the input dimension")
        x_a, x_b = self.input_affine(x)
        src = self.flat_stream(x)
        size = int(np.prod(self.streams[src].shape))
        if x.index.size != size:
            self.fail("MatMul input does not cover its whole stream")
        W = np.zeros((N, size), dtype=np.int64)
        W[:, x.index.ravel()] = w.q.T
        const = self.bias_term(w.q.T, sw[0], x_b, x)
        mvu = MVU(self.layer_name(node.name), [src], [], weights=W, wtype=w.dtype)
        self.mvu_out(node, mvu, x_a, QW(w.q, sw[0], w.dtype), const, (N,), np.arange(N))

    def op_Gemm(self, node):
        attrs = {a.name: (a.f if a.type == 1 else a.i) for a in node.attribute}
        if attrs.get("transA", 0):
            self.fail("Gemm with transA=1")
        w = self.weight(node.input[1])
        if attrs.get("transB", 0):
            w = QW(w.q.T, w.scale.T, w.dtype)
        tmp = node.output[0]
        self.env[node.input[1] + "__gemmw"] = w
        mm = type(node)(op_type="MatMul", name=node.name, input=[node.input[0], node.input[1] + "__gemmw"],
                        output=[tmp])
        self.op_MatMul(mm)
        y = self.env[tmp]
        alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
        C = y.index.size
        chain = list(y.chain)
        if alpha != 1.0:
            chain.append(rq.Affine(rq.fvec(np.full(C, np.float32(alpha))), rq.fvec(np.zeros(C))))
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node.input[2], "Gemm bias").astype(np.float64) * np.float64(np.float32(beta))
            chain.append(rq.Affine(rq.fvec(np.ones(C)), rq.fvec(self.per_channel(c, y, node.output[0]))))
        self.env[node.output[0]] = Sym(y.stream, chain, y.index, y.exclusive)

    def bias_term(self, wq_oi, sw_o, x_b, x: Sym, by_channel=None):
        """sum_i W_real[o, i] * b_i for an input offset b (per channel of the input stream)."""
        n_out = wq_oi.shape[0]
        if all(v == 0 for v in x_b):
            return rq.fvec(np.zeros(n_out))
        C = self.channels(x)
        chan = by_channel if by_channel is not None else (x.index.ravel() % C)
        out = np.empty(n_out, dtype=object)
        for o in range(n_out):
            out[o] = Fraction(0)
        for c in range(C):
            if x_b[c] == 0:
                continue
            sums = wq_oi[:, chan == c].sum(axis=1)
            for o in range(n_out):
                out[o] += x_b[c] * int(sums[o])
        return np.array([Fraction(float(sw_o[o])) * out[o] for o in range(n_out)], dtype=object)

    def op_Conv(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Conv's first input must be the quantized data stream")
        w = self.weight(node.input[1])
        attrs = {a.name: a for a in node.attribute}
        if x.index.ndim != 3 or w.q.ndim != 4:
            self.fail("only 2D convolutions are lowered")
        if "group" in attrs and attrs["group"].i != 1:
            self.fail("grouped/depthwise convolution is not supported")
        if "dilations" in attrs and any(d != 1 for d in attrs["dilations"].ints):
            self.fail("dilated convolution is not supported")
        if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"NOTSET", b""):
            self.fail("auto_pad is not supported; export with explicit pads")
        C, H, Wd = x.index.shape
        if not np.array_equal(x.index, canonical((C, H, Wd))):
            self.fail("Conv input layout is not a plain NCHW tensor")
        O, Ci, KH, KW = w.q.shape
        kernel = (KH, KW)
        stride = tuple(attrs["strides"].ints) if "strides" in attrs else (1, 1)
        pads = tuple(attrs["pads"].ints) if "pads" in attrs else (0, 0, 0, 0)
        sw = w.scale.reshape(O, -1)
        if not np.all(sw == sw[:, :1]):
            self.fail("weight scale varies inside one output channel")
        x_a, x_b = self.input_affine(x)
        pad_value = 0
        if any(pads) and any(v != 0 for v in x_b):
            pv = {-(b / x_a) for b in x_b}
            if len(pv) != 1 or next(iter(pv)).denominator != 1:
                self.fail("zero padding of an input with offset that is not an integer grid point")
            pad_value = int(next(iter(pv)))
        OH = (H + pads[0] + pads[2] - KH) // stride[0] + 1
        OW = (Wd + pads[1] + pads[3] - KW) // stride[1] + 1
        st = self.streams[x.stream]
        swg = SlidingWindow(self.layer_name(f"{node.name}_swg"), [x.stream], [], kernel=kernel, stride=stride,
                            pad=pads, pad_value=pad_value)
        win = self.emit(swg, (OH, OW, KH * KW * C), f"{node.output[0]}_win", dtype=st.dtype, scale=st.scale)
        Wm = w.q.transpose(0, 2, 3, 1).reshape(O, KH * KW * C)
        chan = np.tile(np.arange(C), KH * KW)
        const = self.bias_term(Wm, sw[:, 0], x_b, x, by_channel=chan)
        if len(node.input) > 2 and node.input[2]:
            b = self.const(node.input[2], "conv bias")
            const = const + rq.fvec(b, O)
        mvu = MVU(self.layer_name(node.name), [win], [], weights=Wm, wtype=w.dtype)
        self.mvu_out(node, mvu, x_a, QW(w.q, sw[:, 0], w.dtype), const, (OH, OW, O), canonical((O, OH, OW)))

    def op_ConvTranspose(self, node):
        """Stride-1 transposed convolution = convolution with the kernel flipped and in/out swapped."""
        from onnx import helper

        w = self.weight(node.input[1])
        attrs = {a.name: a for a in node.attribute}
        if "strides" in attrs and any(v != 1 for v in attrs["strides"].ints):
            self.fail("strided ConvTranspose is not supported")
        if "output_padding" in attrs and any(attrs["output_padding"].ints):
            self.fail("ConvTranspose output_padding is not supported")
        if "group" in attrs and attrs["group"].i != 1:
            self.fail("grouped ConvTranspose is not supported")
        if w.q.ndim != 4:
            self.fail("only 2D ConvTranspose is lowered")
        KH, KW = w.q.shape[2:]
        pads = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        if any(p > k - 1 for p, k in zip(pads, (KH, KW, KH, KW))):
            self.fail("ConvTranspose padding larger than kernel - 1")
        flip = lambda a: np.ascontiguousarray(a[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        wname = node.input[1] + "__convT"
        self.env[wname] = QW(flip(w.q), flip(w.scale), w.dtype)
        newpads = [KH - 1 - pads[0], KW - 1 - pads[1], KH - 1 - pads[2], KW - 1 - pads[3]]
        inputs = [node.input[0], wname] + list(node.input[2:])
        conv = helper.make_node("Conv", inputs, list(node.output), name=node.name, kernel_shape=[KH, KW],
                                pads=newpads, strides=[1, 1])
        self.op_Conv(conv)

    # ---- elementwise -----------------------------------------------------------------------------
    def extend(self, node, x: Sym, op):
        if x.tail:
            self.fail("operation after the float tail (softmax)")
        self.env[node.output[0]] = Sym(x.stream, x.chain + [op], x.index,
                                       exclusive=x.exclusive and self.is_single_use(node.output[0]))

    def binary(self, node, fn_sym, fn_pre, two_streams=None):
        a, b = self.value(node.input[0]), self.value(node.input[1])
        a = self.const(node.input[0]) if isinstance(a, QW) else a
        b = self.const(node.input[1]) if isinstance(b, QW) else b
        if isinstance(a, Sym) and isinstance(b, Sym):
            if two_streams is None:
                self.fail("product of two data streams")
            return two_streams(a, b)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            self.fail("constant expression left after constant folding")
        swap = not isinstance(a, (Sym, Pre))
        x, c = (b, a) if swap else (a, b)
        if isinstance(x, Pre):
            self.env[node.output[0]] = Pre(x.ops + [fn_pre(c.astype(np.float32), swap)], x.shape)
            return
        cv = rq.fvec(self.per_channel(c, x, node.output[0]))
        self.extend(node, x, fn_sym(cv, swap))

    def op_Add(self, node):
        one, zero = None, None
        self.binary(node, lambda c, s: rq.Affine(rq.fvec(np.ones(len(c))), c), lambda c, s: ("Add", c, s),
                    lambda a, b: self.residual(node, a, b, 1))

    def op_Sub(self, node):
        def sym(c, swapped):
            ones = rq.fvec(np.ones(len(c)))
            return rq.Affine(-ones, c) if swapped else rq.Affine(ones, -c)

        self.binary(node, sym, lambda c, s: ("Sub", c, s), lambda a, b: self.residual(node, a, b, -1))

    def op_Mul(self, node):
        self.binary(node, lambda c, s: rq.Affine(c, rq.fvec(np.zeros(len(c)))), lambda c, s: ("Mul", c, s))

    def op_Div(self, node):
        def sym(c, swapped):
            if swapped:
                self.fail("division by a data stream")
            if any(v == 0 for v in c):
                self.fail("division by zero")
            return rq.Affine(np.array([1 / v for v in c], dtype=object), rq.fvec(np.zeros(len(c))))

        self.binary(node, sym, lambda c, s: ("Div", c, s))

    def residual(self, node, a: Sym, b: Sym, sign):
        pa, pb = rq.as_affine(a.chain), rq.as_affine(b.chain)
        if pa is None or pb is None:
            self.fail("residual add of streams that are not requantized")
        if not np.array_equal(a.index, b.index) or self.streams[a.stream].shape != self.streams[b.stream].shape:
            self.fail("residual add of streams with different layouts")
        ratios = {pa[0][c] / pb[0][c] for c in range(len(pa[0]))}
        if len(ratios) != 1:
            self.fail("residual add with per-channel scale ratios")
        r = ratios.pop()
        num, den = r.numerator, r.denominator
        if r <= 0 or num & (num - 1) or den & (den - 1):
            self.fail(f"residual add of streams whose scales differ by {float(r)}, not a power of two")
        # align to the finer scale: the coarser operand is shifted left
        if r >= 1:
            shifts, a_out = (num.bit_length() - 1, 0), pb[0]
        else:
            shifts, a_out = (0, den.bit_length() - 1), pa[0]
        lay = Add(self.layer_name(node.name), [a.stream, b.stream], [], shifts=shifts, signs=(1, sign))
        out = self.emit(lay, self.streams[a.stream].shape, node.output[0])
        self.env[node.output[0]] = Sym(out, [rq.Affine(a_out, pa[1] + sign * pb[1])], a.index)

    def op_Relu(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Relu before the input quantizer")
        self.extend(node, x, rq.Max(rq.fvec(np.zeros(self.channels(x)))))

    def op_Clip(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Clip before the input quantizer")
        C = self.channels(x)
        lo = self.value(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = self.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        chain = x.chain
        if lo is not None:
            chain = chain + [rq.Max(rq.fvec(lo, C))]
        if hi is not None:
            chain = chain + [rq.Min(rq.fvec(hi, C))]
        self.env[node.output[0]] = Sym(x.stream, chain, x.index, x.exclusive and self.is_single_use(node.output[0]))

    def op_BatchNormalization(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("BatchNormalization before the input quantizer")
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (self.const(n).astype(np.float64).ravel() for n in node.input[1:5])
        if x.index.shape[0] != gamma.size:
            self.fail("BatchNormalization channel count does not match")
        const_shape = (-1,) + (1,) * (x.index.ndim - 1)
        a = np.empty(gamma.size, dtype=object)
        b = np.empty(gamma.size, dtype=object)
        eps_f = Fraction(float(np.float32(eps)))
        for c in range(gamma.size):
            a[c] = Fraction(gamma[c]) / rq.exact_sqrt(Fraction(var[c]) + eps_f)
            b[c] = Fraction(beta[c]) - Fraction(mean[c]) * a[c]
        # map ONNX channel (axis 1) -> stream channel; go through per_channel with float placeholders
        idx = np.arange(gamma.size, dtype=np.float64).reshape(const_shape)
        src = self.per_channel(idx, x, node.output[0]).astype(np.int64)
        self.extend(node, x, rq.Affine(a[src], b[src]))

    # ---- layout ----------------------------------------------------------------------------------
    def relayout(self, node, fn, pre_op):
        x = self.value(node.input[0])
        if isinstance(x, Pre):
            self.env[node.output[0]] = Pre(x.ops + [pre_op], x.shape)
        elif isinstance(x, Sym):
            self.env[node.output[0]] = Sym(x.stream, x.chain, fn(x.index), x.exclusive, x.tail)
        elif isinstance(x, QW):
            q = fn(x.q)
            self.env[node.output[0]] = QW(q, fn(x.scale), x.dtype)
        else:
            self.fail("layout op on an unsupported value")

    def op_Reshape(self, node):
        shape = self.shape(node.output[0])
        if isinstance(self.value(node.input[0]), QW):
            return self.relayout(node, lambda a: a.reshape(shape), None)
        if shape[0] != 1:
            self.fail(f"Reshape to {shape} mixes the batch dimension")
        self.relayout(node, lambda a: a.reshape(shape[1:]), ("Reshape", shape))

    op_Flatten = op_Reshape
    op_Squeeze = op_Reshape
    op_Unsqueeze = op_Reshape

    def op_Transpose(self, node):
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        x = self.value(node.input[0])
        if isinstance(x, QW):
            p = perm if perm is not None else list(range(x.q.ndim))[::-1]
            return self.relayout(node, lambda a: a.transpose(p), None)
        if perm is None or perm[0] != 0:
            self.fail("Transpose that moves the batch dimension")
        p = [i - 1 for i in perm[1:]]
        self.relayout(node, lambda a: a.transpose(p), ("Transpose", perm))

    def op_Identity(self, node):
        self.env[node.output[0]] = self.value(node.input[0])

    op_Dropout = op_Identity

    # ---- pooling and tail ------------------------------------------------------------------------
    def pool_geometry(self, node, x):
        attrs = {a.name: a for a in node.attribute}
        kernel = tuple(attrs["kernel_shape"].ints)
        stride = tuple(attrs["strides"].ints) if "strides" in attrs else kernel
        pads = tuple(attrs["pads"].ints) if "pads" in attrs else (0, 0, 0, 0)
        if "ceil_mode" in attrs and attrs["ceil_mode"].i:
            self.fail("ceil_mode pooling is not supported")
        if "dilations" in attrs and any(d != 1 for d in attrs["dilations"].ints):
            self.fail("dilated pooling is not supported")
        return kernel, stride, pads

    def pool_input(self, x):
        if not isinstance(x, Sym) or x.index.ndim != 3:
            self.fail("pooling needs a quantized (C, H, W) stream")
        if not np.array_equal(x.index, canonical(x.index.shape)):
            self.fail("pooling input layout is not a plain NCHW tensor")

    def op_MaxPool(self, node):
        x = self.value(node.input[0])
        self.pool_input(x)
        if len(node.output) > 1 and node.output[1]:
            self.fail("MaxPool indices output")
        for op in x.chain:
            if isinstance(op, rq.Affine) and any(a < 0 for a in op.a):
                self.fail("max pooling after a decreasing scale")
        kernel, stride, pads = self.pool_geometry(node, x)
        out_shape = self.shape(node.output[0])[1:]
        lay = Pool(self.layer_name(node.name), [x.stream], [], mode="max", kernel=kernel, stride=stride, pad=pads)
        st = self.streams[x.stream]
        out = self.emit(lay, stream_shape_for(out_shape), node.output[0], dtype=st.dtype, scale=st.scale)
        self.env[node.output[0]] = Sym(out, x.chain, canonical(out_shape))

    def avg(self, node, kernel, stride):
        x = self.value(node.input[0])
        self.pool_input(x)
        ab = rq.as_affine(x.chain)
        if ab is None:
            self.fail("average pooling of a stream that is not requantized")
        out_shape = self.shape(node.output[0])[1:]
        lay = Pool(self.layer_name(node.name), [x.stream], [], mode="avg", kernel=kernel, stride=stride, shift=0)
        out = self.emit(lay, stream_shape_for(out_shape), node.output[0])
        kk = Fraction(1, kernel[0] * kernel[1])
        self.env[node.output[0]] = Sym(out, [rq.Affine(ab[0] * kk, ab[1])], canonical(out_shape))

    def op_AveragePool(self, node):
        x = self.value(node.input[0])
        self.pool_input(x)
        kernel, stride, pads = self.pool_geometry(node, x)
        if any(pads):
            self.fail("padded average pooling is not supported")
        self.avg(node, kernel, stride)

    def op_GlobalAveragePool(self, node):
        x = self.value(node.input[0])
        self.pool_input(x)
        _, H, W = x.index.shape
        self.avg(node, (H, W), (H, W))

    def op_Softmax(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym) or x.index.ndim != 1:
            self.fail("Softmax is lowered only as the final op on a vector")
        if self.model.find_consumers(node.output[0]):
            self.fail("Softmax is lowered only as a final (float tail) op")
        self.env[node.output[0]] = Sym(x.stream, x.chain, x.index, False, x.tail + ["softmax"])

    def op_Sigmoid(self, node):
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Sigmoid before the input quantizer")
        if self.model.find_consumers(node.output[0]):
            self.fail("Sigmoid is lowered only as a final (float tail) op")
        self.env[node.output[0]] = Sym(x.stream, x.chain, x.index, False, x.tail + ["sigmoid"])
