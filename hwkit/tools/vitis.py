"""Detection of the AMD/Xilinx HLS tools hls4ml hands its projects to.

A real executable lookup on PATH (no version guessing): ``vitis-run`` for the Vitis backend,
``vitis_hls`` as its older front end, ``vivado_hls`` for the Vivado backend, ``vivado`` for
logic synthesis. None of them can be installed from a package registry."""
from __future__ import annotations

import os
import shutil
from typing import Optional

HLS_TOOLS = {"Vitis": ("vitis-run", "vitis_hls"), "Vivado": ("vivado_hls",)}
INSTALL_HINT = "AMD Vitis/Vivado (not pip-installable; source its settings64.sh so the tools are on PATH)"


def which(name: str, path: Optional[str] = None) -> Optional[str]:
    """Absolute path of executable ``name`` on ``path`` (default: $PATH), or None."""
    return shutil.which(name, path=path if path is not None else os.environ.get("PATH", ""))


def find_hls_tool(backend: str = "Vitis", path: Optional[str] = None) -> Optional[tuple[str, str]]:
    """(tool name, absolute path) of the first HLS tool for ``backend`` found on PATH, else None."""
    for name in HLS_TOOLS.get(backend, ()):
        found = which(name, path)
        if found:
            return name, found
    return None


def find_vivado(path: Optional[str] = None) -> Optional[str]:
    return which("vivado", path)


def hls_tool_line(backend: str = "Vitis", path: Optional[str] = None) -> str:
    """One line for logs and reports saying what was found."""
    found = find_hls_tool(backend, path)
    if found:
        return f"{found[0]} found at {found[1]}"
    names = " / ".join(HLS_TOOLS.get(backend, ()))
    return f"{names} not on PATH: stopping after C simulation (install {INSTALL_HINT})"
