"""Weight tables in block RAM cut into one-block tiles (``hk_rom``'s ``BANKD``/``BANKW``): tables deeper than
one block, and tables one block deep but several blocks wide.

Left to synthesis, a table deeper than a block RAM at its width reads through a LUT multiplexer straight
off the blocks' unregistered outputs (5.6 ns clock-to-out on ECP5): the critical path of CNV W1A1
(Fmax 59.9 MHz). Cut into tiles of exactly one block each, every tile output is registered and the bank
is chosen by a pipelined multiplexer of at most 8 inputs per stage. The tile shape is the block shape
with the fewest blocks (:func:`hwkit.estimate.memory.bram_blocks`' count, so the estimate holds), the
deepest on a tie (the fewest banks to multiplex). A table one block deep but wider than one block (LFC
W1A2: 16,384 words x 64 bits, 64 blocks side by side) is one bank of several columns: no multiplexer,
only the tile output registers, which the placer keeps next to their blocks; untiled, an unregistered
block output was routed across the die into the weight register (Fmax 73.5 MHz). The extra read latency
(:func:`tiling`) is the one fact ``hk_mvu`` absorbs: its fetch stage issues the same addresses, its input
and flags wait alongside.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from hwkit.estimate.memory import BRAM_SHAPES, bram_blocks, family_key

MUX_BITS = 3   # bank-index bits one multiplexer stage decodes: 8 inputs, one slice level on ECP5


@dataclass(frozen=True)
class Tiling:
    bank_depth: int
    bank_width: int
    banks: int
    columns: int

    @classmethod
    def of(cls, p: dict, depth: int, width: int) -> "Tiling":
        """The tiling an instance's ``BANKD``/``BANKW`` parameters describe (for its cost)."""
        d, w = int(p["BANKD"]), int(p["BANKW"])
        return cls(d, w, math.ceil(depth / d), math.ceil(width / w))

    @property
    def index_bits(self) -> int:
        """Bank-index bits (hk_rom's BW = clog2(DEPTH) - log2(BANKD) = clog2(banks)); 0 for one bank."""
        return (self.banks - 1).bit_length()

    @property
    def stages(self) -> int:
        """Registered multiplexer stages (hk_rom's S = RLAT - 1)."""
        return math.ceil(self.index_bits / MUX_BITS)

    @property
    def stage_bits(self) -> int:
        """Index bits each stage decodes (hk_rom's RB = ceil(BW / S)): at most MUX_BITS."""
        return math.ceil(self.index_bits / self.stages) if self.stages else 0

    @property
    def latency(self) -> int:
        """Read cycles beyond an untiled table's one: the tile output register plus the mux stages."""
        return 1 + self.stages

    def params(self) -> list:
        return [("BANKD", self.bank_depth), ("BANKW", self.bank_width), ("RLAT", self.latency)]

    def words(self) -> list:
        """Words of each level of hk_rom's multiplexer tree that carry a bank (the padding up to a full
        tree is constant zero and synthesis removes it): level 0 the tile registers, the last the output."""
        return [math.ceil(self.banks / 2 ** (self.stage_bits * k)) for k in range(self.stages + 1)]

    def registers(self, width: int) -> int:
        """Flip-flops of the tiled read of ``width``-bit words: tile output registers, the mux stages, and
        the delayed bank index (word j of ``sel`` keeps only the digits a later stage still decodes)."""
        digit = [min(self.stage_bits, self.index_bits - d * self.stage_bits) for d in range(self.stages)]
        sel = sum(digit[d] for j in range(self.stages + 1) for d in range(max(0, j - 1), self.stages))
        return sum(self.words()) * width + sel

    def mux_luts(self, width: int) -> float:
        """LUT4s of the bank multiplexer: an n:1 bit takes n/2 LUT4s (ECP5 PFUMX/L6MUX join them)."""
        lv, n = self.words(), 2 ** self.stage_bits
        return sum(width * sum(math.ceil(min(n, lv[k] - g * n) / 2) for g in range(lv[k + 1]))
                   for k in range(self.stages))


def tiling(depth: int, width: int, family: str) -> Optional[Tiling]:
    """The tiles of a depth x width block-RAM table, or None when it fits one block."""
    fam = family_key(family)
    if depth <= 1 or width <= 0:
        return None
    best = bram_blocks(depth, width, fam)
    d, w = max(((d, w) for d, w in BRAM_SHAPES[fam] if math.ceil(depth / d) * math.ceil(width / w) == best))
    if depth <= d and width <= w:
        return None
    return Tiling(d, w, math.ceil(depth / d), math.ceil(width / w))


def tile_file(file: str, bank: int, column: int) -> str:
    """hk_rom's name for a tile's image: ``t<bank:3>_<column:3>_<file>``."""
    return f"t{bank:03d}_{column:03d}_{file}"


def tile_images(text: str, width: int, file: str, t: Tiling) -> dict:
    """{file name: $readmemh text} of every tile of the table ``text`` ($readmemh, ``width``-bit words);
    the last bank is padded with zero words (never read)."""
    words = [int(line, 16) for line in text.split()]
    words += [0] * (t.banks * t.bank_depth - len(words))
    out = {}
    for c in range(t.columns):
        cw = min(t.bank_width, width - c * t.bank_width)
        mask, digits = (1 << cw) - 1, max(1, -(-cw // 4))
        for b in range(t.banks):
            part = words[b * t.bank_depth:(b + 1) * t.bank_depth]
            out[tile_file(file, b, c)] = "".join(f"{(v >> (c * t.bank_width)) & mask:0{digits}x}\n" for v in part)
    return out
