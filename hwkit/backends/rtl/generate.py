"""Write the accelerator: ``hwkit_core.v`` (rendered from templates/hwkit_core.v.j2), the hls/rtl
blocks it uses (copied so the directory is self-contained for YoWASP's relative paths), the
``$readmemh`` images, and ``core.json``. Same graph and options -> byte-identical files."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import jinja2

from hwkit.backends.rtl.plan import Plan, build_plan
from hwkit.backends.rtl.stream import RTL_DIR

TEMPLATES = Path(__file__).resolve().parent / "templates"
LIBRARY = ("hk_fifo.v", "hk_rom.v", "hk_addtree.v", "hk_mvu.v", "hk_thresh.v", "hk_shiftround.v", "hk_dwc.v",
           "hk_swg.v", "hk_pool.v", "hk_add.v")
CORE_JSON_VERSION = 1


def _vparam(v) -> str:
    if isinstance(v, str):
        from hwkit.names import verilog_string

        return verilog_string(v)
    return str(int(v))


def render(plan: Plan) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False)
    env.filters["vparam"] = _vparam
    links = [l for l in plan.links if l.name not in ("in", "out")]
    return env.get_template("hwkit_core.v.j2").render(
        graph_name=plan.name, inp=plan.input, out=plan.output, ii=plan.ii, links=links, roms=plan.roms,
        insts=plan.insts, prec_bits=plan.prec_bits)


def _side(link, stream) -> dict:
    t = stream.dtype
    return {"stream": stream.name, "shape": list(stream.shape), "bits": link.bits, "signed": bool(t.signed),
            "bipolar": bool(t.bipolar), "type": str(t), "elems_per_beat": link.e, "beats_per_sample": link.beats,
            "width": link.width}


def core_description(plan: Plan, files: list[str]) -> dict:
    return {
        "version": CORE_JSON_VERSION,
        "top": "hwkit_core",
        "graph": plan.name,
        "ports": {"clk": "rising edge", "rst": "synchronous, active high",
                  "in": "in_data/in_valid/in_ready", "out": "out_data/out_valid/out_ready"},
        "beat_layout": "element k of a beat in bits [k*bits, (k+1)*bits); beat b of a sample holds flat "
                       "channels-last elements b*elems_per_beat .. (b+1)*elems_per_beat-1; signed values in two's "
                       "complement; bipolar as 1 bit with 0 = -1",
        "in": _side(plan.input, plan.in_stream),
        "out": _side(plan.output, plan.out_stream),
        "ii_cycles": plan.ii,
        **({"precision_bits": plan.prec_bits} if plan.prec_bits else {}),
        "layers": [{"name": l.name, "kind": l.kind, "modules": l.modules, "pe": l.pe, "simd": l.simd,
                    "cycles_per_sample": l.cycles, "rom": l.rom} for l in plan.layers],
        "fifos": {**{i.name: dict(i.params)["DEPTH"] for i in plan.insts if i.module == "hk_fifo"},
                  **{f"{i.name}.branch": dict(i.params)["BDEPTH"] for i in plan.insts if i.module == "hk_add"}},
        "fifo_keys": dict(sorted(plan.fifo_keys.items())),
        "files": {"verilog": [f for f in files if f.endswith(".v")], "mem": [f for f in files if f.endswith(".mem")]},
    }


def generate(graph, out_dir: Path, *, target_ii: Optional[int] = None, folding: Optional[dict] = None,
             fifo_depths: Optional[dict] = None, rom_style: str = "auto", family: str = "ecp5") -> dict:
    """Write the core for ``graph`` into ``out_dir``; returns the core.json dict.

    ``folding`` {mvu name: (pe, simd)} and ``fifo_depths`` {consumer layer name: depth} override the
    automatic choices; ``rom_style`` is 'auto', 'block' or 'logic'."""
    plan = build_plan(graph, target_ii=target_ii, folding=folding, fifo_depths=fifo_depths, rom_style=rom_style,
                      family=family)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    own = sorted({f"{i.module}.v" for i in plan.insts} - set(LIBRARY))   # blocks of kinds outside LIBRARY
    for name in LIBRARY + tuple(f for f in own if (RTL_DIR / f).exists()):
        dst = out_dir / name
        src_bytes = (RTL_DIR / name).read_bytes()
        if not dst.exists() or dst.read_bytes() != src_bytes:
            shutil.copyfile(RTL_DIR / name, dst)
        files.append(name)
    _write(out_dir / "hwkit_core.v", render(plan))
    files.append("hwkit_core.v")
    for name, text in sorted(plan.mems.items()):
        _write(out_dir / name, text)
        files.append(name)
    desc = core_description(plan, files)
    _write(out_dir / "core.json", json.dumps(desc, indent=2, sort_keys=True) + "\n")
    return desc


def _write(path: Path, text: str):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
