"""Lowering rule for the TV smoothing step (:mod:`hwkit.kinds.tv`): the standard-op composition that
:class:`hwkit.zoo.tv.TVSmoothing` exports is matched at its first depthwise Conv and becomes one TV
layer; the matched nodes are then skipped by the translator.

    X -> Conv(D_x), Conv(D_y)            depthwise, fixed taps, pads 1   (the same X stream)
      -> Pow 2, Pow 2 -> Add -> [elementwise float chain] -> Quant       (w, on a power-of-two grid)
      -> Mul(gx, w), Mul(gy, w) -> ConvTranspose(D_x), ConvTranspose(D_y) -> Add -> Mul h
      -> Sub(X, .) -> Quant                                             (the output grid)

The weight w is a function of the integer S = GX^2 + GY^2 only. Its lookup is made by running the
exported float chain (Add eps, Sqrt, Reciprocal, Mul, Relu, Quant, whatever it holds) through qonnx's
own execution on every reachable S, so golden and qonnx agree by construction, including rounding."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from onnx import TensorProto, helper

from hwkit.ir import requant as rq
from hwkit.ir.graph import Probe
from hwkit.ir.types import IntType
from hwkit.ir.values import Sym

CHAIN_OPS = ("Add", "Sqrt", "Reciprocal", "Mul", "Div", "Relu", "Clip")
EXACT_F32 = 1 << 24


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pow2(v: Fraction) -> int | None:
    if v <= 0 or v.numerator & (v.numerator - 1) or v.denominator & (v.denominator - 1):
        return None
    return v.numerator.bit_length() - v.denominator.bit_length()


class TVOps:
    tv_skip: frozenset = frozenset()

    # ---- small graph queries
    def _consumers(self, tensor):
        return list(self.model.find_consumers(tensor) or [])

    def _only(self, tensor, op_type):
        cons = self._consumers(tensor)
        outs = [o.name for o in self.model.graph.output]
        if len(cons) == 1 and cons[0].op_type == op_type and tensor not in outs:
            return cons[0]
        return None

    def _scalar(self, name):
        v = self.model.get_initializer(name)
        if v is None or np.asarray(v).size != 1:
            return None
        return float(np.asarray(v).ravel()[0])

    @staticmethod
    def _same(a, b) -> bool:
        return a is not None and b is not None and list(a.output) == list(b.output)

    def _other(self, node, tensor):
        return node.input[1] if node.input[0] == tensor else node.input[0]

    def _diff_kind(self, node, c) -> str | None:
        """'x' or 'y' when ``node`` is a depthwise 3x3 forward difference over ``c`` channels."""
        from hwkit.zoo.tv import difference_kernels

        a = _attrs(node)
        if (a.get("group") != c or list(a.get("pads", [0] * 4)) != [1] * 4 or any(s != 1 for s in a.get("strides", [1]))
                or any(d != 1 for d in a.get("dilations", [1])) or any(a.get("output_padding", [0]))
                or len(node.input) != 2 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
            return None
        k = self.model.get_initializer(node.input[1])
        if k is None:
            return None
        dx, dy = (t.numpy() for t in difference_kernels(c))
        k = np.asarray(k)
        return "x" if np.array_equal(k, dx) else "y" if np.array_equal(k, dy) else None

    # ---- the rule
    def tv_rule(self, node) -> bool:
        """Emit a TV layer if ``node`` starts the TV composition; False (nothing done) otherwise."""
        x = self.env.get(node.input[0])
        if not isinstance(x, Sym) or x.index.ndim != 3 or not node.input[0]:
            return False
        c = x.index.shape[0]
        xin = node.input[0]
        convs = [n for n in self._consumers(xin) if n.op_type == "Conv"]
        kinds = {self._diff_kind(n, c): n for n in convs}
        if self._diff_kind(node, c) is None or "x" not in kinds or "y" not in kinds:
            return False
        m = self._match(xin, kinds["x"], kinds["y"], c)
        if m is None:
            return False
        self._emit_tv(x, xin, m)
        return True

    def _match(self, xin, cx, cy, c):
        nodes = [cx, cy]
        pows, muls = {}, {}
        for k, conv in (("x", cx), ("y", cy)):
            cons = self._consumers(conv.output[0])
            p = [n for n in cons
                 if n.op_type == "Pow" and self._scalar(n.input[1]) == 2.0 and n.input[0] == conv.output[0]]
            mu = [n for n in cons if n.op_type == "Mul"]
            if len(cons) != 2 or len(p) != 1 or len(mu) != 1:
                return None
            pows[k], muls[k] = p[0], mu[0]
        add = self._only(pows["x"].output[0], "Add")
        if add is None or not self._same(self._only(pows["y"].output[0], "Add"), add):
            return None
        nodes += [pows["x"], pows["y"], add]
        chain, t = [], add.output[0]
        while True:   # the float chain from S to the weight's quantizer
            cons = self._consumers(t)
            if len(cons) != 1:
                return None
            n = cons[0]
            if n.op_type == "Quant":
                break
            consts = all(i == t or self.model.get_initializer(i) is not None for i in n.input if i)
            if n.op_type not in CHAIN_OPS or not consts:
                return None
            chain.append(n)
            t = n.output[0]
        wq = n
        nodes += chain + [wq]
        wcons = self._consumers(wq.output[0])
        if sorted(n.output[0] for n in wcons) != sorted((muls["x"].output[0], muls["y"].output[0])):
            return None
        cts = {}
        for k in ("x", "y"):
            if self._other(muls[k], wq.output[0]) != (cx if k == "x" else cy).output[0]:
                return None
            ct = self._only(muls[k].output[0], "ConvTranspose")
            if ct is None or self._diff_kind(ct, c) != k:
                return None
            cts[k] = ct
        add2 = self._only(cts["x"].output[0], "Add")
        if add2 is None or not self._same(self._only(cts["y"].output[0], "Add"), add2):
            return None
        hmul = self._only(add2.output[0], "Mul")
        h = None if hmul is None else self._scalar(self._other(hmul, add2.output[0]))
        sub = None if hmul is None else self._only(hmul.output[0], "Sub")
        if h is None or sub is None or list(sub.input) != [xin, hmul.output[0]]:
            return None
        oq = self._only(sub.output[0], "Quant")
        if oq is None:
            return None
        nodes += [muls["x"], muls["y"], cts["x"], cts["y"], add2, hmul, sub, oq]
        return {"nodes": nodes, "s": add.output[0], "chain": chain, "wq": wq, "h": h, "oq": oq}

    # ---- the layer
    def _quant_params(self, q):
        """(scale, bits, signed, narrow, mode) of a Quant with a scalar power-of-two scale and zero point 0."""
        a = _attrs(q)
        scale, zp, bw = (self._scalar(i) for i in q.input[1:4])
        if scale is None or zp != 0.0 or bw is None or _pow2(Fraction(scale)) is None:
            self.fail(f"TV step: quantizer '{q.name}' needs a scalar power-of-two scale and zero point 0")
        mode = a.get("rounding_mode", b"ROUND")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        return Fraction(scale), int(bw), bool(a.get("signed", 1)), bool(a.get("narrow", 0)), mode.upper()

    def _weight_levels(self, m, smax: int, sx: Fraction) -> np.ndarray:
        """Integer level of w for every S in [0, smax], by qonnx's execution of the exported chain."""
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.util.basic import qonnx_make_model

        n = smax + 1
        nodes = m["chain"] + [m["wq"]]
        tensors = {i for nd in nodes for i in nd.input if i} | {o for nd in nodes for o in nd.output}
        inits = [self.model.get_initializer(t) for t in sorted(tensors)]
        init_protos = [helper.make_tensor(t, TensorProto.FLOAT, np.asarray(v).shape, np.asarray(v, np.float32).ravel())
                       for t, v in zip(sorted(tensors), inits) if v is not None]
        vi = lambda t: helper.make_tensor_value_info(t, TensorProto.FLOAT, [n])   # noqa: E731
        mids = [o for nd in nodes[:-1] for o in nd.output]
        g = helper.make_graph(nodes, "tv_weight", [vi(m["s"])], [vi(m["wq"].output[0])], init_protos,
                              value_info=[vi(t) for t in mids])
        model = ModelWrapper(qonnx_make_model(g))
        model.model.opset_import[0].version = self.model.model.opset_import[0].version
        s = (np.arange(n, dtype=np.float64) * float(sx * sx)).astype(np.float32)
        if not np.array_equal(s.astype(np.float64), np.arange(n) * float(sx * sx)):
            self.fail("TV step: the squared gradient is not exact in float32")
        w = execute_onnx(model, {m["s"]: s})[m["wq"].output[0]].astype(np.float64)
        return w

    def _emit_tv(self, x: Sym, xin: str, m):
        from hwkit.kinds.tv import TV, is_identity, widths

        self.node = m["oq"]
        pa = rq.as_affine(x.chain)
        if pa is None or any(b != 0 for b in pa[1]) or len(set(pa[0])) != 1 or _pow2(Fraction(pa[0][0])) is None:
            self.fail("TV step: its input must be one quantized stream with a power-of-two scale and zero point 0")
        sx = Fraction(pa[0][0])
        st = self.streams[x.stream]
        if not np.array_equal(x.index.transpose(1, 2, 0).ravel(), np.arange(x.index.size)):
            self.fail("TV step: its input is not a plain channels-last map")
        sw = self._quant_params(m["wq"])[0]
        so, obits, osigned, onarrow, omode = self._quant_params(m["oq"])
        if omode != "ROUND":
            self.fail(f"TV step: output rounding mode {omode} is not supported (ROUND only)")
        otype = IntType(obits, osigned, narrow=onarrow and osigned)
        probe = TV("probe", [x.stream], [], thresholds=np.zeros(0, np.int64), w0=0, otype=otype)
        smax = widths(probe, st.dtype)["smax"]
        if smax >= EXACT_F32:
            self.fail("TV step: the squared gradient range does not fit float32 exactly")
        w = self._weight_levels(m, smax, sx)
        lv = w / float(sw)
        if not np.array_equal(lv, np.round(lv)) or np.any(lv < 0) or np.any(np.diff(lv) > 0):
            self.fail("TV step: the weight is not a non-negative, non-increasing level of its grid")
        lv = lv.astype(np.int64)
        w0 = int(lv[0])
        drops = np.diff(lv)   # each S where the level falls, repeated once per level lost
        thresholds = np.repeat(np.arange(1, smax + 1), -drops).astype(np.int64)
        # y/so = (X - 2**a B) 2**b, with 2**a = h*sw and 2**b = sx/so
        a, b = _pow2(Fraction(m["h"]) * sw), _pow2(sx / so)
        if a is None:
            self.fail(f"TV step: h * weight scale = {m['h'] * float(sw)} is not a power of two")
        xshift, bshift = max(0, -a), max(0, a)
        shift = -(min(a, 0) + b)
        if shift < 0:
            xshift, bshift, shift = xshift - shift, bshift - shift, 0
        lay = TV(self.layer_name(self.node.name), [x.stream], [], thresholds=thresholds, w0=w0, xshift=xshift,
                 bshift=bshift, shift=shift, otype=otype)
        out = m["oq"].output[0]
        self.tv_skip = self.tv_skip | {n.output[0] for n in m["nodes"]}
        if is_identity(lay, st.dtype):   # the output is the input stream itself (same values, same scale)
            self.env[out] = x
            return
        if widths(lay, st.dtype)["nmax"] >= EXACT_F32:
            self.fail("TV step: its sums are not exact in float32 (qonnx would round them)")
        sout = self.emit(lay, st.shape, out, dtype=otype, scale=float(so))
        self.probes[sout] = Probe(out, x.index, np.full(st.channels, float(so)), np.zeros(st.channels))
        self.env[out] = Sym(sout, [rq.Affine(rq.fvec([float(so)], st.channels), rq.fvec([0.0], st.channels))], x.index)
