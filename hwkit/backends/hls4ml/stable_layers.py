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


def _requant_after(graph, stream: str):
    """The one ShiftRound/Threshold reading ``stream`` (through a window generator), or None."""
    for layer in graph.consumers(stream):
        if layer.kind == "SlidingWindow":
            return _requant_after(graph, layer.outputs[0])
        if layer.kind in ("ShiftRound", "Threshold"):
            return layer
    return None


def _hw_parts(ex, layer):
    """The block's HwGraph layers: K (the MVU named like the block), the requantization after it, the
    MVU reading K transposed, the residual Add and the output requantization."""
    from hwkit.errors import UnsupportedModelError

    g = ex.graph
    k = ex.names.layer(layer, ("MVU",))
    kt = next((lay for lay in g.layers if getattr(lay, "transposed_of", None) == k.name), None)
    mid = _requant_after(g, k.outputs[0])
    add = next((lay for lay in g.consumers(kt.outputs[0]) if lay.kind == "Add"), None) if kt else None
    out = _requant_after(g, add.outputs[0]) if add else None
    if None in (kt, mid, add, out):
        raise UnsupportedModelError(f"hls4ml layer '{layer.name}': HwGraph layer '{k.name}' is not the K of a "
                                    "symmetric block (K, requantize, K^T, residual add, requantize)")
    return k, mid, kt, add, out


def _precision(ex, layer, ins):
    """The block's types from its HwGraph layers: acc1 = K's accumulator, mid = the inner
    requantization, acc2 = K^T's accumulator, u = the residual add (also holding acc2, which the
    C++ keeps in u before shifting it), the result = the output requantization."""
    from hwkit.backends.hls4ml.precision import Grid, grid_of, quant_type
    from hwkit.errors import MismatchError, UnsupportedModelError

    g = ins[0]
    if g is None:
        raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' reads the unquantized model input")
    k, mid, kt, add, out = _hw_parts(ex, layer)
    acc1 = ex.stream(k.outputs[0], f"layer '{k.name}'")
    acc2 = ex.stream(kt.outputs[0], f"layer '{kt.name}'")
    ex.set_weight(layer, "weight", grid_of(k.wtype, 2.0 ** -(acc1.frac - g.frac), f"layer '{k.name}'"))
    f, t_frac = g.frac + add.shifts[0], acc2.frac + layer.get_attr("h_shift")  # t = h K^T z
    if f != max(g.frac, t_frac) or f != t_frac + add.shifts[1]:
        raise MismatchError(f"hls4ml layer '{layer.name}': the HwGraph's residual '{add.name}' (shifts "
                            f"{tuple(add.shifts)}) does not align x - h K^T z as the block does")
    t = ex.graph.streams[add.outputs[0]].dtype
    u = Grid(int(t.min), int(t.max), f).union(Grid(int(kt.acc.min), int(kt.acc.max), acc2.frac))
    types = {}
    for part, key in ((mid, "mid"), (out, "out")):
        dt = ex.graph.streams[part.outputs[0]].dtype
        grid = ex.stream(part.outputs[0], f"layer '{part.name}'")
        types[key] = (quant_type(dt, grid), grid)
        attrs = {a: layer.get_attr(f"{key}_{a}") for a in ("bits", "frac", "signed", "narrow")}
        ex.check(layer, f"the {key} quantizer's type", _quant_type(attrs), types[key][0], part.name)
    layer.get_attr("acc1_t").precision = Grid(int(k.acc.min), int(k.acc.max), acc1.frac).fixed()
    layer.get_attr("mid_t").precision = types["mid"][0]
    layer.get_attr("acc2_t").precision = Grid(int(kt.acc.min), int(kt.acc.max), acc2.frac).fixed()
    layer.get_attr("u_t").precision = u.fixed()
    layer.get_output_variable().type.precision = types["out"][0]
    ex.grids[layer.outputs[0]] = types["out"][1]


def _quant_type(p):
    """The C++ type of the block's QONNX Quant (from the node's attributes), to check against the HwGraph."""
    from hwkit.backends.hls4ml.precision import Grid
    from hls4ml.model.types import RoundingMode, SaturationMode

    if p["signed"]:
        lo, hi = -(1 << (p["bits"] - 1)) + (1 if p["narrow"] else 0), (1 << (p["bits"] - 1)) - 1
    else:
        lo, hi = 0, (1 << p["bits"]) - 1
    sat = SaturationMode.SAT_SYM if (p["narrow"] and p["signed"]) else SaturationMode.SAT
    return Grid(lo, hi, p["frac"]).fixed(RoundingMode.RND_CONV, sat)


PRECISION = {OP: _precision, CONV_OP: _precision}
