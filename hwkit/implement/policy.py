"""Decisions the open flow takes between its tools, as pure functions.

``hwkit.implement.flow`` (one call from sources to bitstream) and the rtl backend's build stages
(``hwkit.backends.rtl.steps``) both call the flow's step functions, which follow them.
"""
from __future__ import annotations

from typing import Optional

TIMING_MARGIN = 0.9  # a missed PLL clock is rebuilt at most at this fraction of the Fmax achieved
# A near miss is placed and routed again with the next seeds before the clock is lowered: on CNV-sized
# designs the same netlist routed between 96 and 106 MHz by placement alone (1.5 ns of logic, 9 ns of wire)
SEED_TRIES = 3        # place & route runs at the requested clock, at most
SEED_NEAR = 0.9       # a miss counts as near when Fmax reaches this fraction of the clock


def timing_missed(timing_met: bool, fmax_mhz: Optional[float]) -> bool:
    """Routing finished with an Fmax below the requested clock (no Fmax at all: nothing to act on)."""
    return not timing_met and bool(fmax_mhz)


def try_next_seed(timing_met: bool, fmax_mhz: Optional[float], clock_mhz: float, tries: int) -> bool:
    """Route again with the next seed: the last run missed the clock by less than placement varies."""
    return (timing_missed(timing_met, fmax_mhz) and tries < SEED_TRIES
            and float(fmax_mhz) >= SEED_NEAR * float(clock_mhz))


def best_seed(fmax_by_seed: dict) -> int:
    """The seed whose routing reached the highest Fmax (the first of equals)."""
    return max(fmax_by_seed, key=lambda s: (fmax_by_seed[s] or 0.0, -s))


def retime_limit_mhz(timing_met: bool, fmax_mhz: Optional[float], can_retime: bool) -> Optional[float]:
    """The highest clock to rebuild at after a missed target, or None when no rebuild is due.

    Only a clock the flow makes itself (an ECP5 PLL) can be lowered; a bitstream clocked above its
    Fmax may fail on the board, so the rebuild stays a margin below what routing achieved."""
    if not can_retime or not timing_missed(timing_met, fmax_mhz):
        return None
    return TIMING_MARGIN * fmax_mhz


def nodsp_from_estimate(family: str, estimated_dsp: Optional[float]) -> bool:
    """Synthesize with ``-nodsp`` from the start: on ECP5 the estimate put every product in LUTs
    (operands of 1-3 bits), so hard multipliers would only be spent on constant arithmetic."""
    return family == "ecp5" and estimated_dsp == 0


def nodsp_retry(family: str, inferred_dsp: int, available_dsp: int, nodsp: bool) -> bool:
    """Re-synthesize with ``-nodsp``: yosys inferred more ECP5 multipliers than the part has (LUT
    multipliers fit where the design would otherwise be refused)."""
    return family == "ecp5" and not nodsp and inferred_dsp > available_dsp
