"""Stream re-ordering: ``y = x.transpose(perm).reshape(shape)`` per sample (flatten etc.). In hardware
only an order-preserving reshape exists, as a renamed stream; a permutation is folded into the next
MVU's weights by lowering, or refused by the RTL backend."""
from __future__ import annotations

import numpy as np

from hwkit.errors import UnsupportedModelError
from hwkit.ir.graph import Reshape
from hwkit.kinds.elementwise import out_lanes, reads  # noqa: F401  (its beat rules)

LAYER = Reshape
HARDWARE = True
STREAM_ALIAS = True
blocks_sample = False
BLOCKS: dict = {}


def output_range(layer: Reshape, streams) -> tuple[int, int]:
    t = streams[layer.inputs[0]].dtype
    return int(t.min), int(t.max)


def output_type(layer: Reshape, streams, max_acc_bits: int = 32):
    return streams[layer.inputs[0]].dtype


def check(layer, streams, producer) -> str | None:
    return None


def execute(layer: Reshape, ins, run) -> np.ndarray:
    x = ins[0]
    y = x if layer.perm is None else x.transpose((0,) + tuple(p + 1 for p in layer.perm))
    return np.ascontiguousarray(y).reshape((x.shape[0],) + tuple(layer.shape))


def float_lane(layer, graph) -> bool:
    return True


def tie(layer, graph, acc: int, element) -> bool:
    return False


def in_order(streams, layer: Reshape) -> bool:
    """True when the reshape keeps the element order of the stream (a renaming)."""
    if layer.perm is None:
        return True
    shape = streams[layer.inputs[0]].shape
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return bool(np.array_equal(idx.transpose(layer.perm).reshape(-1), idx.reshape(-1)))


def cycles(graph, layer, lanes: dict) -> int:
    """None when it keeps the order (a renaming), else one element per cycle."""
    return 0 if in_order(graph.streams, layer) else int(np.prod(graph.streams[layer.inputs[0]].shape))


def emit(b, layer: Reshape):
    if not in_order(b.streams, layer):
        raise UnsupportedModelError(
            f"layer '{layer.name}' (Reshape with perm {layer.perm}) reorders the stream; the RTL backend only "
            f"supports order-preserving reshapes (fold the permutation into the next MVU's weights)")
    b.alias[layer.outputs[0]] = layer.inputs[0]
