"""The one way hwkit writes a file: to a temporary name beside it, then ``os.replace``.

A reader (another build, the report, a killed run's resume) sees either the old file or the new one,
never half of one. JSON is written one way too (sorted keys, indent 2, trailing newline) so that the
same data gives the same bytes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def json_text(obj: Any, *, default=None) -> str:
    """``obj`` as hwkit's canonical JSON text (sorted keys, indent 2, trailing newline)."""
    return json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n"


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write or the rename failed: leave no temporary behind
            tmp.unlink()
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any, *, default=None) -> Path:
    """Canonical JSON, atomically (``default`` as in :func:`json.dumps`, for non-JSON types)."""
    return write_text_atomic(path, json_text(obj, default=default))
