"""The isolated FINN environment (``.venv-finn``).

finn-plus pins packages that clash with hwkit's own (brevitas 0.13.0, onnx 1.21, onnxruntime 1.25),
so FINN lives in its own virtual environment and hwkit talks to it only through
``hwkit.backends.finn_worker`` run as a subprocess. Recipe (no resolve ever sees an unpinned torch,
which would pull a multi-GB CUDA build): a constraint file pins torch/setuptools/brevitas; torch and
setuptools go in first, finn-plus and brevitas go in with --no-deps, then the declared requirements
of both (minus brevitas) are installed under the same constraints.

    python -m hwkit.backends.finn_env [--venv PATH] [--force]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

from hwkit.atomic import write_json
from hwkit.errors import ConfigError, ToolMissingError
from hwkit.tools.base import run_tool

FINN_PLUS = "finn-plus==1.6.1"
# The local "+cpu" wheel (pip's find-links); plain torch==2.13.0 resolves to the CUDA build on PyPI.
TORCH = "torch==2.13.0+cpu"
# finn-plus pins brevitas 0.13.0, which needs setuptools<70 while torch 2.13 needs >=77 (no
# resolution exists) and breaks on torch 2.13 anyway; brevitas 0.13.4 works with FINN's code paths.
PINS = [TORCH, "setuptools==80.9.0", "brevitas==0.13.4"]
EXTRA = ["psutil==7.2.2"]  # finn-plus imports psutil without declaring it
NO_DEPS = [FINN_PLUS, "brevitas==0.13.4"]
ENV_VAR = "HWKIT_FINN_VENV"
CREATE_CMD = "python -m hwkit.backends.finn_env"


def default_venv() -> Path:
    """``$HWKIT_FINN_VENV`` if set, else ``.venv-finn`` at the top of the hwkit checkout (an installed
    wheel has no checkout: ``~/.cache/hwkit/venv-finn``)."""
    from hwkit.resources import source_root

    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    root = source_root()
    return root / ".venv-finn" if root else Path.home() / ".cache" / "hwkit" / "venv-finn"


def finn_python(venv: Optional[Path] = None) -> Path:
    """Python of a ready FINN venv; ToolMissingError with the command that creates it otherwise."""
    venv = Path(venv) if venv else default_venv()
    py = venv / "bin" / "python"
    if not py.is_file() or not (venv / "hwkit-finn-env.json").is_file():
        raise ToolMissingError(
            f"FINN environment not found at {venv}: create it with `{CREATE_CMD}` "
            f"(or `hwkit finn-env`; ~10 min, ~2.3 GB)")
    return py


def finn_env_available(venv: Optional[Path] = None) -> bool:
    try:
        finn_python(venv)
        return True
    except ToolMissingError:
        return False


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def create_finn_env(venv: Optional[Path] = None, force: bool = False, python: Optional[str] = None,
                    timeout: float = 3600) -> dict:
    """Create the FINN venv and return {'venv','seconds','size_bytes','versions','steps'}.

    Idempotent: a finished venv (marker file present) is left alone unless ``force``."""
    venv = (Path(venv) if venv else default_venv()).resolve()
    marker = venv / "hwkit-finn-env.json"
    if marker.is_file() and not force:
        return json.loads(marker.read_text())
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").is_file():
        raise ConfigError(f"{venv} exists and is not a virtual environment: choose another --venv")
    marker.unlink(missing_ok=True)
    logs = venv.parent / f"{venv.name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    constraints = logs / "constraints.txt"
    constraints.write_text("\n".join(PINS) + "\n")
    base_python = python or getattr(sys, "_base_executable", None) or sys.executable
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-c", str(constraints)]
    timings = {}
    start = time.monotonic()

    def step(name, argv):
        res = run_tool(argv, log=logs / f"{name}.log", timeout=timeout, stage=f"finn-env {name}")
        timings[name] = round(res.seconds, 1)
        return res

    step("venv", [base_python, "-m", "venv", "--clear", str(venv)])
    step("torch", pip + [TORCH, "setuptools==80.9.0"] + EXTRA)
    step("no-deps", pip + ["--no-deps"] + NO_DEPS)
    reqs = step("requirements", [py, "-c", _REQUIREMENTS]).stdout.split("\n")
    step("deps", pip + [r for r in reqs if r.strip()])
    check = run_tool([venv / "bin" / "python", "-c", _VERSION_PROBE], log=logs / "check.log",
                     timeout=600, stage="finn-env import check")
    versions = json.loads(check.stdout.strip().splitlines()[-1])
    if versions.get("torch") != TORCH.split("==")[1]:
        raise ConfigError(f"FINN venv got torch {versions.get('torch')}, expected {TORCH}: see {logs}")
    info = {"venv": str(venv), "seconds": round(time.monotonic() - start, 1), "size_bytes": dir_size(venv),
            "versions": versions, "steps": timings}
    write_json(marker, info)
    return info


# Declared requirements of the --no-deps packages, without extras and without the brevitas pin.
_REQUIREMENTS = (
    "import importlib.metadata as m, re\n"
    "out = set()\n"
    "for pkg in ('finn-plus', 'brevitas'):\n"
    "    for r in m.requires(pkg) or []:\n"
    "        name = re.split(r'[ ;<>=!~(\\[]', r, 1)[0].lower()\n"
    "        if 'extra ==' not in r and name not in ('brevitas', 'torch', 'setuptools'):\n"
    "            out.add(r)\n"
    "print('\\n'.join(sorted(out)))\n"
)


# Imports what the worker needs, so a broken pin shows up at creation rather than at build time.
_VERSION_PROBE = (
    "import json, importlib.metadata as m\n"
    "import torch, brevitas, qonnx, onnx, numpy\n"
    "names = ['finn-plus','torch','brevitas','qonnx','onnx','onnxruntime','numpy','setuptools','psutil']\n"
    "print(json.dumps({n: m.version(n) for n in names}, sort_keys=True))\n"
)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog=CREATE_CMD, description="Create hwkit's isolated FINN venv.")
    ap.add_argument("--venv", type=Path, default=None, help=f"path (default ${ENV_VAR} or .venv-finn)")
    ap.add_argument("--force", action="store_true", help="recreate even if it exists")
    args = ap.parse_args(argv)
    info = create_finn_env(args.venv, force=args.force)
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
