"""Translation rules for quantizers (Quant, BipolarQuant, Trunc): on weights they give integer
constants, on the float input the input grid (:class:`~hwkit.ir.graph.InputPrep`), on a stream a
requantization site that the passes of :mod:`hwkit.ir.lowering.requantize` turn into one layer."""
from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir import requant as rq
from hwkit.ir.graph import InputPrep, PrepOp, Probe
from hwkit.ir.lowering.requantize import run_site
from hwkit.ir.lowering.site import Site
from hwkit.ir.types import BIPOLAR, IntType
from hwkit.ir.values import QW, Pre, Sym, canonical, stream_shape_for


def _attrs(node) -> dict:
    return {a.name: a for a in node.attribute}


def _levels(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


class QuantOps:
    def op_Quant(self, node):
        x = self.value(node.input[0])
        scale = self.const(node.input[1], "scale").astype(np.float64)
        zp = self.const(node.input[2], "zero point").astype(np.float64)
        bits = self.const(node.input[3], "bit width")
        if bits.size != 1 or float(bits.ravel()[0]) != int(bits.ravel()[0]):
            self.fail("bit width must be a scalar integer")
        bits = int(bits.ravel()[0])
        attrs = _attrs(node)
        signed = bool(attrs["signed"].i) if "signed" in attrs else True
        narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
        mode = attrs["rounding_mode"].s.decode() if "rounding_mode" in attrs else "ROUND"
        if np.any(scale <= 0):
            self.fail("quantizer scale must be positive")
        bipolar = bits == 1 and signed
        dtype = BIPOLAR if bipolar else IntType(bits, signed, narrow=narrow and signed)
        qmin, qmax = (-1, 1) if bipolar else _levels(bits, signed, narrow)
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
        u = w.astype(np.float32) / scale.astype(np.float32)
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
        index = canonical(shape) if len(shape) > 1 else np.arange(shape[0])
        name = self.new_stream("in0", stream_shape_for(shape), dtype)
        sym0 = Sym(name, [], index)
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
        bipolar = dt.name == "BIPOLAR"
        dtype = BIPOLAR if bipolar else IntType(dt.bitwidth(), dt.signed())
        qmin, qmax = (-1, 1) if bipolar else (int(dt.min()), int(dt.max()))
        shape = (1,) + self.shape(name)[1:]
        fake = type(self.model.graph.node[0])(op_type="Quant", name=f"{name}_datatype", input=[name], output=[name])
        self.node = fake
        self.quantize_input(fake, Pre([], shape), np.ones(1), np.zeros(1), dtype, qmin, qmax, "ROUND", bipolar)

    def requant(self, x: Sym, quant: rq.Quantizer, dtype: IntType, out: str, out_scale=None, out_zp=None):
        """Build the site, run the requantization passes, emit the layer the site ends in."""
        st = self.streams[x.stream]
        mvu = self.producer_mvu(x)
        site = Site(self.layer_name(self.node.name or out), x.stream, tuple(rq.compose(x.chain)), quant,
                    self.channels(x), st.dtype.min, st.dtype.max, mvu=None if mvu is None else mvu.name,
                    mvu_rows=0 if mvu is None else mvu.mh)
        site = run_site(self, site)
        if site.row_edit() is not None:
            self.record_rows(site.mvu, site.row_edit())
        if site.boundaries is not None:
            self.boundaries[site.name] = site.boundaries
        oscale = quant.scale if out_scale is None else out_scale
        ozp = quant.zeropt if out_zp is None else out_zp
        s_c = np.array([float(v) for v in oscale])
        z_c = np.array([float(v) for v in ozp])
        sout = self.emit(site.layer, st.shape, out, dtype=dtype, scale=s_c if np.ptp(s_c) else float(s_c[0]))
        self.probes[sout] = Probe(out, x.index, s_c, z_c)
        self.env[out] = Sym(sout, [rq.Affine(oscale, -ozp * oscale)], x.index)

    def op_Trunc(self, node):
        """QONNX Trunc: ``q = R(round(v/s + z) / 2**m)``; v2 (6 inputs) clips to its output type and
        rescales by ``output_scale``, v1 keeps ``s`` and does not clip."""
        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Trunc on something other than a quantized stream")
        out = node.output[0]
        scale = self.const(node.input[1]).astype(np.float64)
        zp = self.const(node.input[2]).astype(np.float64)
        attrs = _attrs(node)
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
            qmin, qmax = _levels(obw, signed, narrow)
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
                v = eval_chain(chain, c, n)
                u = Fraction(round(v / quant.scale[c] + quant.zeropt[c]))
                qs.append(apply_round(mode, u / (1 << quant.trunc_shift)))
        quant.qmin, quant.qmax = min(qs), max(qs)
        self.requant(x, quant, IntType.for_range(quant.qmin, quant.qmax), out)


def apply_round(mode, u):
    mode = mode.upper()
    if mode == "FLOOR":
        return math.floor(u)
    if mode == "CEIL":
        return math.ceil(u)
    if mode in ("ROUND", "HALF_EVEN"):
        return round(u)
    raise UnsupportedModelError(f"Trunc rounding mode {mode} is not supported")


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
