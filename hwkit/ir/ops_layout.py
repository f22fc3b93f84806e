"""Translation rules for layout layers with their own hardware kind: ArgMax/TopK (the class index,
:mod:`hwkit.kinds.argmax`), channel Concat (:mod:`hwkit.kinds.concat`), Pad (:mod:`hwkit.kinds.pad`) and
nearest-neighbour Resize (:mod:`hwkit.kinds.upsample`)."""
from __future__ import annotations

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import Probe
from hwkit.ir.values import Sym, canonical


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class LayoutOps:
    def layout_input(self, x, what: str) -> None:
        """A quantized stream in plain NCHW (or vector) order, nothing pending after a float tail."""
        if not isinstance(x, Sym):
            self.fail(f"{what} of something other than a quantized data stream")
        if x.tail:
            self.fail(f"{what} after the float tail (softmax)")
        if not np.array_equal(x.index, canonical(x.index.shape)):
            self.fail(f"{what} input layout is not a plain NCHW tensor (a Transpose/Reshape before it)")

    def channel_axis(self, x: Sym, axis: int, what: str) -> None:
        rank = x.index.ndim + 1
        if (axis + rank if axis < 0 else axis) != 1:
            self.fail(f"{what} along axis {axis}; hwkit builds it along the channel axis (1) only")

    # ---- the class index -------------------------------------------------------------------------
    def index_out(self, node, x: Sym, out: str):
        from hwkit.kinds.argmax import ArgMax

        ab = rq.as_affine(x.chain)
        if ab is None or len(set(ab[0])) != 1 or len(set(ab[1])) != 1 or ab[0][0] <= 0:
            self.fail("the channels' values are not one increasing map of the integers (per-channel scale or "
                      "offset, or an unquantized float op): quantize the tensor with one per-tensor Quant first")
        st = self.streams[x.stream]
        lay = ArgMax(self.layer_name(node.name), [x.stream], [])
        sout = self.emit(lay, tuple(st.shape[:-1]) + (1,), out)
        shape = self.shape(out)[1:]
        index = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        self.probes[sout] = Probe(out, index, np.ones(1), np.zeros(1))
        self.env[out] = Sym(sout, [rq.Affine(rq.fvec([1.0]), rq.fvec([0.0]))], index)

    def op_ArgMax(self, node):
        x = self.value(node.input[0])
        self.layout_input(x, "ArgMax")
        a = _attrs(node)
        if a.get("select_last_index", 0):
            self.fail("select_last_index=1 (ties to the last index); hwkit's ArgMax returns the first")
        self.channel_axis(x, int(a.get("axis", 0)), "ArgMax")
        self.index_out(node, x, node.output[0])

    def op_TopK(self, node):
        x = self.value(node.input[0])
        self.layout_input(x, "TopK")
        a = _attrs(node)
        k = self.const(node.input[1], "k").ravel()
        if k.size != 1 or int(k[0]) != 1:
            self.fail(f"k = {k.tolist()}; hwkit builds TopK with k = 1 (the class index)")
        if not a.get("largest", 1):
            self.fail("largest=0 (the smallest value); hwkit builds the index of the largest")
        self.channel_axis(x, int(a.get("axis", -1)), "TopK")
        values = node.output[0]
        if values and (self.model.find_consumers(values) or values in [o.name for o in self.model.graph.output]):
            self.fail("its values output is used; hwkit builds only the indices output of TopK")
        if len(node.output) < 2 or not node.output[1]:
            self.fail("no indices output")
        self.index_out(node, x, node.output[1])

    # ---- channel concat --------------------------------------------------------------------------
    def op_Concat(self, node):
        xs = [self.value(t) for t in node.input]
        for x in xs:
            self.layout_input(x, "Concat")
        self.channel_axis(xs[0], int(_attrs(node).get("axis", 0)), "Concat")
        if len({x.index.shape[1:] for x in xs}) != 1:
            self.fail(f"Concat of tensors whose pixels differ: {[x.index.shape for x in xs]}")
        cur = xs[0]
        for i, x in enumerate(xs[1:]):   # more than two inputs: a chain of two-input concats
            out = node.output[0] if i == len(xs) - 2 else f"{node.output[0]}_part{i}"
            cur = self.concat2(node, cur, x, out)

    def concat2(self, node, a: Sym, b: Sym, out: str) -> Sym:
        from fractions import Fraction

        from hwkit.kinds.concat import Concat

        pa, pb = rq.as_affine(a.chain), rq.as_affine(b.chain)
        if pa is None or pb is None:
            self.fail("Concat of a tensor that is not quantized (a float op between its quantizer and the Concat)")
        shifts = (0, 0)
        ua, ub = set(pa[0]), set(pb[0])
        if len(ua) == 1 and len(ub) == 1 and ua != ub:
            # one scale per input: the coarser is shifted left onto the finer when they differ by 2**k
            r = Fraction(ua.pop()) / Fraction(ub.pop())
            num, den = r.numerator, r.denominator
            if r > 0 and not num & (num - 1) and not den & (den - 1):
                shifts = (num.bit_length() - 1, 0) if r >= 1 else (0, den.bit_length() - 1)
        # otherwise the channels keep their own scales (a per-channel chain: a Threshold requantizes it)
        scale_a = np.array([v / (1 << shifts[0]) for v in pa[0]], dtype=object)
        scale_b = np.array([v / (1 << shifts[1]) for v in pb[0]], dtype=object)
        sa, sb = self.streams[a.stream], self.streams[b.stream]
        shape = tuple(sa.shape[:-1]) + (sa.channels + sb.channels,)
        lay = Concat(self.layer_name(node.name), [a.stream, b.stream], [], shifts=shifts)
        chan_a = np.concatenate([scale_a, scale_b])
        chan_b = np.concatenate([pa[1], pb[1]])
        fa = np.array([float(v) for v in chan_a])
        sout = self.emit(lay, shape, out, scale=fa if np.ptp(fa) else float(fa[0]))
        onnx_shape = (shape[-1],) + tuple(shape[:-1])
        index = canonical(onnx_shape)
        self.probes[sout] = Probe(out, index, fa, np.array([-float(q / p) for p, q in zip(chan_a, chan_b)]))
        sym = Sym(sout, [rq.Affine(chan_a, chan_b)], index)
        self.env[out] = sym
        return sym

    # ---- padding ---------------------------------------------------------------------------------
    def op_Pad(self, node):
        from fractions import Fraction

        from hwkit.kinds.pad import Pad

        x = self.value(node.input[0])
        self.layout_input(x, "Pad")
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            self.fail(f"mode '{mode}'; hwkit builds constant padding only")
        if len(node.input) > 1 and node.input[1]:
            pads = [int(v) for v in self.const(node.input[1], "pads").ravel()]
            value = float(self.const(node.input[2], "constant_value").ravel()[0]) \
                if len(node.input) > 2 and node.input[2] else 0.0
        else:   # opset < 11: attributes
            pads, value = [int(v) for v in a.get("pads", [])], float(a.get("value", 0.0))
        if x.index.ndim != 3 or len(pads) != 8:
            self.fail("padding of a tensor that is not (N, C, H, W)")
        if pads[0] or pads[1] or pads[4] or pads[5]:
            self.fail(f"pads {pads} pad the batch or channel axis; hwkit pads H and W only")
        if min(pads) < 0:
            self.fail(f"negative pads {pads} (cropping)")
        ab = rq.as_affine(x.chain)
        if ab is None:
            self.fail("padding of a tensor that is not quantized (a float op between its quantizer and the Pad)")
        q = {(Fraction(value) - b) / a_ for a_, b in zip(*ab)}
        if len(q) != 1 or q.copy().pop().denominator != 1:
            self.fail(f"the value {value} is not one integer on the input's grid (scale {float(ab[0][0]):g}); "
                      "pad with a value the quantizer can represent")
        v = int(q.pop())
        st = self.streams[x.stream]
        if st.dtype.bipolar and v not in (-1, 1):
            self.fail(f"padding a bipolar tensor with {value}; a bipolar stream holds -1 and +1 only")
        t, l, b, r = pads[2], pads[3], pads[6], pads[7]
        lay = Pad(self.layer_name(node.name), [x.stream], [], pad=(t, l, b, r), value=v)
        shape = (st.shape[0] + t + b, st.shape[1] + l + r, st.channels)
        sout = self.emit(lay, shape, node.output[0], scale=st.scale)
        onnx_shape = (st.channels, shape[0], shape[1])
        index = canonical(onnx_shape)
        sc = np.array([float(a_) for a_ in ab[0]])
        self.probes[sout] = Probe(node.output[0], index, sc, np.array([-float(b / a_) for a_, b in zip(*ab)]))
        self.env[node.output[0]] = Sym(sout, x.chain, index)

    # ---- nearest-neighbour upsampling ------------------------------------------------------------
    def op_Resize(self, node):
        x = self.value(node.input[0])
        self.layout_input(x, node.op_type)
        a = _attrs(node)
        text = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}
        if text.get("mode", "nearest") != "nearest":
            self.fail(f"mode '{text['mode']}'; hwkit builds nearest-neighbour resizing only")
        if x.index.ndim != 3:
            self.fail("resizing of a tensor that is not (N, C, H, W)")
        in_shape, out_shape = self.shape(node.input[0]), self.shape(node.output[0])
        if in_shape[:2] != out_shape[:2]:
            self.fail(f"resizing {in_shape} to {out_shape} changes the batch or channel axis")
        factors = []
        for n_in, n_out in zip(in_shape[2:], out_shape[2:]):
            if n_out % n_in:
                self.fail(f"resizing {in_shape} to {out_shape} is not by integer factors")
            factors.append(n_out // n_in)
        if node.op_type == "Resize" and len(node.input) == 2:
            self.fail("Resize of opset 10 (scales as the second input); export with opset >= 11")
        if node.op_type == "Resize":
            scales = self.resize_scales(node, in_shape, factors)
            ctm = text.get("coordinate_transformation_mode", "half_pixel")
            nearest = text.get("nearest_mode", "round_prefer_floor")
            for n_in, f, s in zip(in_shape[2:], factors, scales[2:]):
                if not np.array_equal(nearest_source(n_in, f, s, ctm, nearest, self), np.arange(n_in * f) // f):
                    self.fail(f"coordinate_transformation_mode '{ctm}' with nearest_mode '{nearest}' does not "
                              "repeat each pixel; hwkit builds the resize that does (e.g. half_pixel or asymmetric "
                              "with floor)")
        self.upsample(node, x, tuple(factors))

    op_Upsample = op_Resize   # opset <= 9: mode 'nearest' repeats pixels by its scales

    def resize_scales(self, node, in_shape, factors) -> list:
        """The scale of each axis as the ONNX formula uses it: the scales input, else sizes / input."""
        if len(node.input) > 2 and node.input[2]:
            s = [float(v) for v in self.const(node.input[2], "scales").ravel()]
            if s:
                return s
        return [1.0, 1.0] + [float(f) for f in factors]

    def upsample(self, node, x: Sym, factors):
        from hwkit.kinds.upsample import Upsample

        st = self.streams[x.stream]
        lay = Upsample(self.layer_name(node.name), [x.stream], [], scale=factors)
        shape = (st.shape[0] * factors[0], st.shape[1] * factors[1], st.channels)
        sout = self.emit(lay, shape, node.output[0], dtype=st.dtype, scale=st.scale)
        index = canonical((st.channels, shape[0], shape[1]))
        ab = rq.as_affine(x.chain)
        if ab is not None:
            self.probes[sout] = Probe(node.output[0], index, np.array([float(v) for v in ab[0]]),
                                      np.array([-float(b / a_) for a_, b in zip(*ab)]))
        self.env[node.output[0]] = Sym(sout, x.chain, index)


def nearest_source(n_in: int, factor: int, scale: float, ctm: str, nearest: str, tr) -> np.ndarray:
    """Input coordinate each output coordinate of ONNX Resize (mode nearest) reads along one axis."""
    n_out = n_in * factor
    o = np.arange(n_out, dtype=np.float64)
    if ctm == "half_pixel" or ctm == "pytorch_half_pixel":
        u = (o + 0.5) / scale - 0.5 if (n_out > 1 or ctm == "half_pixel") else np.zeros(n_out)
    elif ctm == "asymmetric":
        u = o / scale
    elif ctm == "tf_half_pixel_for_nn":
        u = (o + 0.5) / scale
    elif ctm == "align_corners":
        u = o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    else:
        tr.fail(f"coordinate_transformation_mode '{ctm}' is not supported")
    rounding = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
                "floor": np.floor, "ceil": np.ceil}
    if nearest not in rounding:
        tr.fail(f"nearest_mode '{nearest}' is not supported")
    return np.clip(rounding[nearest](u), 0, n_in - 1).astype(np.int64)
