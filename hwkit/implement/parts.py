"""Resources of the parts the open flow can place and route, and the pre-P&R fit check.

Counts: Lattice FPGA-DS-02012 (ECP5 and ECP5-5G Family Data Sheet) Table 1.1 with exact LUT counts
from the Project Trellis device database (slices x 2), and FPGA-DS-02008 (iCE40 UltraPlus Family
Data Sheet) Table 1.1; the same numbers as boards/*.yaml, for builds that name a part, not a board.
"""
from __future__ import annotations

from hwkit.errors import ConfigError, DoesNotFitError

PARTS = {
    ("ecp5", "25k"): {"name": "LFE5U-25F", "lut": 24288, "ff": 24288, "bram": 56, "dsp": 28},
    ("ecp5", "45k"): {"name": "LFE5U-45F", "lut": 43848, "ff": 43848, "bram": 108, "dsp": 72},
    ("ecp5", "85k"): {"name": "LFE5U-85F", "lut": 83640, "ff": 83640, "bram": 208, "dsp": 156},
    ("ice40", "up5k"): {"name": "iCE40UP5K", "lut": 5280, "ff": 5280, "bram": 30, "dsp": 8},
}
UNITS = {"ecp5": {"lut": "LUT4", "ff": "FF", "bram": "DP16KD", "dsp": "MULT18X18D"},
         "ice40": {"lut": "logic cells", "ff": "FF", "bram": "EBR", "dsp": "SB_MAC16"}}
# ECP5 LUT RAM (TRELLIS_DPR16X4): 4 RAM LUTs + 2 write-port LUTs, as nextpnr's "Total LUT4s" counts them.
ECP5_LUTS_PER_LUTRAM = 6


def part_resources(family: str, device: str) -> dict:
    key = (family, str(device).lower().replace("um5g-", "").replace("um-", ""))
    if key not in PARTS:
        known = ", ".join(f"{f}/{d}" for f, d in PARTS)
        raise ConfigError(f"no resource table for {family} device '{device}': choose one of {known}")
    return dict(PARTS[key])


def needed(counts: dict, family: str) -> dict:
    """Resources a design needs from its LUT/FF/BRAM/DSP(/lutram) counts (yosys' or the estimate's).

    ECP5 LUT RAMs take LUTs too; an iCE40 logic cell pairs one LUT4 with one FF, so max(LUT, FF) is a
    lower bound: the check only rejects designs that cannot fit however well they pack."""
    lut, ff = float(counts.get("lut", 0)), float(counts.get("ff", 0))
    if family == "ecp5":
        lut += ECP5_LUTS_PER_LUTRAM * float(counts.get("lutram") or 0)
    elif family == "ice40":
        lut = max(lut, ff)
    else:   # Xilinx: LUT RAM and SRL cells counted in the LUTs they occupy
        lut += float(counts.get("lutram") or 0)
    return {"lut": _num(lut), "ff": _num(ff), "bram": _num(float(counts.get("bram", 0))),
            "dsp": _num(float(counts.get("dsp", 0)))}


def _num(x: float):
    return int(x) if float(x).is_integer() else x


def _fmt(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.1f}"


def check_fit(counts: dict, family: str, available: dict, part: str, *, estimated: bool = False) -> dict:
    """The one fit check (synthesized counts, or the estimate's with ``estimated``): raise
    DoesNotFitError listing every over-used resource (needed vs available); returns
    ``{resource: {"used", "available"}}`` when it fits."""
    need = needed(counts, family)
    units = UNITS.get(family, {})
    over = [f"{_fmt(need[r])} {units.get(r, r.upper())} but {part} has {_fmt(available[r])}"
            for r in ("lut", "ff", "bram", "dsp") if available.get(r) is not None and need[r] > available[r]]
    if over:
        raise DoesNotFitError(f"design does not fit: {'is estimated to need' if estimated else 'needs'} "
                              f"{'; '.join(over)} (fold the layers more, lower the target throughput or the "
                              f"bit widths, or pick a bigger part)")
    return {r: {"used": need[r], "available": available.get(r)} for r in ("lut", "ff", "bram", "dsp")}
