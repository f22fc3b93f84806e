"""Integer stream types of the HwGraph.

A value on a hardware stream is an integer; its real meaning is ``value * scale`` where the scale
lives on the :class:`~hwkit.ir.graph.Stream`. Types are small and frozen so they can be compared
and hashed by passes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntType:
    """A fixed-width integer. ``bipolar`` is the 1-bit {-1, +1} type of FINN's BNNs (stored as 1 bit,
    0 meaning -1); ``narrow`` drops the most negative value of a signed type (symmetric range)."""

    bits: int
    signed: bool
    bipolar: bool = False
    narrow: bool = False

    def __post_init__(self):
        if self.bits < 1:
            raise ValueError(f"integer type needs >= 1 bit, got {self.bits}")
        if self.bipolar and (self.bits != 1 or not self.signed):
            raise ValueError("a bipolar type is 1 bit and signed")

    @property
    def min(self) -> int:
        if self.bipolar:
            return -1
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def max(self) -> int:
        if self.bipolar:
            return 1
        return (1 << self.bits) - 1 if not self.signed else (1 << (self.bits - 1)) - 1

    def contains(self, values: np.ndarray) -> bool:
        values = np.asarray(values)
        if values.size == 0:
            return True
        if self.bipolar:
            return bool(np.all(np.abs(values) == 1))
        return bool(values.min() >= self.min and values.max() <= self.max)

    @staticmethod
    def for_range(lo: int, hi: int) -> "IntType":
        """The narrowest type holding every integer in [lo, hi] (accumulator sizing)."""
        lo, hi = int(lo), int(hi)
        if lo >= 0:
            return IntType(max(1, hi.bit_length()), signed=False)
        bits = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        return IntType(bits, signed=True)

    def __str__(self) -> str:
        if self.bipolar:
            return "bipolar"
        return f"{'int' if self.signed else 'uint'}{self.bits}"


BIPOLAR = IntType(1, signed=True, bipolar=True)
