"""Translation of the convolutions :class:`hwkit.ir.ops_linear.LinearOps` leaves out: 1-D (N, C, L),
grouped and depthwise, dilated. Each becomes a SlidingWindow (dilated when asked) and then:

- depthwise (groups = C = O): a VVU (hwkit.kinds.vvu), T*C/PE cycles per pixel, C*T weights;
- other grouped convolutions (1 < groups, or a channel multiplier O/C > 1): one MVU whose weight
  matrix is block diagonal over the groups (zeros outside). Exact and reuses the MVU as it is; it
  stores and multiplies the zeros (groups x the grouped work), which is the price of not needing a
  channel split and concat in hardware.

A 1-D convolution is the 1xK 2-D one: the SlidingWindow reads an (L, C) stream as (1, L, C), and
the output stream is (1, OL, O), which a following 1-D layer reads as is. The ONNX index of every
tensor keeps its 1-D shape (O, OL)."""
from __future__ import annotations

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import MVU, SlidingWindow
from hwkit.ir.ops_linear import LinearOps
from hwkit.ir.values import QW, Sym, canonical


class ConvOps:
    def op_Conv(self, node):
        attrs = {a.name: a for a in node.attribute}
        group = attrs["group"].i if "group" in attrs else 1
        dil = tuple(attrs["dilations"].ints) if "dilations" in attrs else ()
        x = self.value(node.input[0])
        if group > 1 and self.tv_rule(node):   # the first node of a TV step (hwkit.ir.ops_tv)
            return
        if group == 1 and all(d == 1 for d in dil) and not (isinstance(x, Sym) and x.index.ndim == 2):
            return LinearOps.op_Conv(self, node)
        return self.general_conv(node, attrs, group, dil)

    def general_conv(self, node, attrs, group, dil):
        from hwkit.kinds.vvu import VVU

        x = self.value(node.input[0])
        if not isinstance(x, Sym):
            self.fail("Conv's first input must be the quantized data stream")
        w = self.weight(node.input[1])
        one_d = x.index.ndim == 2
        if x.index.ndim not in (2, 3) or w.q.ndim != x.index.ndim + 1:
            self.fail("only 1-D and 2-D convolutions are lowered")
        if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"NOTSET", b""):
            self.fail("auto_pad is not supported; export with explicit pads")
        if not np.array_equal(x.index, canonical(x.index.shape)):
            self.fail("Conv input layout is not a plain NCHW (or NCL) tensor")
        ints = lambda k, d: tuple(attrs[k].ints) if k in attrs else d
        if one_d:   # (C, L) as (C, 1, L): kernel 1xK
            C, L = x.index.shape
            H, Wd = 1, L
            q = w.q[:, :, None, :]
            scale = np.broadcast_to(w.scale, w.q.shape)[:, :, None, :]
            stride, dil = (1,) + ints("strides", (1,)), (1,) + (dil or (1,))
            p = ints("pads", (0, 0))
            pads = (0, p[0], 0, p[1])
        else:
            C, H, Wd = x.index.shape
            q, scale = w.q, np.broadcast_to(w.scale, w.q.shape)
            stride, dil, pads = ints("strides", (1, 1)), dil or (1, 1), ints("pads", (0, 0, 0, 0))
        O, Cg, KH, KW = q.shape
        if C % group or O % group or Cg != C // group:
            self.fail(f"Conv with {group} groups does not divide {C} input and {O} output channels")
        sw = scale.reshape(O, -1)
        if not np.all(sw == sw[:, :1]):
            self.fail("weight scale varies inside one output channel")
        x_a, x_b = self.input_affine(x)
        pad_value = 0
        if any(pads) and any(v != 0 for v in x_b):
            pv = {-(b / x_a) for b in x_b}
            if len(pv) != 1 or next(iter(pv)).denominator != 1:
                self.fail("zero padding of an input with offset that is not an integer grid point")
            pad_value = int(next(iter(pv)))
        EH, EW = (KH - 1) * dil[0] + 1, (KW - 1) * dil[1] + 1
        OH = (H + pads[0] + pads[2] - EH) // stride[0] + 1
        OW = (Wd + pads[1] + pads[3] - EW) // stride[1] + 1
        src = x.stream
        st = self.streams[src]
        swg = SlidingWindow(self.layer_name(f"{node.name}_swg"), [src], [], kernel=(KH, KW), stride=tuple(stride),
                            pad=tuple(pads), pad_value=pad_value, dilation=tuple(dil))
        T = KH * KW
        win = self.emit(swg, (OH, OW, T * C), f"{node.output[0]}_win", dtype=st.dtype, scale=st.scale)
        # block-diagonal (O, T*C) in im2col order: output o reads the channels of its group only
        Wd = np.zeros((O, T, C), dtype=np.int64)
        og = O // group
        for gi in range(group):
            blk = q[gi * og:(gi + 1) * og].transpose(0, 2, 3, 1).reshape(og, T, Cg)
            Wd[gi * og:(gi + 1) * og, :, gi * Cg:(gi + 1) * Cg] = blk
        Wd = Wd.reshape(O, T * C)
        const = self.bias_term(Wd, sw[:, 0], x_b, x, by_channel=np.tile(np.arange(C), T))
        if len(node.input) > 2 and node.input[2]:
            const = const + rq.fvec(self.const(node.input[2], "conv bias"), O)
        name = self.layer_name(node.name)
        if group == C == O:
            lay = VVU(name, [win], [], weights=q.reshape(O, T), wtype=w.dtype)
        else:
            lay = MVU(name, [win], [], weights=Wd, wtype=w.dtype)
        out_index = canonical((O, OW)) if one_d else canonical((O, OH, OW))
        self.mvu_out(node, lay, x_a, QW(w.q, sw[:, 0], w.dtype), const, (OH, OW, O), out_index)
