"""A cocotb test bench for an rtl core behind its AXI4-Stream wrapper, written into one directory the
engineer can run and extend: the core and wrapper sources (copied, so $readmemh names resolve in the
simulator's working directory), ``vectors.npz`` (golden inputs and outputs as TDATA bytes, plus the
integers they encode), ``bench.json``, ``test_hwkit_core.py`` (the cocotb test), a ``Makefile`` for
cocotb's makefiles and ``test_runner.py`` for cocotb's Python runner. Same inputs -> same bytes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Union

import jinja2
import numpy as np

from hwkit.backends.rtl.axis import TOP, Side, copy_core, model_hash, read_core, to_tdata, write_axis_top
from hwkit.errors import BuildFailedError, ConfigError
from hwkit.tools.base import run_tool

TEMPLATES = Path(__file__).resolve().parent / "templates"
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTH", "-Wno-DECLFILENAME", "-Wno-UNUSED", "-Wno-PINCONNECTEMPTY")
II_VECTORS = 32       # vectors streamed without back-pressure first, to measure the II


def _golden(golden: Union[str, Path, Mapping], out_stream: str) -> tuple[np.ndarray, np.ndarray]:
    """(x_int, y_int) from golden.npz (x_int + out_<stream>) or a mapping with the same keys
    (``y`` or the stream name also accepted for the outputs)."""
    data = np.load(golden) if isinstance(golden, (str, Path)) else golden
    keys = list(data.keys())
    if "x_int" not in keys:
        raise ConfigError(f"golden vectors need 'x_int' (the integer inputs); got keys {sorted(keys)}")
    for k in (f"out_{out_stream}", out_stream, "y_int"):
        if k in keys:
            return np.asarray(data["x_int"]), np.asarray(data[k])
    raise ConfigError(f"golden vectors need 'out_{out_stream}' (the core's output stream); got keys {sorted(keys)}")


def write_cocotb_bench(core_dir: Path, golden, out_dir: Path, *, n: int | None = None, axil: bool = True) -> Path:
    """Write the bench for the core in ``core_dir`` driven by ``golden`` (path to golden.npz or a
    mapping {x_int, out_<stream>}) into ``out_dir``; ``n`` keeps the first n vectors. Returns out_dir."""
    desc = read_core(core_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y = _golden(golden, desc["out"]["stream"])
    if n is not None:
        x, y = x[:n], y[:n]
    si, so = Side.from_desc(desc["in"]), Side.from_desc(desc["out"])
    if tuple(x.shape[1:]) != si.shape or tuple(y.shape[1:]) != so.shape or len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"golden vectors {x.shape} -> {y.shape} do not fit the core {si.shape} -> {so.shape}")
    core = copy_core(core_dir, out_dir)
    wrapper = write_axis_top(core_dir, out_dir, axil=axil)
    sources = [p.name for p in core + wrapper if p.suffix == ".v"]
    np.savez_compressed(out_dir / "vectors.npz", in_tdata=to_tdata(x, si), out_tdata=to_tdata(y, so),
                        x_int=x.astype(np.int64), y_int=y.astype(np.int64))
    _fix_npz_times(out_dir / "vectors.npz")
    side = lambda s: {"bits": s.bits, "signed": s.signed, "elems": s.epb * s.beats, "beats": s.beats,  # noqa: E731
                      "tdata_bytes": s.tdata_bytes, "sample_bytes": s.sample_bytes}
    cfg = {"top": TOP, "ii_cycles": int(desc["ii_cycles"]), "ii_vectors": II_VECTORS, "axil": axil,
           "model_hash": model_hash(core_dir), "in": side(si), "out": side(so), "vectors": int(len(x))}
    _write(out_dir / "bench.json", json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    ctx = {"sources": sources, "top": TOP, "axil": axil, "verilator_args": list(VERILATOR_ARGS)}
    _write(out_dir / "test_hwkit_core.py", env.get_template("test_hwkit_core.py.j2").render(**ctx))
    _write(out_dir / "Makefile", env.get_template("cocotb_Makefile.j2").render(**ctx))
    _write(out_dir / "test_runner.py", env.get_template("cocotb_runner.py.j2").render(**ctx))
    # pytest in this directory runs the runner only; the cocotb module runs inside the simulator
    _write(out_dir / "conftest.py", 'collect_ignore = ["test_hwkit_core.py"]\n')
    return out_dir


def run_cocotb(bench_dir: Path, *, vectors: int | None = None, seed: int = 1, pause: float = 0.3,
               waves: bool = False, timeout: float = 3600) -> dict:
    """Run the bench (build + simulate through test_runner.py); returns {mismatches, vectors,
    ii_measured, ii_model, tlast_errors, framing_error, seconds}. BuildFailedError when the
    simulation did not finish or a cocotb test failed to produce its result."""
    from hwkit.tools import verilator

    bench_dir = Path(bench_dir)
    inst = verilator.find_verilator()
    env = {**inst.env(), "PATH": f"{inst.binary.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}",
           "HWKIT_SEED": str(seed), "HWKIT_PAUSE": str(pause), "HWKIT_WAVES": "1" if waves else "0"}
    if vectors is not None:
        env["HWKIT_VECTORS"] = str(int(vectors))
    result = bench_dir / "result.json"
    result.unlink(missing_ok=True)
    t0 = time.monotonic()
    res = run_tool([sys.executable, "test_runner.py"], cwd=bench_dir, env=env, log=bench_dir / "cocotb.log",
                   timeout=timeout, check=False)
    seconds = time.monotonic() - t0
    if not result.is_file():
        raise BuildFailedError(f"cocotb bench did not finish (exit {res.returncode}; log: {bench_dir / 'cocotb.log'})")
    out = json.loads(result.read_text())
    out["seconds"] = round(seconds, 1)
    out["passed"] = _passed(bench_dir / "results.xml")
    return out


def _passed(results_xml: Path) -> bool:
    """True when every cocotb test in results.xml passed."""
    if not results_xml.is_file():
        return False
    import xml.etree.ElementTree as ET

    cases = ET.parse(results_xml).getroot().iter("testcase")
    seen = False
    for case in cases:
        seen = True
        if case.find("failure") is not None or case.find("error") is not None:
            return False
    return seen


def _fix_npz_times(path: Path):
    """np.savez stamps each member with the current time: rewrite with a fixed one (same bytes)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def _write(path: Path, text: str):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
