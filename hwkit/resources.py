"""Where the hand-written hardware sources (``hls/``) and the board catalogue (``boards/``) live.

In the repository they sit at the top level, beside the package, as the flow's layout shows. A wheel
carries them inside the package as ``hwkit/_hls`` and ``hwkit/_boards`` (setup.py maps them), so a
non-editable install builds without the source tree. This module is the one place that knows both."""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / f"_{name}"          # wheel install
    return installed if installed.is_dir() else _PACKAGE.parent / name   # source tree / editable install


def hls_dir() -> Path:
    """``hls/``: the Verilog library (``rtl/``) and the HLS C++ of hwkit's own layers (``hls4ml/``)."""
    return _data_dir("hls")


def rtl_dir() -> Path:
    return hls_dir() / "rtl"


def boards_dir() -> Path:
    """``$HWKIT_BOARDS`` if set, else the shipped board catalogue."""
    env = os.environ.get("HWKIT_BOARDS")
    return Path(env) if env else _data_dir("boards")


def source_root() -> Path | None:
    """The hwkit checkout this package runs from, or None for an installed wheel."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "hls").is_dir() else None
