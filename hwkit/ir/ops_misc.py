"""Translation rules for elementwise, layout, pooling and float-tail ops."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import Add, Pool
from hwkit.ir.values import QW, Pre, Sym, canonical, stream_shape_for


class MiscOps:
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

