"""What hls4ml 1.3.0 cannot compute exactly among the layers the golden model lowers, refused before
conversion by the node's name, with the fix that applies to the user's file.

Each rule was measured with hwkit's hls4ml C simulation against the golden model on >= 2,000 inputs
(benchmarks/results_kinds_backends.md): an op hls4ml has no layer for, one its converter rejects or
crashes on, and one it converts but computes differently all end here, as one line instead of a late
crash or wrong numbers.
"""
from __future__ import annotations

from hwkit.errors import UnsupportedModelError

RTL = "use --backend rtl"


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _conv_reason(model, node) -> str | None:
    w = model.get_initializer(node.input[1])
    shape = w.shape if w is not None else model.get_tensor_shape(node.input[1])  # behind a Quant node
    dil = list(_attr(node, "dilations", []) or [])
    group = int(_attr(node, "group", 1) or 1)
    if any(int(d) != 1 for d in dil):
        return (f"a dilated convolution (dilations {tuple(int(d) for d in dil)}); hls4ml 1.3.0 computes its "
                "output size without the dilation")
    if group != 1:
        cin = model.get_tensor_shape(node.input[0])
        if cin is not None and shape is not None and group == int(cin[1]) == int(shape[0]) and int(shape[1]) == 1:
            return None  # depthwise: hls4ml's DepthwiseConv is the golden model's VVU
        return (f"a grouped convolution ({group} groups of {shape[1] if shape is not None else '?'} input channels, "
                "not one channel each); hls4ml 1.3.0 converts only depthwise convolutions")
    return None


def _pad_value(model, node):
    """A Pad's constant value (0 when not given; None when computed at run time)."""
    if len(node.input) < 3 or not node.input[2]:
        return 0
    v = model.get_initializer(node.input[2])
    return None if v is None else float(v.ravel()[0]) if v.size else 0


def refusal(model, node) -> str | None:
    """Why hls4ml cannot compute ``node`` of the cleaned QONNX ``model`` exactly (None if it can)."""
    op = node.op_type
    if op in ("ArgMax", "TopK"):
        return (f"hls4ml 1.3.0 has no {op} layer; use --backend rtl (its hardware returns the class index) "
                f"or end the model before the {op}")
    if op == "Conv":
        why = _conv_reason(model, node)
        return f"{why}; {RTL}" if why else None
    if op == "Pad" and _pad_value(model, node) != 0:
        return f"hls4ml 1.3.0 pads only with zeros, this Pad with {_pad_value(model, node)!r}; {RTL}"
    if op == "Pad":
        return ("hls4ml 1.3.0 misreads a Pad in a channels-last model (nearly every output differed from the "
                f"golden model's, or generation failed); {RTL}, or move the zero padding into the next Conv's pads")
    if op == "Concat" and len([i for i in node.input if i]) > 2:
        return f"hls4ml 1.3.0 concatenates two tensors at a time, this Concat has {len(node.input)}; {RTL}"
    if op == "Resize":
        return ("hls4ml 1.3.0's ONNX converter fails on a Resize (it asks for the shape of the empty roi input "
                f"and reads neither scales nor sizes); {RTL}")
    if op == "AveragePool":
        return ("hls4ml 1.3.0's ONNX parser takes an AveragePool only in channels-last form, which qonnx's "
                f"conversion does not give it; {RTL}, or use max pooling")
    if op == "GlobalAveragePool":
        return ("hls4ml divides the sum by H*W in fixed point (truncating), and hwkit has no exact mapping: "
                "a 4x4 window given 4 more fractional bits still gave 7,964 of 10,000 outputs wrong in 2,000 "
                f"inputs; {RTL}")
    return None


def refuse_unsupported(model) -> None:
    """One-line UnsupportedModelError for the first node hls4ml cannot compute exactly, named as in
    ``model`` (the caller turns the name into the user's with :func:`hwkit.errors.in_source_terms`)."""
    for node in model.graph.node:
        why = refusal(model, node)
        if why:
            raise UnsupportedModelError(f"hls4ml backend cannot compute node '{node.name}' ({node.op_type}) "
                                        f"exactly: {why}")
