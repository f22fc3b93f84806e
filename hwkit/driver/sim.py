"""The whole board top (UART included) in Verilator, reachable through a pseudo-terminal.

``BoardSim`` builds ``hwkit_board`` (wrapper + board_top + the given core) with the test bench
hls/rtl/sim/board_sim.cpp, starts it and exposes ``.port``: a /dev/pts path that pyserial opens like a
real USB serial adapter. The UART runs at a few clocks per bit, so simulated time stays short.
"""
from __future__ import annotations

import select
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence

from hwkit.errors import BuildFailedError
from hwkit.implement.wrapper import DEFAULT_BAUD, RTL_DIR, TOP, CoreShape, wrapper_sources, write_wrapper

TESTBENCH = RTL_DIR / "sim" / "board_sim.cpp"


def build_board_sim(core_sources: Sequence[Path], shape: CoreShape, build_dir: Path, *, cpb: int = 8,
                    resync_bits: int = 1 << 20, data_files: Sequence[Path] = (), clk_hz: Optional[int] = None,
                    baud: int = DEFAULT_BAUD, por_bits: int = 3) -> Path:
    """Compile the simulated board; returns the executable (cached by the hash of all inputs).

    By default the UART runs at ``cpb`` clocks per bit; with ``clk_hz`` the wrapper gets the real
    clock and baud rate instead (run it with ``cpb=clocks_per_bit(clk_hz, baud)``). The default
    ``resync_bits`` is huge because simulated time runs far ahead of the host: a millisecond of host
    scheduling would otherwise look like a line silence and abort a frame."""
    from hwkit.tools import verilator

    build_dir = Path(build_dir)
    clock = dict(clk_hz=cpb, baud=1) if clk_hz is None else dict(clk_hz=clk_hz, baud=baud)
    name = f"{TOP}_sim.v" if clk_hz is None else f"{TOP}_sim_{clk_hz}_{baud}.v"
    wrapper = write_wrapper(build_dir / name, shape, **clock, por_bits=por_bits, resync_bits=resync_bits)
    return verilator.build([wrapper, *wrapper_sources(), *core_sources], TESTBENCH, TOP, build_dir,
                           extra_files=data_files)


class BoardSim:
    """A running simulated board. Use as a context manager; ``.port`` is the serial device path."""

    def __init__(self, exe: Path, *, cpb: int = 8, run_dir: Optional[Path] = None, log: Optional[Path] = None,
                 settle: int = 4096):
        self.exe = Path(exe)
        self.cpb = cpb
        self.settle = settle      # clocks of power-on reset to sit out before driving the line
        self.run_dir = Path(run_dir) if run_dir else self.exe.parent   # $readmemh paths resolve here
        self.log = Path(log) if log else self.exe.parent / "board_sim.log"
        self.port: Optional[str] = None
        self._proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> "BoardSim":
        self._logf = open(self.log, "w")
        argv = [str(self.exe), "--cpb", str(self.cpb), "--settle", str(self.settle)]
        self._proc = subprocess.Popen(argv, cwd=self.run_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._logf)
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline().decode(errors="replace").strip() if ready else ""
        if not line.startswith("PTY "):
            self.stop()
            raise BuildFailedError(f"board simulation did not start: got {line!r} (log: {self.log})")
        self.port = line[4:]
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()          # the test bench exits when its stdin closes
            self._proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._logf.close()
        self._proc = None

    def __enter__(self) -> "BoardSim":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_core_on_board(core_dir: Path, x_int, *, cache_dir: Optional[Path] = None, cpb: int = 8):
    """A generated core (directory with core.json, hwkit/backends/rtl) inside the simulated UART board:
    integer samples (N, *input shape) in, outputs (N, *output shape) out, through pyserial, the UART
    and the framing FIFO. Returns (outputs, {"seconds", "samples_per_second", "n"})."""
    import json

    from hwkit.driver.device import Device
    from hwkit.tools.verilator import default_cache_dir

    core_dir = Path(core_dir).resolve()
    desc = json.loads((core_dir / "core.json").read_text())
    exe = build_board_sim([core_dir / f for f in desc["files"]["verilog"]], CoreShape.from_json(desc),
                          Path(cache_dir) if cache_dir else default_cache_dir(), cpb=cpb,
                          data_files=[core_dir / f for f in desc["files"]["mem"]])
    with BoardSim(exe, cpb=cpb, run_dir=core_dir) as sim, Device(sim.port, timeout=60, core=desc) as dev:
        t0 = time.monotonic()
        y = dev.infer_many(x_int)
        seconds = time.monotonic() - t0
    n = len(y)
    return y, {"n": n, "seconds": round(seconds, 2), "samples_per_second": round(n / seconds, 1) if seconds else 0.0}


def run_samples(exe: Path, xs, *, cpb: int = 8, run_dir: Optional[Path] = None, window: Optional[int] = None):
    """Convenience: start the simulated board, send integer samples ``xs`` through the driver,
    return (outputs, seconds)."""
    from hwkit.driver.device import Device

    with BoardSim(exe, cpb=cpb, run_dir=run_dir) as sim, Device(sim.port, timeout=30.0) as dev:
        t0 = time.monotonic()
        out = dev.infer_many(xs, window=window)
        return out, time.monotonic() - t0
