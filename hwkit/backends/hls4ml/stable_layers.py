"""The stable symmetric blocks as hls4ml extension layers (hls4ml's Extension API) and their exact types.

Two layers, one C++ header (hls/hls4ml/nnet_stable_block.h), both holding K once:
``HwkitStableBlock`` (MLP form, K is n_in x n_hidden) and ``HwkitStableConvBlock`` (conv form, K is a
k x k "same" convolution from n_chan to n_hidden channels, K^T its adjoint).
"""
from __future__ import annotations


import numpy as np
from onnx import helper, numpy_helper

from hwkit.backends.hls4ml.stable import CONV_OP, OP
from hwkit.resources import hls_dir

HEADER = hls_dir() / "hls4ml" / "nnet_stable_block.h"
_TYPES = ("acc1", "mid", "acc2", "u")
_registered = False

_CONFIG_HEAD = """struct config{{index}} : nnet::{base} {{{{
{fields}    static const int h_shift = {{h_shift}};
    static const unsigned reuse_factor = {{reuse}};
    typedef {{weight_t.name}} weight_t;
    typedef {{acc1_t.name}} acc1_t;
    typedef {{mid_t.name}} mid_t;
    typedef {{acc2_t.name}} acc2_t;
    typedef {{u_t.name}} u_t;
}}}};\n"""
_DENSE_FIELDS = ("n_in", "n_hidden")
_CONV_FIELDS = ("height", "width", "n_chan", "n_hidden", "kernel")


def _config_template(base: str, fields) -> str:
    lines = "".join(f"    static const unsigned {f} = {{{f}}};\n" for f in fields)
    return _CONFIG_HEAD.format(base=base, fields=lines)


def register():
    """Register both layers with hls4ml once per process: ONNX handlers, layer classes, templates, source."""
    global _registered
    if _registered:
        return
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.converters.onnx_to_hls import register_onnx_layer_handler
    from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
    from hls4ml.model.layers import Layer, register_layer
    from hls4ml.model.types import FixedPrecisionType

    def layer_class(name, fields):
        class StableLayer(Layer):
            _expected_attributes = [
                *(Attribute(f) for f in fields), Attribute("h_shift"), WeightAttribute("weight"),
                TypeAttribute("weight"), *(TypeAttribute(t, default=FixedPrecisionType(32, 16)) for t in _TYPES),
            ]

            def initialize(self):
                self.add_output_variable(list(self.get_input_variable().shape))
                self.add_weights_variable(name="weight", var_name="w{index}", data=self.get_attr("K"))

        StableLayer.__name__ = StableLayer.__qualname__ = name
        return StableLayer

    def dense_handler(node, input_names, input_shapes, graph):
        attrs = _attrs(node)
        K = attrs.pop("K")
        return {"class_name": OP, "name": node.name, "inputs": input_names, "outputs": list(node.output),
                "K": K, "n_in": int(K.shape[0]), "n_hidden": int(K.shape[1]), **attrs}

    def conv_handler(node, input_names, input_shapes, graph):
        attrs = _attrs(node)
        K = attrs.pop("K")  # (kernel, kernel, n_chan, n_hidden)
        return {"class_name": CONV_OP, "name": node.name, "inputs": input_names, "outputs": list(node.output),
                "K": K, "kernel": int(K.shape[0]), "n_chan": int(K.shape[2]), "n_hidden": int(K.shape[3]), **attrs}

    def templates(cls, base, fields, function):
        class ConfigTemplate(LayerConfigTemplate):
            def __init__(self):
                super().__init__(cls)
                self.template = _config_template(base, fields)

            def format(self, node):
                return self.template.format(**self._default_config_params(node))

        class FunctionTemplate(FunctionCallTemplate):
            def __init__(self):
                super().__init__(cls, include_header=["nnet_utils/nnet_stable_block.h"])
                self.template = f"nnet::{function}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}}, {{w}});"

            def format(self, node):
                params = self._default_function_params(node)
                params["w"] = node.get_weights("weight").name
                return self.template.format(**params)

        return ConfigTemplate, FunctionTemplate

    dense_cls, conv_cls = layer_class(OP, _DENSE_FIELDS), layer_class(CONV_OP, _CONV_FIELDS)
    register_layer(OP, dense_cls)
    register_layer(CONV_OP, conv_cls)
    register_onnx_layer_handler(OP, dense_handler)
    register_onnx_layer_handler(CONV_OP, conv_handler)
    tmpl = [*templates(dense_cls, "stable_block_config", _DENSE_FIELDS, "stable_block"),
            *templates(conv_cls, "stable_conv_block_config", _CONV_FIELDS, "stable_conv_block")]
    for name in ("Vitis", "Vivado"):
        backend = hls4ml.backends.get_backend(name)
        for t in tmpl:
            backend.register_template(t)
        backend.register_source(HEADER)
    _registered = True


