"""HwGraph IR and lowering from QONNX."""
from hwkit.ir.graph import (MVU, Add, FloatTail, Folding, HwGraph, Layer, Pool, Reshape, ShiftRound, SlidingWindow,
                            Stream, SymmetricBlock, Threshold)
from hwkit.ir.inputs import grid_to_float, quantize_input, random_grid_inputs
from hwkit.ir.lower import GRAPH_PASSES, infer_types, lower, mark_transposed, translate
from hwkit.ir.passes import MODEL_PASSES
from hwkit.ir.types import BIPOLAR, IntType

__all__ = ["HwGraph", "Stream", "Layer", "MVU", "SlidingWindow", "Threshold", "ShiftRound", "Pool", "Add", "Reshape",
           "SymmetricBlock", "FloatTail", "Folding", "IntType", "BIPOLAR", "lower", "translate", "infer_types",
           "mark_transposed", "MODEL_PASSES", "GRAPH_PASSES", "quantize_input", "random_grid_inputs",
           "grid_to_float"]
