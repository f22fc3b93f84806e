"""HwGraph types as hls4ml fixed-point types.

An :class:`~hwkit.ir.types.IntType` on a stream whose scale is a power of two is an ap_fixed /
ap_ufixed: :func:`grid_of` gives its :class:`Grid` (the integers lo..hi times 2**-frac), ``.fixed()``
its hls4ml type; a quantizer's type also rounds half to even and saturates (:func:`quant_type`).
Which HwGraph layer gives which hls4ml layer its types is :mod:`.configure`'s business.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hls4ml.backends.fpga.fpga_types import APTypeConverter
from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

from hwkit.errors import UnsupportedModelError


@dataclass(frozen=True)
class Grid:
    """The integers lo..hi times 2**-frac."""
    lo: int
    hi: int
    frac: int

    def fixed(self, rounding=None, saturation=None) -> FixedPrecisionType:
        lo, hi = min(self.lo, 0), max(self.hi, 0)
        if lo >= 0:
            bits, signed = max(1, hi.bit_length()), False
        else:
            bits, signed = max((-lo - 1).bit_length(), hi.bit_length()) + 1, True
        return ap(FixedPrecisionType(bits, bits - self.frac, signed, rounding, saturation))

    def at(self, frac: int) -> "Grid":
        s = frac - self.frac
        assert s >= 0
        return Grid(self.lo << s, self.hi << s, frac)

    def union(self, other: "Grid") -> "Grid":
        f = max(self.frac, other.frac)
        a, b = self.at(f), other.at(f)
        return Grid(min(a.lo, b.lo), max(a.hi, b.hi), f)

    @staticmethod
    def of_type(p) -> "Grid":
        if not isinstance(p, FixedPrecisionType):
            raise UnsupportedModelError(f"hls4ml type {p} is not a fixed-point type")
        frac = p.width - p.integer
        if p.signed:
            lo, hi = -(1 << (p.width - 1)), (1 << (p.width - 1)) - 1
            if p.saturation_mode == SaturationMode.SAT_SYM:
                lo += 1
        else:
            lo, hi = 0, (1 << p.width) - 1
        return Grid(lo, hi, frac)


def ap(p):
    """Vitis/Vivado write ap_fixed definitions: give a fresh type their C++ spelling."""
    return APTypeConverter().convert(p)


def _frac_of(scale, what: str) -> np.ndarray:
    e = -np.log2(np.abs(np.ravel(np.asarray(scale, np.float64))))
    if not np.all(np.isfinite(e)) or not np.all(e == np.round(e)):
        raise UnsupportedModelError(f"{what}: scale {np.ravel(scale)[0]:.6g} is not a power of two, "
                                    "hls4ml has no exact fixed-point type for it")
    return e.astype(np.int64)


def grid_of(t, scale, what: str) -> Grid:
    """An IntType on the grid of a power-of-two scale (per channel: the finest, the range widened)."""
    e = _frac_of(scale, what)
    f = int(e.max())
    return Grid(min(int(t.min) << int(f - c) for c in e), max(int(t.max) << int(f - c) for c in e), f)


def quant_type(t, grid: Grid):
    """The C++ type whose cast rounds half to even and saturates like the quantizer of IntType ``t``."""
    sat = SaturationMode.SAT_SYM if (t.signed and t.narrow) else SaturationMode.SAT
    return grid.fixed(RoundingMode.RND_CONV, sat)


def pot_ok(p) -> bool:
    """Quantizer output types round half to even and saturate, as QONNX Quant does."""
    return (isinstance(p, FixedPrecisionType) and p.rounding_mode == RoundingMode.RND_CONV
            and p.saturation_mode in (SaturationMode.SAT, SaturationMode.SAT_SYM))


def same_type(a, b) -> bool:
    return (a.width, a.integer, a.signed, a.rounding_mode, a.saturation_mode) == \
        (b.width, b.integer, b.signed, b.rounding_mode, b.saturation_mode)
