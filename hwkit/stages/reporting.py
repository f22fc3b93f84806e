"""The report stage, and publishing its files at the build directory's top level."""
from __future__ import annotations

from pathlib import Path

from hwkit.atomic import write_bytes_atomic


def report(ctx) -> dict:
    from hwkit.report import write_report

    rep = write_report(ctx.build_dir, ctx.workdir)
    s = rep["summary"]
    return {"summary": f"II {s['ii_cycles']} cycles, bit-exact {s['bit_exact']}",
            "files": ["report.json", "report.html"]}


def publish_report(build_dir: Path, ctx) -> None:
    """Copy the report stage's files to the build directory's top level (atomically, file by file)."""
    src = ctx.dirs.get("report")
    if src is None:
        return
    for name in ("report.json", "report.html"):
        write_bytes_atomic(Path(build_dir) / name, (src / name).read_bytes())
