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