def _attrs(node) -> dict:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs["K"] = numpy_helper.to_array(attrs["K"]).astype(np.float64)
    return attrs


def _kernel_matrices(layer, wi: np.ndarray):
    """K and K^T as (inputs, outputs) integer matrices over one output element's whole receptive field."""
    if layer.class_name == CONV_OP:  # wi (k, k, n_chan, n_hidden)
        k, _, c, d = wi.shape
        return wi.reshape(k * k * c, d), wi.transpose(0, 1, 3, 2).reshape(k * k * d, c)
    return wi, wi.T  # (n_in, n_hidden)


def _mvu_grid(wm, lo, hi, frac):
    """Every partial sum and product of a dot product with weights ``wm`` over inputs in [lo, hi]."""
    from hwkit.backends.hls4ml.precision import Grid

    pos = np.maximum(wm * lo, wm * hi)
    neg = np.minimum(wm * lo, wm * hi)
    return Grid(int(min(neg.sum(0).min(), neg.min(), 0)), int(max(pos.sum(0).max(), pos.max(), 0)), frac)


def _quant_grid(p):
    from hwkit.backends.hls4ml.precision import Grid

    if p["signed"]:
        lo, hi = -(1 << (p["bits"] - 1)) + (1 if p["narrow"] else 0), (1 << (p["bits"] - 1)) - 1
    else:
        lo, hi = 0, (1 << p["bits"]) - 1
    return Grid(lo, hi, p["frac"])


def _quant_type(p):
    """The C++ type whose cast rounds half to even and saturates exactly like the QONNX Quant."""
    from hls4ml.model.types import RoundingMode, SaturationMode

    sat = SaturationMode.SAT_SYM if (p["narrow"] and p["signed"]) else SaturationMode.SAT
    return _quant_grid(p).fixed(RoundingMode.RND_CONV, sat)


def _precision(ex, layer, ins):
    """Exact types of a block: acc1 = K x, mid = Quant_mid, acc2 = K^T mid, u = x - h * acc2."""
    from hwkit.backends.hls4ml.precision import Grid

    g = ins[0]
    if g is None:
        return ex.refuse(layer, "reads the unquantized model input")
    found = ex.integer_weights(layer)
    if found is None:
        return None
    wi, wf = found
    mp = {k: layer.get_attr(f"mid_{k}") for k in ("bits", "frac", "signed", "narrow")}
    op = {k: layer.get_attr(f"out_{k}") for k in ("bits", "frac", "signed", "narrow")}
    if not mp["signed"] and mp["narrow"] or not op["signed"] and op["narrow"]:
        return ex.refuse(layer, "unsigned narrow requantizers are not supported")
    k_mat, kt_mat = _kernel_matrices(layer, wi)
    acc1 = _mvu_grid(k_mat, g.lo, g.hi, g.frac + wf)
    mid = _quant_grid(mp)
    acc2 = _mvu_grid(kt_mat, max(mid.lo, 0), mid.hi, mid.frac + wf)
    s = layer.get_attr("h_shift")
    t = Grid(acc2.lo, acc2.hi, acc2.frac + s) if s >= 0 else Grid(acc2.lo << -s, acc2.hi << -s, acc2.frac)
    f = max(t.frac, g.frac)
    t, x = t.at(f) if t.frac < f else t, g.at(f) if g.frac < f else g
    # u holds acc2 first (then shifted in place), so it must hold acc2's range on its grid too
    a2 = acc2.at(f) if acc2.frac <= f else acc2
    u = Grid(min(x.lo - t.hi, t.lo, a2.lo), max(x.hi - t.lo, t.hi, a2.hi), f)
    layer.get_attr("acc1_t").precision = acc1.fixed()
    layer.get_attr("mid_t").precision = _quant_type(mp)
    layer.get_attr("acc2_t").precision = acc2.fixed()
    layer.get_attr("u_t").precision = u.fixed()
    layer.get_output_variable().type.precision = _quant_type(op)
    ex.grids[layer.outputs[0]] = _quant_grid(op)


PRECISION = {OP: _precision, CONV_OP: _precision}
