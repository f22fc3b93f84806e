"""Run external tools the one way hwkit allows: an argument list (never a shell), a timeout, the
output captured into a log file in the build directory, and a one-line error that names the
package to install when the tool is missing."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hwkit.errors import BuildFailedError, ToolMissingError


@dataclass
class ToolResult:
    tool: str
    argv: list[str]
    returncode: int
    seconds: float
    log: Optional[Path]
    stdout: str


def find_tool(name: str, package: str) -> str:
    """Absolute path of executable ``name``; ToolMissingError naming ``package`` if absent.

    Looks next to the running Python first, so tools pip-installed into hwkit's virtual
    environment are found even when the venv is not activated."""
    import sys

    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(f"'{name}' not found on PATH: install it with {package}")
    return found


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Optional[Path] = None,
    log: Optional[Path] = None,
    timeout: float = 3600,
    env: Optional[dict] = None,
    check: bool = True,
    stage: str = "",
) -> ToolResult:
    """Run ``argv`` (a list; ``argv[0]`` already resolved by :func:`find_tool`).

    stdout and stderr go together to ``log`` (if given) and are returned. A non-zero exit raises
    BuildFailedError naming the stage and the log when ``check`` is true."""
    argv = [str(a) for a in argv]
    full_env = None if env is None else {**os.environ, **env}
    start = time.monotonic()
    # its own session (process group), so that a timeout ends what the tool started too (make -> g++,
    # yowasp workers), not only the tool: an orphaned compiler would keep a core busy for minutes
    proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    _RUNNING.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        code = -1
        out = (out or "") + f"\n[hwkit] timed out after {timeout:.0f} s\n"
    except BaseException:  # Ctrl-C no longer reaches a separate session: end the group here
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        _RUNNING.discard(proc)
    seconds = time.monotonic() - start
    if log is not None:
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(argv)}\n{out}")
    result = ToolResult(Path(argv[0]).name, argv, code, seconds, log, out)
    if check and code != 0:
        where = f" (log: {log})" if log else ""
        what = f"{stage}: " if stage else ""
        last = next((ln for ln in reversed(out.strip().splitlines()) if ln.strip()), "")
        raise BuildFailedError(f"{what}{result.tool} exited with {code}{where}: {last[:200]}")
    return result


_RUNNING: set = set()   # tools running now, from any thread (parallel cosim runs several)


def stop_tools() -> None:
    """Kill every tool this process is running (with what each started): when one of several parallel
    runs failed or the user interrupted, the others must not run on unobserved."""
    for proc in list(_RUNNING):
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group ``proc`` leads (it was started with start_new_session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


# YoWASP prints this on the first run of each tool (while it compiles the WebAssembly), before the tool's own
# output: never a version
_BANNERS = ("Preparing to run ",)


def version_line(output: str) -> str:
    """The first non-empty line of a tool's version output that is not a YoWASP banner ('unknown' if none)."""
    return next((ln.strip() for ln in output.splitlines() if ln.strip() and not ln.strip().startswith(_BANNERS)),
                "unknown")


def tool_version(argv: Sequence[str], timeout: float = 120) -> str:
    """What a tool prints for its version flag, banners skipped ('unknown' if it prints nothing)."""
    return version_line(run_tool(argv, timeout=timeout, check=False).stdout)
