"""The stable symmetric block as an hls4ml extension layer (hls4ml's Extension API).

QONNX export stores K and K^T as two quantized initializers (the transpose is constant-folded).
:func:`prepare` finds the block ``Quant_out(x - h * (Quant_mid(Relu(x @ Wa)) @ Wb))`` with
``q(Wa) == q(Wb)^T`` and replaces it by one ``HwkitStableBlock`` node holding a single weight
tensor. The hls4ml layer, templates and the C++ (hls/hls4ml/nnet_stable_block.h) then keep one
weight array and read it as K and as K^T.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper, numpy_helper

OP = "HwkitStableBlock"
HEADER = Path(__file__).resolve().parents[3] / "hls" / "hls4ml" / "nnet_stable_block.h"
_registered = False


def _quant_params(mw, node):
    scale, zp, bits = (mw.get_initializer(node.input[i]) for i in (1, 2, 3))
    if scale is None or np.size(scale) != 1 or zp is None or np.any(zp != 0) or bits is None:
        return None
    e = float(np.log2(float(np.ravel(scale)[0])))
    if e != round(e):
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("rounding_mode", b"ROUND") not in (b"ROUND", "ROUND"):
        return None
    return {"bits": int(np.ravel(bits)[0]), "frac": -int(round(e)), "signed": int(attrs.get("signed", 1)),
            "narrow": int(attrs.get("narrow", 0))}


def _quant_weight(mw, name):
    """Quantized value of a weight produced by a Quant node on an initializer (None otherwise)."""
    from qonnx.custom_op.general.quant import quant

    node = mw.find_producer(name)
    if node is None or node.op_type != "Quant" or mw.get_initializer(node.input[0]) is None:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    args = [mw.get_initializer(node.input[i]) for i in range(4)]
    if any(a is None for a in args):
        return None
    rounding = attrs.get("rounding_mode", b"ROUND")
    rounding = rounding.decode() if isinstance(rounding, bytes) else rounding
    return node, np.asarray(quant(*args, int(attrs.get("signed", 1)), int(attrs.get("narrow", 0)), rounding),
                            dtype=np.float64)


def _single(mw, tensor, op):
    cons = mw.find_consumers(tensor) or []
    return cons[0] if len(cons) == 1 and cons[0].op_type == op else None


def _match(mw, sub):
    """Nodes of one symmetric block ending at Sub node ``sub``, or None."""
    x, m_out = sub.input
    mul = mw.find_producer(m_out)
    if mul is None or mul.op_type != "Mul":
        return None
    consts = [i for i in mul.input if mw.get_initializer(i) is not None]
    if len(consts) != 1 or np.size(mw.get_initializer(consts[0])) != 1:
        return None
    h = float(np.ravel(mw.get_initializer(consts[0]))[0])
    if h <= 0 or np.log2(h) != round(np.log2(h)):
        return None
    mm2 = mw.find_producer(next(i for i in mul.input if i != consts[0]))
    if mm2 is None or mm2.op_type != "MatMul":
        return None
    qmid = mw.find_producer(mm2.input[0])
    relu = mw.find_producer(qmid.input[0]) if qmid is not None and qmid.op_type == "Quant" else None
    mm1 = mw.find_producer(relu.input[0]) if relu is not None and relu.op_type == "Relu" else None
    if mm1 is None or mm1.op_type != "MatMul" or mm1.input[0] != x:
        return None
    wa, wb = _quant_weight(mw, mm1.input[1]), _quant_weight(mw, mm2.input[1])
    qout = _single(mw, sub.output[0], "Quant")
    if wa is None or wb is None or qout is None or wa[1].shape != wb[1].T.shape or not np.array_equal(wa[1], wb[1].T):
        return None
    mid, out = _quant_params(mw, qmid), _quant_params(mw, qout)
    if mid is None or out is None:
        return None
    if len(mw.find_consumers(x) or []) != 2:  # x feeds exactly K and the residual
        return None
    for t in (mm1.output[0], relu.output[0], qmid.output[0], mm2.output[0], mul.output[0]):
        if len(mw.find_consumers(t) or []) != 1:
            return None
    return {"nodes": [wa[0], wb[0], mm1, relu, qmid, mm2, mul, sub, qout], "x": x, "y": qout.output[0],
            "K": wa[1], "h_shift": -int(round(np.log2(h))), "mid": mid, "out": out, "name": mm1.name}


def prepare(mw):
    """Replace every symmetric block by one HwkitStableBlock node; returns (model, config hook)."""
    from qonnx.transformation.general import RemoveUnusedTensors

    _register()  # always, so every project ships the same sources whatever ran before in this process
    blocks, k = [], 0
    for sub in [n for n in mw.graph.node if n.op_type == "Sub"]:
        found = _match(mw, sub)
        if found:
            blocks.append(found)
    if not blocks:
        return mw, None
    for b in blocks:
        pos = min(list(mw.graph.node).index(n) for n in b["nodes"][2:])
        for n in b["nodes"]:
            mw.graph.node.remove(n)
        attrs = {f"{p}_{key}": v for p in ("mid", "out") for key, v in b[p].items()}
        node = helper.make_node(OP, [b["x"]], [b["y"]], name=f"StableBlock_{k}", domain="hwkit",
                                K=numpy_helper.from_array(b["K"].astype(np.float32), "K"),
                                h_shift=b["h_shift"], **attrs)
        mw.graph.node.insert(pos, node)
        k += 1
    mw = mw.transform(RemoveUnusedTensors())
    return mw, None


def _register():
    """hls4ml Extension API: ONNX handler, layer class, config/function templates, C++ source."""
    global _registered
    if _registered:
        return
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.converters.onnx_to_hls import register_onnx_layer_handler
    from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
    from hls4ml.model.layers import Layer, register_layer
    from hls4ml.model.types import FixedPrecisionType

    class HwkitStableBlock(Layer):
        _expected_attributes = [
            Attribute("n_in"), Attribute("n_hidden"), Attribute("h_shift"),
            WeightAttribute("weight"), TypeAttribute("weight"),
            *(TypeAttribute(t, default=FixedPrecisionType(32, 16)) for t in ("acc1", "mid", "acc2", "u")),
        ]

        def initialize(self):
            self.add_output_variable(list(self.get_input_variable().shape))
            self.add_weights_variable(name="weight", var_name="w{index}", data=self.get_attr("K"))

    def handler(node, input_names, input_shapes, graph):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        K = numpy_helper.to_array(attrs.pop("K")).astype(np.float64)
        layer = {"class_name": OP, "name": node.name, "inputs": input_names, "outputs": list(node.output),
                 "K": K, "n_in": int(K.shape[0]), "n_hidden": int(K.shape[1]), **attrs}
        return layer

    config_template = """struct config{index} : nnet::stable_block_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_hidden = {n_hidden};
    static const int h_shift = {h_shift};
    static const unsigned reuse_factor = {reuse};
    typedef {weight_t.name} weight_t;
    typedef {acc1_t.name} acc1_t;
    typedef {mid_t.name} mid_t;
    typedef {acc2_t.name} acc2_t;
    typedef {u_t.name} u_t;
}};\n"""

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(HwkitStableBlock)
            self.template = config_template

        def format(self, node):
            return self.template.format(**self._default_config_params(node))

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(HwkitStableBlock, include_header=["nnet_utils/nnet_stable_block.h"])
            self.template = "nnet::stable_block<{input_t}, {output_t}, {config}>({input}, {output}, {w});"

        def format(self, node):
            params = self._default_function_params(node)
            params["w"] = node.get_weights("weight").name
            return self.template.format(**params)

    register_layer(OP, HwkitStableBlock)
    register_onnx_layer_handler(OP, handler)
    for name in ("Vitis", "Vivado"):
        backend = hls4ml.backends.get_backend(name)
        backend.register_template(ConfigTemplate)
        backend.register_template(FunctionTemplate)
        backend.register_source(HEADER)
    _registered = True


def _precision(ex, layer, ins):
    """Exact types of the block: acc1 = K x, mid = Quant_mid, acc2 = K^T mid, u = x - h * acc2."""
    from hwkit.backends.hls4ml.precision import Grid, frac_bits, ints
    from hls4ml.model.types import RoundingMode, SaturationMode

    g = ins[0]
    if g is None:
        return ex.refuse(layer, "reads the unquantized model input")
    w = layer.weights["weight"].data
    wf = frac_bits(w)
    if wf is None:
        return ex.refuse(layer, "weights are not on a power-of-two grid")
    wi = ints(w, wf)  # (n_in, n_hidden)
    layer.weights["weight"].update_precision(Grid(int(wi.min()), int(wi.max()), wf).fixed())

    def mvu(wm, lo, hi, frac):
        pos = np.maximum(wm * lo, wm * hi)
        neg = np.minimum(wm * lo, wm * hi)
        return Grid(int(min(neg.sum(0).min(), neg.min(), 0)), int(max(pos.sum(0).max(), pos.max(), 0)), frac)

    acc1 = mvu(wi, g.lo, g.hi, g.frac + wf)
    mp = {k: layer.get_attr(f"mid_{k}") for k in ("bits", "frac", "signed", "narrow")}
    op = {k: layer.get_attr(f"out_{k}") for k in ("bits", "frac", "signed", "narrow")}

    def qgrid(p):
        if p["signed"]:
            lo, hi = -(1 << (p["bits"] - 1)) + (1 if p["narrow"] else 0), (1 << (p["bits"] - 1)) - 1
        else:
            lo, hi = 0, (1 << p["bits"]) - 1 - (1 if p["narrow"] else 0)
        return Grid(lo, hi, p["frac"])

    def qtype(p):
        sat = SaturationMode.SAT_SYM if (p["narrow"] and p["signed"]) else SaturationMode.SAT
        gq = qgrid(p)
        t = gq.fixed(RoundingMode.RND_CONV, sat)
        if not p["signed"]:  # unsigned narrow: clip to hi explicitly through the width
            t = gq.fixed(RoundingMode.RND_CONV, SaturationMode.SAT)
        return t

    if not mp["signed"] and mp["narrow"] or not op["signed"] and op["narrow"]:
        return ex.refuse(layer, "unsigned narrow requantizers are not supported")
    mid = qgrid(mp)
    acc2 = mvu(wi.T, max(mid.lo, 0), mid.hi, mid.frac + wf)
    s = layer.get_attr("h_shift")
    t = Grid(acc2.lo, acc2.hi, acc2.frac + s) if s >= 0 else Grid(acc2.lo << -s, acc2.hi << -s, acc2.frac)
    f = max(t.frac, g.frac)
    t, x = t.at(f) if t.frac < f else t, g.at(f) if g.frac < f else g
    u = Grid(min(x.lo - t.hi, t.lo, acc2.at(f).lo if acc2.frac <= f else acc2.lo),
             max(x.hi - t.lo, t.hi, acc2.at(f).hi if acc2.frac <= f else acc2.hi), f)
    layer.get_attr("acc1_t").precision = acc1.fixed()
    layer.get_attr("mid_t").precision = qtype(mp)
    layer.get_attr("acc2_t").precision = acc2.fixed()
    layer.get_attr("u_t").precision = u.fixed()
    layer.get_output_variable().type.precision = qtype(op)
    ex.grids[layer.outputs[0]] = qgrid(op)


PRECISION = {OP: _precision}
