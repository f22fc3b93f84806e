"""A requantization site: one quantizer applied to an integer stream, and the decisions the
requantization passes (:mod:`hwkit.ir.lowering.requantize`) take about it.

The translation builds a :class:`Site` when a quantizer meets a stream; each pass fills its own
fields (never another pass's) and returns a new site. The translation then emits the one layer the
site ends in, and hands the row changes for the producing MVU (``bias``, ``sign``) to the assembly
of the graph, which builds that MVU once with them: no pass edits a layer that was already emitted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import ShiftRound, Threshold


@dataclass(frozen=True, eq=False)
class Site:
    """``real = chain(n)`` for the integer ``n`` on ``stream`` (in [lo, hi]), then ``quant``."""

    name: str                       # the name the requantization layer gets
    stream: str
    chain: tuple                    # composed (rq.compose) monotone pieces, per channel
    quant: rq.Quantizer
    channels: int
    lo: int
    hi: int
    mvu: Optional[str] = None       # the private MVU producing ``stream``: its rows may change
    mvu_rows: int = 0               # that MVU's output count
    # decisions, each written by exactly one pass
    shift: Optional[int] = None             # absorb_scale: chain scale / quantizer scale = 2**-shift
    offset: Optional[tuple] = None          # absorb_scale: the chain's offset in output steps (Fractions)
    bias: Optional[np.ndarray] = None       # absorb_bias: integers added to the MVU rows (None: not absorbed)
    clip_lo: Optional[int] = None           # fold_relu: the clip's lower end when a ReLU folds into it
    layer: Optional[ShiftRound | Threshold] = None   # requantize_*: the layer the site ends in
    negate: Optional[np.ndarray] = None     # requantize_threshold: channels whose map decreases
    boundaries: Optional[np.ndarray] = None  # requantize_threshold: exact real boundaries (ties)
    sign: Optional[np.ndarray] = None       # flip_rows: +-1 per MVU row

    def row_edit(self) -> Optional[tuple]:
        """``(bias to add or None, row sign or None)`` for the producing MVU, or None if unchanged."""
        bias = self.bias if self.bias is not None and np.any(self.bias) else None
        if bias is None and self.sign is None:
            return None
        return bias, self.sign
