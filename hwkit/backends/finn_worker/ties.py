"""Make FINN's streamlined MultiThreshold nodes resolve rounding ties like hwkit's golden model.

The table comes from hwkit (hwkit/backends/finn_ties.py): per requantizer, in graph order, the
integer thresholds FINN's ``x >= t`` rule gives (``ties_up``) and the golden ones (``exact``) on
hwkit's accumulator, which includes the MVU bias (``offset``) that FINN folds into its thresholds.
Each MultiThreshold on an integer input is paired with the next requantizer; its thresholds are
changed only if all of them equal ``ties_up`` mapped into FINN's accumulator domain (the pairing is
then certain), and then only where ``exact`` differs, i.e. where a tie is reachable and golden rounds
down. The float input quantizer is handled the same way in float32.

numpy and qonnx only: this runs in the FINN venv and is tested in hwkit's.
"""
from __future__ import annotations

import numpy as np


def _finn_domain(model, node, values: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Integer thresholds on hwkit's accumulator n -> the equivalent thresholds on FINN's input.

    FINN's input is n - offset, or for an XNOR popcount layer p with n - offset = 2 p - MW:
    n >= t  <=>  p >= ceil((t - offset + MW) / 2)."""
    v = values - offset[:, None]
    producer = model.find_producer(node.input[0])
    if producer is not None and producer.op_type == "XnorPopcountMatMul":
        mw = model.get_tensor_shape(producer.input[1])[0]
        v = -((-(v + mw)) // 2)  # ceil division on integers
    return v


def _retarget(model, node, up: np.ndarray, exact: np.ndarray, valid: np.ndarray, name: str,
              integer: bool = True) -> dict:
    """Check ``node``'s thresholds equal ``up`` where ``valid`` (on an integer input, as ceil: FINN
    may leave 32.5 where 33 means the same), then set those that differ from ``exact`` to it."""
    thr = model.get_initializer(node.input[1])
    rec = {"node": node.name, "requantizer": name, "changed": 0}
    if thr is None:
        return {**rec, "skipped": "thresholds are not an initializer"}
    thr = np.asarray(thr)
    rows = max(thr.shape[0], up.shape[0])
    if thr.ndim != 2 or thr.shape[1] != up.shape[1] or thr.shape[0] not in (1, rows) or up.shape[0] not in (1, rows):
        return {**rec, "skipped": f"thresholds {list(thr.shape)} do not fit {list(up.shape)} levels"}
    full = np.broadcast_to(thr, (rows, thr.shape[1])).astype(np.float64)
    up, exact, valid = (np.broadcast_to(a, full.shape) for a in (up, exact, valid))
    seen = np.ceil(full) if integer else full
    disagree = int((seen[valid] != up[valid]).sum())
    if disagree:
        return {**rec, "skipped": f"{disagree} thresholds differ from the golden model's ties-up values: not paired"}
    new = np.where(valid & (exact != up), exact, full)
    rec["changed"] = int((new != full).sum())
    if rec["changed"]:
        if thr.shape[0] == 1 and np.all(new == new[:1]):
            new = new[:1]
        model.set_initializer(node.input[1], new.astype(np.float32))
    return rec


def apply_tie_table(model, table: dict) -> tuple:
    """(model, report): ``model``'s MultiThreshold thresholds moved to the golden rounding."""
    from qonnx.core.datatype import DataType

    mts = [n for n in model.graph.node if n.op_type == "MultiThreshold"]
    is_int = [model.get_tensor_datatype(n.input[0]) not in (None, DataType["FLOAT32"]) and
              model.get_tensor_datatype(n.input[0]).is_integer() for n in mts]
    report = {"nodes": [], "changed": 0, "notes": []}
    inp = table.get("input")
    floats = [n for n, i in zip(mts, is_int) if not i]
    first = model.find_producer(floats[0].input[0]) if floats else None
    # the input quantizer reads the model input itself (through layout changes only)
    if inp is not None and floats and (first is None or first.op_type in ("Flatten", "Reshape", "Transpose")):
        up = np.asarray(inp["ties_up"], dtype=np.float32).astype(np.float64)
        exact = np.asarray(inp["exact"], dtype=np.float32).astype(np.float64)
        report["nodes"].append(_retarget(model, floats[0], up, exact, np.ones(up.shape, bool), "input",
                                          integer=False))
    ints = [n for n, i in zip(mts, is_int) if i]
    entries = table.get("requant", [])
    if len(ints) != len(entries):
        report["notes"].append(f"FINN has {len(ints)} MultiThreshold nodes on integers, hwkit "
                               f"{len(entries)} requantizers: ties not corrected there")
        ints = []
    for node, entry in zip(ints, entries):
        if entry.get("skip"):
            report["nodes"].append({"node": node.name, "requantizer": entry["layer"], "changed": 0,
                                    "skipped": entry["skip"]})
            continue
        offset = np.asarray(entry["offset"], dtype=np.int64)
        up = _finn_domain(model, node, np.asarray(entry["ties_up"], dtype=np.int64), offset)
        exact = _finn_domain(model, node, np.asarray(entry["exact"], dtype=np.int64), offset)
        valid = np.broadcast_to(np.asarray(entry["valid"], dtype=bool), up.shape)
        report["nodes"].append(_retarget(model, node, up, exact, valid, entry["layer"]))
    report["changed"] = sum(r["changed"] for r in report["nodes"])
    report["skipped"] = [f"{r['node']} ({r['requantizer']}): {r['skipped']}" for r in report["nodes"] if r.get("skipped")]
    return model, report
