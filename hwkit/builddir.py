"""Who owns a build directory: hwkit writes into a folder only when it is empty or already an hwkit
build, deletes only entries it wrote, and lets one build at a time run in it (a lock file holding
the owner's PID; the lock of a dead process is taken over)."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from hwkit.errors import ConfigError

MANIFEST = "manifest.json"
RECORD = "stage.json"
LOCK = ".hwkit.lock"
PUBLISHED = ("report.json", "report.html")
_PARTIAL = re.compile(r"^\.(\d\d-[A-Za-z0-9_]+)\.(partial|stale)-(\d+)$")


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every artefact under ``root`` (sorted relative paths; the stage record excluded)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != RECORD:
            out[p.relative_to(root).as_posix()] = hash_file(p)
    return out


_NOT_CODE = ("__pycache__", "obj_dir", ".pyc", ".pyo")


def hash_code_tree(roots: dict[str, Path]) -> str:
    """sha256 over the files under each ``{label: directory}``: sorted ``label/relative path`` names and
    contents (bytecode, caches and dot-files left out), so it depends on the code alone."""
    h = hashlib.sha256()
    seen = set()
    for label, root in sorted(roots.items()):
        root = Path(root)
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if (not p.is_file() or p.resolve() in seen or p.suffix in _NOT_CODE
                    or any(part in _NOT_CODE or part.startswith(".") for part in rel.parts)):
                continue
            seen.add(p.resolve())
            h.update(f"{label}/{rel.as_posix()}\0".encode())
            h.update(hash_file(p).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """The content hash of the code that makes a build's artefacts: hwkit's package files and its
    ``hls/`` sources (Verilog, HLS C++), computed once per process. Every stage key holds it, so a build
    directory made by other hwkit code (e.g. before a bug fix) re-runs instead of serving stale results."""
    from hwkit.resources import hls_dir

    return hash_code_tree({"hwkit": Path(__file__).resolve().parent, "hls": hls_dir()})


def is_hwkit_build(build_dir: Path) -> bool:
    m = _json(Path(build_dir) / MANIFEST)
    return isinstance(m, dict) and m.get("schema_version") is not None and isinstance(m.get("stages"), list)


def is_stage_dir(path: Path, stage: str) -> bool:
    """A finished stage directory written by hwkit: its record names the stage and carries a key."""
    rec = _json(Path(path) / RECORD)
    return isinstance(rec, dict) and rec.get("stage") == stage and isinstance(rec.get("key"), str)


def claim(build_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse a non-empty folder that is not an hwkit build unless ``overwrite``; even then, top-level
    files hwkit would replace must be hwkit's own."""
    build_dir = Path(build_dir)
    if build_dir.exists() and not build_dir.is_dir():
        raise ConfigError(f"build directory {build_dir} is a file: choose another --out")
    if not build_dir.is_dir() or is_hwkit_build(build_dir):
        return
    entries = sorted(p.name for p in build_dir.iterdir() if p.name != LOCK)
    if not entries:
        return
    if not overwrite:
        raise ConfigError(f"{build_dir} is not empty and not an hwkit build (no hwkit {MANIFEST}; it holds "
                          f"'{entries[0]}'{f' and {len(entries) - 1} more' if len(entries) > 1 else ''}): choose "
                          f"another --out, or pass --overwrite to build beside its files")
    foreign = [n for n in (MANIFEST, *PUBLISHED) if (build_dir / n).exists()]
    if foreign:
        raise ConfigError(f"{build_dir / foreign[0]} was not written by hwkit: move it away before building there")


def check_replaceable(final: Path, stage: str) -> None:
    """A stage directory about to be replaced must be one hwkit wrote."""
    if final.exists() and not is_stage_dir(final, stage):
        raise ConfigError(f"{final} exists but was not written by hwkit (no valid {RECORD}): move it away")


def clean_partials(build_dir: Path, dirnames: set) -> None:
    """Remove temporaries of this flow's stages (``.NN-stage.partial-PID``) left by dead processes."""
    for p in Path(build_dir).iterdir():
        m = _PARTIAL.match(p.name)
        if m and m.group(1) in dirnames and not _alive(int(m.group(3))) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _start_time(pid: int):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start=None) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers (an earlier run_flow call in this process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _start_time(pid) in (None, start)  # a reused PID is not the owner


@contextlib.contextmanager
def locked(build_dir: Path):
    """Hold the build directory's lock; a live owner makes this fail at once with one line."""
    path = Path(build_dir) / LOCK
    me = json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid())})
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _json(path) or {}
            pid = owner.get("pid") if isinstance(owner, dict) else None
            if isinstance(pid, int) and _alive(pid, owner.get("start")):
                raise ConfigError(f"{build_dir} is in use by another hwkit build (PID {pid}): wait for it to "
                                  f"finish or choose another --out") from None
            path.unlink(missing_ok=True)  # a dead owner's lock: take it over
            continue
        except OSError as err:
            raise ConfigError(f"cannot write to build directory {build_dir}: {err.strerror}") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise ConfigError(f"could not take the lock {path}: another build took it first")
    try:
        yield
    finally:
        if (_json(path) or {}) == json.loads(me):
            path.unlink(missing_ok=True)
