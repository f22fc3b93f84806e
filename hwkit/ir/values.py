"""Symbolic values tracked while translating ONNX tensors (see :mod:`hwkit.ir.translate`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from hwkit.ir.types import IntType


@dataclass
class QW:
    q: np.ndarray  # int64, ONNX shape
    scale: np.ndarray  # float64, broadcast to q's shape
    dtype: IntType


@dataclass
class Pre:
    ops: list
    shape: tuple


@dataclass
class Sym:
    stream: str
    chain: list
    index: np.ndarray
    exclusive: bool = False  # the producer MVU feeds only this chain: its rows may be rewritten
    tail: list = field(default_factory=list)


def sanitize(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and not s[0].isdigit() else "t_" + s


def canonical(shape_chw: tuple) -> np.ndarray:
    """ONNX (C, H, W) element -> flat index in an (H, W, C) stream."""
    c, *sp = shape_chw
    idx = np.arange(int(np.prod(shape_chw))).reshape(*sp, c)
    return np.moveaxis(idx, -1, 0)


def stream_shape_for(shape: tuple) -> tuple:
    return tuple(shape[1:]) + (shape[0],) if len(shape) > 1 else tuple(shape)
