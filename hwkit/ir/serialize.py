"""A lossless, code-free HwGraph artefact: ``graph.json`` (structure, types, scalar parameters) and
``graph.npz`` (every array), readable without hwkit and loaded without running anyone's code.

JSON values are tagged: ``{"@": "MVU", ...fields}`` for an IR record (a layer kind, Stream, IntType,
Folding, InputPrep, ...), ``{"@": "array", "key", "dtype", "shape"}`` for an array in the .npz,
``{"@": "map", "items": [[key, value], ...]}`` for an ordered mapping; lists are tuples. Both files
are deterministic (sorted keys, fixed zip timestamps), so the same graph gives the same bytes.
Loading validates every record against the IR (unknown kind or field, missing array, dtype or shape
different from the JSON's word) and runs :func:`hwkit.ir.check.check_graph`."""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from hwkit.errors import GraphError
from hwkit.ir import graph as ir
from hwkit.ir.check import check_graph
from hwkit.ir.types import IntType
from hwkit.kinds import layer_classes

SCHEMA = 1
JSON_NAME, NPZ_NAME = "graph.json", "graph.npz"


def records() -> dict:
    """The IR records a graph file may name: the graph's own and every registered layer kind."""
    return {c.__name__: c for c in (ir.HwGraph, ir.Stream, *layer_classes(), ir.Folding, ir.InputPrep, ir.PrepOp,
                                    ir.Probe, ir.FloatOutput, IntType)}
INTEGER_ARRAYS = {"weights", "bias", "thresholds", "index"}  # fields whose arrays must hold integers


class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, v, path: str):
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biuf":
                raise GraphError(f"cannot save '{path}': arrays of dtype {v.dtype} are not supported")
            self.arrays[path] = v
            return {"@": "array", "key": path, "dtype": v.dtype.str, "shape": list(v.shape)}
        if is_dataclass(v) and not isinstance(v, type):
            name = type(v).__name__
            if records().get(name) is not type(v):
                raise GraphError(f"cannot save '{path}': {name} is not an IR record")
            out = {"@": name}
            for f in fields(v):
                out[f.name] = self.encode(getattr(v, f.name), f"{path}/{f.name}")
            return out
        if isinstance(v, Mapping):
            return {"@": "map", "items": [[str(k), self.encode(x, f"{path}/{k}")] for k, x in v.items()]}
        if isinstance(v, (list, tuple)):
            return [self.encode(x, f"{path}/{i}") for i, x in enumerate(v)]
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(float(v)):  # JSON has no inf/nan: keep it exact in the .npz
                return self.encode(np.asarray(float(v)), path)
            return float(v)
        if v is None or isinstance(v, str):
            return v
        raise GraphError(f"cannot save '{path}': value of type {type(v).__name__}")


def _atomic(path: Path, data: bytes):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _npz_bytes(arrays: dict) -> bytes:
    """What np.savez writes, with fixed entry timestamps so the bytes depend on the arrays only."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with z.open(info, "w", force_zip64=True) as f:
                a = arrays[key]  # ascontiguousarray would make a 0-d array 1-d (a scalar PrepOp constant)
                np.lib.format.write_array(f, a if a.ndim == 0 else np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def save_graph(graph: ir.HwGraph, directory) -> list[str]:
    """Write ``graph.json`` and ``graph.npz`` into ``directory`` (created if missing); returns the
    file names written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    w = _Writer()
    doc = {"format": "hwkit-graph", "schema": SCHEMA, "graph": w.encode(check_graph(graph), "graph")}
    _atomic(d / NPZ_NAME, _npz_bytes(w.arrays))
    _atomic(d / JSON_NAME, (json.dumps(doc, sort_keys=True, indent=1, allow_nan=False) + "\n").encode())
    return [JSON_NAME, NPZ_NAME]


class _Reader:
    def __init__(self, arrays, where: str):
        self.arrays, self.where = arrays, where

    def fail(self, path: str, why: str):
        raise GraphError(f"{self.where}: '{path}' {why}")

    def decode(self, v, path: str):
        if isinstance(v, list):
            return tuple(self.decode(x, f"{path}/{i}") for i, x in enumerate(v))
        if not isinstance(v, dict):
            return v
        tag = v.get("@")
        if tag == "array":
            return self.array(v, path)
        if tag == "map":
            items = v.get("items")
            if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
                self.fail(path, "is a malformed mapping")
            return {str(k): self.decode(x, f"{path}/{k}") for k, x in items}
        cls = records().get(tag)
        if cls is None:
            self.fail(path, f"has unknown kind {tag!r} (known: {', '.join(sorted(records()))})")
        known = {f.name: f for f in fields(cls)}
        extra = sorted(set(v) - set(known) - {"@"})
        if extra:
            self.fail(path, f"({tag}) has unknown field {extra[0]!r}")
        missing = [n for n, f in known.items() if n not in v and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            self.fail(path, f"({tag}) lacks field {missing[0]!r}")
        values = {k: self.decode(x, f"{path}/{k}") for k, x in v.items() if k != "@"}
        for k in INTEGER_ARRAYS & set(values):
            a = values[k]
            if isinstance(a, np.ndarray) and a.dtype.kind not in "iu":
                self.fail(f"{path}/{k}", f"must hold integers, got {a.dtype}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            self.fail(path, f"({tag}) is invalid: {str(e).splitlines()[0]}")

    def array(self, v, path):
        key = v.get("key")
        if key not in self.arrays:
            self.fail(path, f"names array {key!r}, which {NPZ_NAME} lacks")
        a = self.arrays[key]
        if a.dtype.str != v.get("dtype") or list(a.shape) != v.get("shape"):
            self.fail(path, f"is {a.dtype.str} {list(a.shape)} in {NPZ_NAME}, {v.get('dtype')} {v.get('shape')} in "
                            f"{JSON_NAME}")
        return a


def load_graph(directory) -> ir.HwGraph:
    """Read a graph written by :func:`save_graph` (arrays loaded with ``allow_pickle=False``), check
    every record and the graph's invariants; one-line :class:`hwkit.errors.GraphError` otherwise."""
    d = Path(directory)
    jp, npzp = d / JSON_NAME, d / NPZ_NAME
    for p in (jp, npzp):
        if not p.is_file():
            raise GraphError(f"{d}: no {p.name} (not a saved HwGraph)")
    try:
        doc = json.loads(jp.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise GraphError(f"{jp}: not JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("format") != "hwkit-graph":
        raise GraphError(f"{jp}: not an hwkit graph file")
    if doc.get("schema") != SCHEMA:
        raise GraphError(f"{jp}: schema version {doc.get('schema')!r}, this hwkit reads {SCHEMA}")
    try:
        with np.load(npzp, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - a damaged or pickled archive is the file's fault
        raise GraphError(f"{npzp}: cannot read arrays ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    r = _Reader(arrays, str(jp))
    g = r.decode(doc.get("graph"), "graph")
    if not isinstance(g, ir.HwGraph):
        raise GraphError(f"{jp}: 'graph' is not an HwGraph record")
    return check_graph(g)
