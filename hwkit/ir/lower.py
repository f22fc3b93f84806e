"""``lower``: QONNX model -> HwGraph, as a named list of small pure passes (:data:`PASSES`).

1. Model passes (``ModelWrapper -> ModelWrapper``, :mod:`hwkit.ir.passes`): refuse malformed files,
   then qonnx's own normalisers (InferShapes, FoldConstants, RemoveUnusedTensors,
   RemoveStaticGraphInputs, ChangeBatchSize) so that the translation sees one canonical form.
2. ``translate`` (:mod:`hwkit.ir.translate`): one rule per ONNX op type; each quantizer on a stream
   is a site decided by the requantization passes (:data:`hwkit.ir.lowering.SITE_PASSES`: absorb
   scale, absorb bias, fold ReLU into the clip, ShiftRound or exact Threshold, flip rows).
3. Graph passes (``HwGraph -> HwGraph``, :data:`hwkit.ir.lowering.GRAPH_PASSES`): type the
   accumulators, mark K/K^T. Every graph pass is followed by :func:`hwkit.ir.check.check_graph`.
0. Only with ``input_format`` (``--input-format``, for a model whose input has no quantizer): the model
   pass :func:`hwkit.ir.input_format.insert_input_quant` puts a QONNX Quant in front of the graph input.
Folding is not part of lowering: it needs the board and a throughput target, so the build's model
stage runs it (:func:`hwkit.ir.fold` through the backend)."""
from __future__ import annotations

from hwkit.errors import HwkitError, in_source_terms
from hwkit.ir.check import check_graph
from hwkit.ir.graph import HwGraph
from hwkit.ir.lowering import GRAPH_PASSES, SITE_PASSES, infer_types, mark_transposed  # noqa: F401 (re-exported)
from hwkit.ir.passes import MODEL_PASSES
from hwkit.ir.translate import Translator
from hwkit.sourcenames import source_names


def translate(model, max_acc_bits: int = 32) -> HwGraph:
    return Translator(model, max_acc_bits).run()


def _name(p) -> str:
    return getattr(p, "name", None) or p.__name__


# the whole pipeline, in order, by stage (what `lower` runs; names for docs, reports and tests)
PASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", tuple(_name(p) for p in MODEL_PASSES)),
    ("translate", ("translate",)),
    ("site", tuple(_name(p) for p in SITE_PASSES)),
    ("graph", tuple(_name(p) for p in GRAPH_PASSES)),
)


def clean_model(model_or_path, input_format: str = ""):
    """The normalised QONNX model that :func:`lower` translates (a private ModelWrapper): what
    comparisons against qonnx execution run. ``input_format`` (e.g. 'fixed<16,6>'): quantize the
    input of a model that has no input quantizer (hwkit.ir.input_format)."""
    from hwkit.ir.passes import load

    from hwkit.ir.input_format import quantized_model
    from hwkit.ir.validate import validate_model

    model = load(model_or_path)
    for p in MODEL_PASSES:
        model = p(model)
        if p is validate_model and input_format:  # on a well-formed model, before qonnx's normalisers
            model = quantized_model(model, input_format)[0]
    return model


def lower_with_model(model_or_path, max_acc_bits: int = 32, input_format: str = ""):
    """``(graph, model)``: the HwGraph and the normalised QONNX model it was translated from. Errors
    name nodes and tensors as the user's file did before a cleanup renamed them (hwkit.sourcenames)."""
    try:
        model = clean_model(model_or_path, input_format)
        graph = check_graph(_translate_float_input_hint(model, max_acc_bits))
        for p in GRAPH_PASSES:
            graph = check_graph(p(graph, max_acc_bits) if p is infer_types else p(graph))
    except HwkitError as err:
        named = in_source_terms(err, source_names(model_or_path))
        if named is err:
            raise
        raise named from err
    return graph, model


def _translate_float_input_hint(model, max_acc_bits):
    """translate(), with the fix named when the model fails because its input has no quantizer."""
    from hwkit.errors import UnsupportedModelError
    from hwkit.ir.input_format import input_quantizer

    try:
        return translate(model, max_acc_bits)
    except UnsupportedModelError as err:
        if input_quantizer(model) is not None:
            raise
        raise UnsupportedModelError(f"{err}; the model's input has no quantizer: give --input-format "
                                    f"(e.g. fixed<16,6>; `hwkit build` picks one from the data)") from err


def lower(model_or_path, max_acc_bits: int = 32, input_format: str = "") -> HwGraph:
    """Lower a QONNX model (path, ModelWrapper or ModelProto) to an HwGraph.

    Raises :class:`hwkit.errors.UnsupportedModelError` naming the node and op type for anything
    without an exact integer lowering. ``input_format``: as :func:`clean_model`."""
    return lower_with_model(model_or_path, max_acc_bits, input_format)[0]
