"""Import FINN's builder without Vivado: the one place that knows the XSI workaround.

``finn.builder.build_dataflow_steps`` runs ``from finn.xsi import SimEngine`` at import time; that
attribute is lazy and its loader demands ``XILINX_VIVADO`` and a compiled ``xsi.so`` (RTL
simulation through Vivado's XSim). Estimate builds and python execution never simulate RTL, so
without Vivado each lazy name is bound to None before the import. FINN also wants an absolute
``FINN_BUILD_DIR`` for generated code and a settings file (``FINN_SETTINGS``).

Standard library only at import time, so hwkit's own environment can test it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

# FINN parses a version out of this path even when nothing is simulated
DUMMY_VIVADO = "/nonexistent/hwkit-no-vivado/Vivado/2024.2"


def finn_environment(build_dir: Path, vivado_root: Optional[str] = None) -> dict[str, str]:
    """Environment variables FINN needs for a build in ``build_dir`` (created, made absolute)."""
    build_dir = Path(build_dir).resolve()
    tmp = build_dir / "finn_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    settings = build_dir / "finn_settings.yaml"
    if not settings.exists():
        settings.write_text(f"finn_build_dir: {tmp}\n")
    return {
        "FINN_BUILD_DIR": str(tmp),
        "FINN_SETTINGS": str(settings),
        "XILINX_VIVADO": vivado_root or DUMMY_VIVADO,
        "NUM_DEFAULT_WORKERS": "1",
    }


def _disable_xsi() -> None:
    import finn.xsi as xsi

    for name in sorted(xsi._LAZY_NAMES):
        setattr(xsi, name, None)


def boot(build_dir: Path, vivado_root: Optional[str] = None, builder: bool = True) -> tuple:
    """Set FINN's environment and import ``finn.builder.build_dataflow`` (skipped when not
    ``builder``: it pulls in torch and brevitas, ~20 s on a busy machine, which execution never needs).

    Returns ``(module or None, xsi_note)``: ``xsi_note`` is None when RTL simulation works (a real
    Vivado whose XSim headers let FINN build xsi.so), else the reason it does not."""
    os.environ.update(finn_environment(build_dir, vivado_root))
    note = "no Vivado: FINN's XSI (RTL simulation) disabled"
    if vivado_root is not None:
        import finn.xsi as xsi

        try:
            xsi.ensure_available()
            note = None
        except Exception as err:  # xsi.so needs Vivado's XSim headers and a C++ compiler
            note = f"Vivado at {vivado_root} but FINN's XSI could not be built: {err}"
    if note is not None:
        _disable_xsi()
    if not builder:
        return None, note
    import finn.builder.build_dataflow as build_dataflow

    return build_dataflow, note
