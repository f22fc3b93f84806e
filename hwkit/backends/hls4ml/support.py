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
    if w is None:  # weights behind a Quant node: the shape is known to shape inference
        shape = model.get_tensor_shape(node.input[1])
    else:
        shape = w.shape
    spatial = len(shape) - 2 if shape is not None else len(_attr(node, "kernel_shape", []))
    dil = list(_attr(node, "dilations", []) or [])
    group = int(_attr(node, "group", 1) or 1)
    if any(int(d) != 1 for d in dil):
        return (f"a dilated convolution (dilations {tuple(int(d) for d in dil)}); hls4ml 1.3.0 computes its "
                "output size without the dilation")
    if group != 1:
        cin = model.get_tensor_shape(node.input[0])
        depthwise = cin is not None and group == int(cin[1]) and shape is not None and int(shape[1]) == 1
        what = "depthwise" if depthwise else f"grouped ({group} groups)"
        return (f"a {what} convolution; hls4ml 1.3.0 " +
                ("has no layer that matches it exactly" if depthwise else "converts only depthwise groups"))
    if spatial == 1:
        return ("a 1-D convolution; hls4ml 1.3.0's Conv1D gave results different from the golden model "
                "(thousands of mismatches in 2,000 inputs)")
    return None


def refusal(model, node) -> str | None:
    """Why hls4ml cannot compute ``node`` of the cleaned QONNX ``model`` exactly (None if it can)."""
    op = node.op_type
    if op in ("ArgMax", "TopK"):
        return (f"hls4ml 1.3.0 has no {op} layer; use --backend rtl (its hardware returns the class index) "
                f"or end the model before the {op}")
    if op == "Conv":
        why = _conv_reason(model, node)
        return f"{why}; {RTL}" if why else None
    if op == "Pad":
        return ("hls4ml 1.3.0 pads only with zeros, and its padding then a convolution or pooling gave wrong "
                f"results or failed to generate; {RTL}, or move the padding into the next Conv's pads")
    if op == "Concat":
        return f"hls4ml's Concatenate has no exact mapping to the golden model's Concat in hwkit; {RTL}"
    if op == "Resize":
        return f"hls4ml 1.3.0's ONNX converter cannot read a Resize's scales or sizes input; {RTL}"
    if op in ("AveragePool", "GlobalAveragePool"):
        return ("hls4ml's average divides the sum in its accumulator type (truncating) where the golden model "
                f"keeps the exact sum and rounds once at the next quantizer; {RTL}, or use max pooling")
    return None


def refuse_unsupported(model) -> None:
    """One-line UnsupportedModelError for the first node hls4ml cannot compute exactly, named as in
    ``model`` (the caller turns the name into the user's with :func:`hwkit.errors.in_source_terms`)."""
    for node in model.graph.node:
        why = refusal(model, node)
        if why:
            raise UnsupportedModelError(f"hls4ml backend cannot compute node '{node.name}' ({node.op_type}) "
                                        f"exactly: {why}")
