"""What the build stages share: the graph artefact, the board, the backend, small results.

The graph artefact lives in two functions here (``save_graph_artefact``,
``load_graph_artefact``) so the artefact format changes in one place; folding is hwkit.ir.fold.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.backends.base import require  # noqa: F401  (re-exported for stages)

QONNX = "model.qonnx.onnx"
GRAPH = "hwgraph"  # directory: graph.json + graph.npz (hwkit.ir.save_graph)


def save_graph_artefact(graph, directory: Path) -> list[str]:
    """Write the HwGraph into ``directory``/hwgraph (JSON + npz, no code); returns the files written."""
    from hwkit.ir.serialize import save_graph

    return [f"{GRAPH}/{name}" for name in save_graph(graph, Path(directory) / GRAPH)]


def load_graph_artefact(directory: Path):
    """The HwGraph of a lower stage directory, validated and checked (hwkit.ir.load_graph)."""
    from hwkit.ir.serialize import load_graph

    return load_graph(Path(directory) / GRAPH)


def folding_of(graph) -> dict:
    """{MVU name: [pe, simd]} (JSON lists) of every matrix layer (hwkit.ir.folding.folding_of)."""
    from hwkit.ir.folding import folding_of as ir_folding

    return {name: list(f) for name, f in ir_folding(graph).items()}


def board(ctx):
    if "board" not in ctx.cache:
        from hwkit.boards import load_board

        ctx.cache["board"] = load_board(ctx.config.board)
    return ctx.cache["board"]


def backend(ctx):
    if "backend" not in ctx.cache:
        from hwkit.backends import get_backend

        ctx.cache["backend"] = get_backend(ctx.config.backend)
    return ctx.cache["backend"]


def requested_clock(ctx):
    """The clock the build asks for (config, else the board's default): hwkit.stages.records.Clock."""
    from hwkit.stages.records import Clock

    return Clock.requested(ctx.config, board(ctx))


def current_clock(ctx):
    """The latest clock record of the stages run so far (a PLL or a re-closure changes it)."""
    from hwkit.stages.records import Clock

    for name in reversed(list(ctx.results)):
        rec = ctx.results[name].get("clock") if ok(ctx, name) else None
        if rec:
            return Clock.from_dict(rec)
    return requested_clock(ctx)


def status(ctx, stage: str) -> Optional[str]:
    import json

    path = ctx.stage_dir(stage) / "stage.json"
    return json.loads(path.read_text()).get("status") if path.exists() else None


def ok(ctx, stage: str) -> bool:
    return stage in ctx.dirs and status(ctx, stage) == "ok"


def graph(ctx):
    if "graph" not in ctx.cache:
        ctx.cache["graph"] = load_graph_artefact(ctx.stage_dir("lower"))
    return ctx.cache["graph"]


def unavailable(what: str, who: str) -> dict:
    """An earlier stage produced nothing this one can use (it was not applicable): skip, saying why."""
    return {"status": "unavailable", "reason": f"needs {what}, which the {who} did not produce"}


def versions(ctx, *packages: str) -> None:
    from importlib.metadata import PackageNotFoundError, version

    for p in packages:
        try:
            ctx.record_tool(p, version(p))
        except PackageNotFoundError:
            pass


def float_scores(graph, outputs: dict) -> np.ndarray:
    """Host-side float scores: a FloatTail's output when given, else the tail applied to the integer
    output, else the integer output itself."""
    from hwkit.ir.graph import FloatTail

    tails = [layer for layer in graph.layers if isinstance(layer, FloatTail)]
    for tail in tails:
        if tail.outputs[0] in outputs:
            return np.asarray(outputs[tail.outputs[0]], dtype=np.float64)
    if tails and tails[0].inputs[0] in outputs:
        tail = tails[0]
        x = np.asarray(outputs[tail.inputs[0]], dtype=np.float64)
        return x * np.asarray(tail.scale, dtype=np.float64) + np.asarray(tail.offset, dtype=np.float64)
    return np.asarray(outputs[graph.outputs[0]], dtype=np.float64)
