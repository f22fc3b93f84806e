"""HwGraph IR and lowering from QONNX."""
from hwkit.ir.check import check_graph
from hwkit.ir.folding import fold
from hwkit.ir.graph import (MVU, Add, FloatOutput, FloatTail, Folding, HwGraph, InputPrep, Layer, Pool, PrepOp, Probe,
                            Reshape, ShiftRound, SlidingWindow, Stream, Threshold)
from hwkit.ir.inputs import grid_to_float, quantize_input, random_grid_inputs
from hwkit.ir.lower import GRAPH_PASSES, clean_model, infer_types, lower, lower_with_model, mark_transposed, translate
from hwkit.ir.passes import MODEL_PASSES
from hwkit.ir.serialize import load_graph, save_graph
from hwkit.ir.types import BIPOLAR, IntType

__all__ = ["HwGraph", "Stream", "Layer", "MVU", "SlidingWindow", "Threshold", "ShiftRound", "Pool", "Add", "Reshape",
           "FloatTail", "Folding", "InputPrep", "PrepOp", "Probe", "FloatOutput", "IntType", "BIPOLAR",
           "lower", "lower_with_model", "clean_model", "translate", "infer_types", "mark_transposed", "check_graph", "fold", "save_graph", "load_graph",
           "MODEL_PASSES", "GRAPH_PASSES", "quantize_input", "random_grid_inputs", "grid_to_float"]
