"""Rules shared by several kinds: the elementwise beat rules (Threshold, ShiftRound, Add, Reshape keep
the width they receive and take one cycle per beat of a sample), the pixel-wise lane rule, and the
float-lane and tie rules of kinds that round nothing."""
from __future__ import annotations

import math

import numpy as np


def reads(graph, layer, arriving: int) -> int:
    return arriving


def out_lanes(graph, layer, arriving: int) -> int:
    return arriving


def cycles(graph, layer, lanes: dict) -> int:
    return int(np.prod(graph.streams[layer.inputs[0]].shape)) // lanes[layer.inputs[0]]


def channel_lanes(graph, layer, arriving: int) -> int:
    """Lanes of a kind that works on whole pixels (pool, pad, upsample, argmax): what divides both the
    arriving width and the channels, so no beat straddles two pixels."""
    return math.gcd(arriving, graph.streams[layer.inputs[0]].channels)


def moves_values(layer, graph) -> bool:
    """float_lane of a kind that only moves or compares values: float32 integers stay exact."""
    return True


def no_rounding(layer, graph, acc: int, element) -> bool:
    """tie rule of a kind that rounds nothing."""
    return False
