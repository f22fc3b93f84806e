"""The backend-free build stages (export, lower, golden_sim, estimate, generate, cosim, report); the
implementation steps between cosim and report come from the backend (hwkit.backends).

Names are resolved on first use, so importing one submodule (records, flow) loads no other."""
from __future__ import annotations

import importlib

_HOME = {"export": "model", "lower": "model", "golden_sim": "model", "estimate": "model",
         "generate": "hardware", "cosim": "hardware", "report": "reporting", "publish_report": "reporting"}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'hwkit.stages' has no attribute '{name}'")
    return getattr(importlib.import_module(f"hwkit.stages.{_HOME[name]}"), name)
