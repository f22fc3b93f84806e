"""hwkit's lowering passes, in the ``match``/``rewrite`` shape (hls4ml's optimizer passes, qonnx's
small transformations): a pass looks at one thing (a requantization site, a layer), says whether it
applies, and returns a new thing; it fills only its own fields and never edits what another pass
emitted. The whole pipeline, qonnx normalisers first, is :data:`hwkit.ir.lower.PASSES`."""
from __future__ import annotations

from typing import Any, Protocol

from hwkit.ir.lowering.graph_passes import GRAPH_PASSES, MarkTransposed, TypeAccumulators, infer_types, mark_transposed
from hwkit.ir.lowering.requantize import (SITE_PASSES, AbsorbBias, AbsorbScale, FlipRows, FoldRelu, RequantizeShift,
                                          RequantizeThreshold, run_site)
from hwkit.ir.lowering.site import Site


class Pass(Protocol):
    """One lowering rule. ``ctx`` is what the rule may read besides ``node`` (the translation
    context for sites, the graph for layers)."""

    name: str

    def match(self, ctx: Any, node: Any) -> bool: ...

    def rewrite(self, ctx: Any, node: Any) -> Any: ...


__all__ = ["Pass", "Site", "SITE_PASSES", "GRAPH_PASSES", "run_site", "AbsorbScale", "AbsorbBias", "FoldRelu",
           "RequantizeShift", "RequantizeThreshold", "FlipRows", "TypeAccumulators", "MarkTransposed",
           "infer_types", "mark_transposed"]
