"""Load a built bitstream onto a board with openFPGALoader (Debian package ``openfpgaloader``).

The board's cable comes from an optional ``programmer:`` mapping in its YAML, either
``{board: NAME}`` (an openFPGALoader board name: ``-b NAME``) or ``{cable: NAME}`` (``-c NAME``);
``cable=`` on the call overrides both. Names follow openFPGALoader's board list (doc/boards.yml in
its repository): ulx3s, ice40_generic (the iCEBreaker), tangnano9k, tangnano20k.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import yaml

from hwkit.errors import ConfigError
from hwkit.tools.base import find_tool, run_tool

TOOL = "openFPGALoader"
PACKAGE = "apt-get install openfpgaloader"
BITSTREAM_SUFFIXES = (".bit", ".bin", ".fs")    # ECP5, iCE40, Gowin


def find_bitstream(build_dir: Path) -> Path:
    """The bitstream in the build's last ``*-bitstream`` stage directory."""
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise ConfigError(f"build directory {build_dir} not found")
    stages = sorted(p for p in build_dir.glob("*-bitstream") if p.is_dir())
    try:  # the manifest names the current bitstream stage (an older flow may have left another)
        named = [e.get("dir") for e in json.loads((build_dir / "manifest.json").read_text())["stages"]
                 if e.get("name") == "bitstream" and e.get("status") == "ok"]
        stages = [build_dir / named[-1]] if named and (build_dir / str(named[-1])).is_dir() else stages
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    found = sorted(f for d in stages[-1:] for f in d.iterdir() if f.suffix in BITSTREAM_SUFFIXES) if stages else []
    if not found:
        raise ConfigError(f"no bitstream in {build_dir} (no *-bitstream/ stage with a .bit/.bin/.fs): "
                          f"build it first with an open-toolchain board")
    if len(found) > 1:
        raise ConfigError(f"several bitstreams in {found[0].parent}: {', '.join(f.name for f in found)}")
    return found[0]


def _board_name(build_dir: Path, bitstream: Path, board: Optional[str]) -> str:
    if board:
        return board
    manifest = Path(build_dir) / "manifest.json"
    if manifest.is_file():
        name = json.loads(manifest.read_text()).get("config", {}).get("board")
        if name:
            return str(name)
    return bitstream.stem           # the bitstream stage names its file after the board


def programmer_args(board: str, cable: Optional[str] = None) -> list[str]:
    """openFPGALoader's target arguments for ``board`` (a catalogue name or a board YAML path)."""
    if cable:
        return ["-c", str(cable)]
    from hwkit.boards import load_board

    b = load_board(board)
    data = yaml.safe_load(b.path.read_text()) if b.path else {}
    prog = data.get("programmer")
    if not isinstance(prog, dict) or not any(isinstance(prog.get(k), str) and prog[k] for k in ("board", "cable")):
        raise ConfigError(f"board '{b.name}' has no 'programmer:' entry ({{board: NAME}} or {{cable: NAME}}) in "
                          f"{b.path.name if b.path else 'its YAML'}: pass --cable")
    return ["-b", prog["board"]] if prog.get("board") else ["-c", prog["cable"]]


def program(build_dir: Path, board: Optional[str] = None, dry_run: bool = False,
            cable: Optional[str] = None) -> list[str]:
    """Program the board with the build's bitstream (SRAM, volatile). Returns the command; with
    ``dry_run`` it only builds it (and needs no openFPGALoader installed)."""
    bitstream = find_bitstream(build_dir)
    target = programmer_args(_board_name(build_dir, bitstream, board), cable)
    if dry_run:
        exe = shutil.which(TOOL) or TOOL
        return [exe, *target, str(bitstream)]
    argv = [find_tool(TOOL, PACKAGE), *target, str(bitstream)]
    run_tool(argv, log=Path(build_dir) / "program.log", timeout=600, stage="program")
    return argv
