"""Which HwGraph layer an hls4ml layer computes, by name.

The HwGraph names its layers after the nodes of :func:`hwkit.ir.lower.clean_model` (sanitized); hls4ml
names its layers after the nodes of the model :func:`.project.clean_qonnx` hands it, which qonnx renames
(``Gemm_0`` -> ``MatMul_0``) and hls4ml decorates (``Dense_MatMul_0``, ``Quant_8_act``). Every node is
tagged with its HwGraph name in ``doc_string`` before cleaning; :class:`NameMap` reads the tags back
(hls4ml itself gets the model :func:`untagged`).
"""
from __future__ import annotations

from hwkit.errors import UnsupportedModelError

TAG = "hwkit:"
MVU_CLASSES = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")  # hls4ml layers of one MVU
VVU_CLASSES = ("DepthwiseConv1D", "DepthwiseConv2D")  # hls4ml layers of one VVU (depthwise convolution)


def tag_nodes(model) -> None:
    """Record each node's HwGraph name (sanitized as the lowering does) in its doc_string, in place."""
    from hwkit.ir.translate import sanitize

    for node in model.graph.node:
        node.doc_string = TAG + sanitize(node.name)


def tag_of(node) -> str | None:
    return node.doc_string[len(TAG):] if node.doc_string.startswith(TAG) else None


def untagged(model):
    """A copy of ``model`` without the tags."""
    from qonnx.core.modelwrapper import ModelWrapper

    m = ModelWrapper(model.model.__deepcopy__())
    for node in m.graph.node:
        if node.doc_string.startswith(TAG):
            node.ClearField("doc_string")
    return m


def carry_gemm_tags(model, gemm_outputs: dict) -> None:
    """qonnx's GemmToMatMul makes fresh MatMul/Add nodes: the MatMul computing a Gemm's output gets the
    Gemm's tag (``gemm_outputs``: Gemm output tensor -> tag, recorded before the transformation)."""
    for tensor, tag in gemm_outputs.items():
        node = model.find_producer(tensor)
        while node is not None and node.op_type in ("Add", "Mul") and not tag_of(node):
            node = model.find_producer(node.input[0])
        if node is not None and node.op_type == "MatMul":
            node.doc_string = TAG + tag


class NameMap:
    """hls4ml layer -> ONNX node of the cleaned model -> HwGraph layer, each step by name."""

    def __init__(self, model, graph):
        """``model``: the tagged model hls4ml converts (untagged), ``graph``: the HwGraph."""
        self.model, self.graph = model, graph
        self.nodes = {n.name: n for n in model.graph.node}
        self.hw = {layer.name: layer for layer in graph.layers}

    def node(self, hls_layer):
        """The ONNX node an hls4ml layer was made from: its name, or its name with hls4ml's decoration
        (``Dense_`` / ``bn_`` prefixes, an ``_act`` suffix) taken off."""
        name = hls_layer.name
        cands = [name, name[:-4] if name.endswith("_act") else name]
        parts = name.split("_")
        cands += ["_".join(parts[i:]) for i in range(1, len(parts))]
        return next((self.nodes[c] for c in cands if c in self.nodes), None)

    def hw_name(self, hls_layer) -> str | None:
        node = self.node(hls_layer)
        return tag_of(node) if node is not None else None

    def layer(self, hls_layer, kinds: tuple):
        """The HwGraph layer of this hls4ml layer, one of ``kinds``; a one-line error naming it if none."""
        hw = self.hw.get(self.hw_name(hls_layer) or "")
        if hw is None or hw.kind not in kinds:
            raise UnsupportedModelError(
                f"hls4ml layer '{hls_layer.name}' ({hls_layer.class_name}) has no HwGraph {'/'.join(kinds)} layer "
                f"of the same name (looked for '{self.hw_name(hls_layer)}' in graph '{self.graph.name}')")
        return hw

    def quantizer_after(self, hls_layer):
        """The HwGraph requantization of the Quant node that hls4ml folded into ``hls_layer``'s result
        type: the first Quant reached through the ops the layer absorbs (the layer's own node if it is one)."""
        node = self.node(hls_layer)
        seen = 0
        while node is not None and seen < 8:
            if node.op_type in ("Quant", "Trunc"):
                return self._quant_layer(node, hls_layer)
            cons = self.model.find_consumers(node.output[0]) or []
            node = cons[0] if len(cons) == 1 else None
            seen += 1
        raise UnsupportedModelError(
            f"hls4ml layer '{hls_layer.name}' rounds and saturates its result but no Quant node follows it")

    def _quant_layer(self, node, hls_layer):
        hw = self.hw.get(tag_of(node) or "")
        if hw is not None and hw.kind in ("ShiftRound", "Threshold"):
            return hw
        raise UnsupportedModelError(
            f"hls4ml layer '{hls_layer.name}': its quantizer '{node.name}' has no HwGraph ShiftRound/Threshold "
            f"named '{tag_of(node)}'")
