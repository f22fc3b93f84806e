"""How IR values become RTL words, shared by the plan and every layer kind's emitter: element bits,
two's-complement codes, memory images and instance names."""
from __future__ import annotations

import numpy as np

from hwkit.backends.rtl.stream import mem_text
from hwkit.ir.types import IntType
from hwkit.names import identifier

ROUNDING = {"half_even": 0, "half_up": 1, "floor": 2}   # hk_shiftround's RMODE


def sanitize(name: str) -> str:
    return identifier(name, 48, "n_")   # bounded with a hash of the full name: no two layers share a file


def bits(t: IntType) -> int:
    """Bits of one element on the wire: a bipolar value travels as one bit (1 = +1)."""
    return 1 if t.bipolar else t.bits


def encode(values, t: IntType | None, width: int) -> np.ndarray:
    """Unsigned ``width``-bit codes of integer ``values`` (two's complement; bipolar as 0/1)."""
    v = np.asarray(values, dtype=np.int64)
    if t is not None and t.bipolar:
        v = (v > 0).astype(np.int64)
    return v & ((1 << width) - 1)


def mem(codes: np.ndarray, width: int) -> str:
    return mem_text(codes, width)


def packed(text: str, width: int, k: int) -> str:
    """A $readmemh image of ``width``-bit words as rows of ``k`` words (word j of row r at bits
    [j*width +: width], the last row padded with zero words): hk_mvu's PACK layout."""
    words = [int(line, 16) for line in text.split()]
    words += [0] * (-len(words) % k)
    digits = max(1, -(-k * width // 4))
    rows = (sum(words[r + j] << (j * width) for j in range(k)) for r in range(0, len(words), k))
    return "".join(f"{v:0{digits}x}\n" for v in rows)
