"""Beat rules shared by the elementwise kinds (Threshold, ShiftRound, Add, Reshape): they keep the
width they receive and take one cycle per beat of a sample."""
from __future__ import annotations

import numpy as np


def reads(graph, layer, arriving: int) -> int:
    return arriving


def out_lanes(graph, layer, arriving: int) -> int:
    return arriving


def cycles(graph, layer, lanes: dict) -> int:
    return int(np.prod(graph.streams[layer.inputs[0]].shape)) // lanes[layer.inputs[0]]
