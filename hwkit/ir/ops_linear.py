"""Translation rules for linear layers (MatMul, Gemm, Conv, ConvTranspose): integer weights into
MVUs, input offsets and biases into the accumulator's affine chain."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import MVU, Reshape, SlidingWindow
from hwkit.ir.types import IntType
from hwkit.ir.values import QW, Sym, canonical


class LinearOps:
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

