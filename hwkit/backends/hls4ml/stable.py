"""Find the stable symmetric blocks in a cleaned QONNX graph and fold each into one node.

QONNX export stores K and K^T as two quantized initializers (Brevitas uses one tensor, the export
copies it). :func:`prepare` finds ``Quant_out(x - h * K^T Quant_mid(Relu(K x)))``, checks that the
two quantized weights really are one K, and replaces the block by a single node holding K once:

- MLP form: ``MatMul(x, Wa)`` ... ``MatMul(z, Wb)`` with ``q(Wa) == q(Wb)^T`` -> ``HwkitStableBlock``.
- Conv form (channels-last after cleaning): ``Conv(x, W)`` ... ``ConvTranspose(z, W')`` with the same
  kernel, stride 1, "same" padding and ``q(W') == q(W)`` in ConvTranspose's layout ->
  ``HwkitStableConvBlock``.

The hls4ml layers, templates and exact precisions are in :mod:`.stable_layers`; the C++ in
hls/hls4ml/nnet_stable_block.h reads the one weight array as K and as K^T.
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

OP = "HwkitStableBlock"
CONV_OP = "HwkitStableConvBlock"
OPS = (OP, CONV_OP)
NCHW_TO_NHWC, NHWC_TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _quant_params(mw, node):
    """Bits/frac/sign of a Quant with one power-of-two scale, zero point 0 and half-even rounding."""
    scale, zp, bits = (mw.get_initializer(node.input[i]) for i in (1, 2, 3))
    if scale is None or np.size(scale) != 1 or zp is None or np.any(zp != 0) or bits is None:
        return None
    e = float(np.log2(float(np.ravel(scale)[0])))
    if e != round(e):
        return None
    attrs = _attrs(node)
    if attrs.get("rounding_mode", b"ROUND") not in (b"ROUND", "ROUND"):
        return None
    return {"bits": int(np.ravel(bits)[0]), "frac": -int(round(e)), "signed": int(attrs.get("signed", 1)),
            "narrow": int(attrs.get("narrow", 0))}


def _quant_weight(mw, name):
    """(Quant node, quantized value) of a weight produced by a Quant node on an initializer, else None."""
    from qonnx.custom_op.general.quant import quant

    node = mw.find_producer(name)
    if node is None or node.op_type != "Quant" or mw.get_initializer(node.input[0]) is None:
        return None
    attrs = _attrs(node)
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


def _producer(mw, tensor, op, perm=None):
    node = mw.find_producer(tensor)
    if node is None or node.op_type != op:
        return None
    if perm is not None and list(_attrs(node).get("perm", [])) != perm:
        return None
    return node


def _same_conv(attrs: dict, k: int) -> bool:
    """Stride 1, no dilation or groups, odd square kernel, padding that keeps the image size."""
    p = k // 2
    return (k % 2 == 1 and list(attrs.get("kernel_shape", [])) == [k, k]
            and list(attrs.get("strides", [1, 1])) == [1, 1] and list(attrs.get("dilations", [1, 1])) == [1, 1]
            and int(attrs.get("group", 1)) == 1 and list(attrs.get("pads", [0, 0, 0, 0])) == [p] * 4
            and not any(attrs.get("output_padding", [])) and "output_shape" not in attrs
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def _dense_operators(mw, t_name, x):
    """K^T z as MatMul(z, Wb), K x as MatMul(x, Wa) with q(Wa) == q(Wb)^T."""
    mm2 = _producer(mw, t_name, "MatMul")
    if mm2 is None:
        return None
    qmid = _producer(mw, mm2.input[0], "Quant")
    relu = qmid and _producer(mw, qmid.input[0], "Relu")
    mm1 = relu and _producer(mw, relu.input[0], "MatMul")
    if not mm1 or mm1.input[0] != x:
        return None
    wa, wb = _quant_weight(mw, mm1.input[1]), _quant_weight(mw, mm2.input[1])
    if wa is None or wb is None or wa[1].shape != wb[1].T.shape or not np.array_equal(wa[1], wb[1].T):
        return None
    return {"op": OP, "nodes": [wa[0], wb[0], mm1, relu, qmid, mm2], "K": wa[1], "qmid": qmid, "name": mm1.name}


def _conv_operators(mw, t_name, x):
    """K^T z as Transpose(ConvTranspose(Transpose(z), W')), K x as a channels-last Conv(x, W)."""
    back = _producer(mw, t_name, "Transpose", NCHW_TO_NHWC)
    ct = back and _producer(mw, back.input[0], "ConvTranspose")
    fwd = ct and _producer(mw, ct.input[0], "Transpose", NHWC_TO_NCHW)
    qmid = fwd and _producer(mw, fwd.input[0], "Quant")
    relu = qmid and _producer(mw, qmid.input[0], "Relu")
    conv = relu and _producer(mw, relu.input[0], "Conv")
    if not conv or conv.input[0] != x or len(conv.input) != 2 or len(ct.input) != 2 or "channels_last" not in conv.domain:
        return None
    wk, wt = _quant_weight(mw, conv.input[1]), _quant_weight(mw, ct.input[1])
    if wk is None or wt is None or wk[1].ndim != 4:
        return None
    k_ohwi = wk[1]  # channels-last Conv weight: (hidden, kh, kw, channels)
    k = int(k_ohwi.shape[1])
    if not (_same_conv(_attrs(conv), k) and _same_conv(_attrs(ct), k)):
        return None
    # ConvTranspose weight (in = hidden, out = channels, kh, kw) is K itself in NCHW layout
    if wt[1].shape != k_ohwi.transpose(0, 3, 1, 2).shape or not np.array_equal(wt[1], k_ohwi.transpose(0, 3, 1, 2)):
        return None
    shape = mw.get_tensor_shape(x)
    if shape is None or len(shape) != 4:
        return None
    kernel = k_ohwi.transpose(1, 2, 3, 0)  # (kh, kw, channels, hidden): one tap is a Dense-layout matrix
    return {"op": CONV_OP, "nodes": [wk[0], wt[0], conv, relu, qmid, fwd, ct, back], "K": kernel, "qmid": qmid,
            "name": conv.name, "height": int(shape[1]), "width": int(shape[2])}


def _match(mw, sub):
    """The nodes of one symmetric block ending at Sub node ``sub``, or None."""
    x, m_out = sub.input
    mul = _producer(mw, m_out, "Mul")
    if mul is None:
        return None
    consts = [i for i in mul.input if mw.get_initializer(i) is not None]
    if len(consts) != 1 or np.size(mw.get_initializer(consts[0])) != 1:
        return None
    h = float(np.ravel(mw.get_initializer(consts[0]))[0])
    if h <= 0 or np.log2(h) != round(np.log2(h)):
        return None
    t_name = next(i for i in mul.input if i != consts[0])
    found = _dense_operators(mw, t_name, x) or _conv_operators(mw, t_name, x)
    qout = _single(mw, sub.output[0], "Quant")
    if found is None or qout is None:
        return None
    mid, out = _quant_params(mw, found["qmid"]), _quant_params(mw, qout)
    if mid is None or out is None:
        return None
    if len(mw.find_consumers(x) or []) != 2:  # x feeds exactly K and the residual
        return None
    nodes = found["nodes"] + [mul, sub, qout]
    for n in nodes[2:-1]:  # every inner value is used inside the block only
        if len(mw.find_consumers(n.output[0]) or []) != 1:
            return None
    return {**found, "nodes": nodes, "x": x, "y": qout.output[0], "h_shift": -int(round(np.log2(h))),
            "mid": mid, "out": out}


def prepare(mw):
    """Replace every symmetric block by one stable-block node; returns (model, config hook). The
    caller registers the node's hls4ml layer first (hwkit.backends.hls4ml.stable_layers.register)."""
    from qonnx.transformation.general import RemoveUnusedTensors

    blocks = [b for b in (_match(mw, sub) for sub in [n for n in mw.graph.node if n.op_type == "Sub"]) if b]
    if not blocks:
        return mw, None
    for k, b in enumerate(blocks):
        pos = min(list(mw.graph.node).index(n) for n in b["nodes"][2:])
        for n in b["nodes"]:
            mw.graph.node.remove(n)
        attrs = {f"{p}_{key}": v for p in ("mid", "out") for key, v in b[p].items()}
        if b["op"] == CONV_OP:
            attrs.update(height=b["height"], width=b["width"])
        node = helper.make_node(b["op"], [b["x"]], [b["y"]], name=f"StableBlock_{k}", domain="hwkit",
                                K=numpy_helper.from_array(b["K"].astype(np.float32), "K"),
                                h_shift=b["h_shift"], **attrs)
        node.doc_string = b["nodes"][2].doc_string  # K's HwGraph name (see naming.py): the block is named by K
        mw.graph.node.insert(pos, node)
    mw = mw.transform(RemoveUnusedTensors())
    return mw, None
