"""Open implementation flow (yosys + nextpnr + ecppack/icepack via YoWASP) and the UART board wrapper.

Names are resolved on first use, so the flow's own modules import each other without a cycle."""
from __future__ import annotations

import importlib

_HOME = {"implement": "flow", "implement_board": "flow", "ImplementResult": "flow", "PARTS": "parts",
         "check_fit": "parts", "part_resources": "parts", "TIMING_MARGIN": "policy",
         "nodsp_from_estimate": "policy", "nodsp_retry": "policy", "retime_limit_mhz": "policy",
         "timing_missed": "policy", "CoreShape": "wrapper", "write_wrapper": "wrapper"}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'hwkit.implement' has no attribute '{name}'")
    return getattr(importlib.import_module(f"hwkit.implement.{_HOME[name]}"), name)
