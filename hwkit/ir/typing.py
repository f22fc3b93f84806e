"""Stream types from value ranges: each layer's output range follows from its input types and
integer parameters, so accumulators get exactly the bits they need. The rule of each layer kind
lives in its module (:mod:`hwkit.kinds`); these are the two questions passes ask of any layer."""
from __future__ import annotations

from hwkit.ir.graph import Stream
from hwkit.ir.types import IntType
from hwkit.kinds import kind_of


def output_range(layer, streams: dict[str, Stream]) -> tuple[int, int] | None:
    """Exact bounds [lo, hi] of ``layer``'s output values from its input types and integer
    parameters (None for kinds without integer output, e.g. FloatTail)."""
    kind = kind_of(layer)
    return kind.output_range(layer, streams) if kind.HARDWARE else None


def infer_layer(layer, streams: dict[str, Stream], max_acc_bits: int = 32) -> IntType:
    """The output type of ``layer`` given the types of its input streams (for an MVU, also its
    accumulator type: the MVU's output stream is the accumulator)."""
    kind = kind_of(layer)
    if not kind.HARDWARE:
        raise TypeError(f"no type rule for {layer.kind}")
    return kind.output_type(layer, streams, max_acc_bits)
