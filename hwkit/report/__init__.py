"""Build reports: ``report.json`` (schema in SCHEMA.md) collected from a build directory's stage records,
and a self-contained ``report.html`` (inline CSS, plots as base64 PNG) rendered from it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from hwkit.errors import ConfigError

SCHEMA = "hwkit.report/1"
RESOURCE_KEYS = ("lut", "ff", "bram", "dsp")


def _records(build_dir: Path) -> dict[str, dict]:
    """Stage name -> stage record, for every finished stage directory listed in the manifest."""
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"not a build directory (no manifest.json): {build_dir}")
    manifest = json.loads(manifest_path.read_text())
    out = {}
    for entry in manifest.get("stages", []):
        d = build_dir / entry.get("dir", "")
        if entry.get("dir") and (d / "stage.json").is_file():
            out[entry["name"]] = json.loads((d / "stage.json").read_text()) | {"dir": entry["dir"]}
    return out


def _res(rec: dict) -> dict:
    return rec.get("result", {}) if rec and rec.get("status") == "ok" else {}


def _note(rec: dict, entry: dict):
    """Why a stage did not produce its artefact, or its one-line summary."""
    if entry.get("status") == "failed":
        return entry.get("error")
    res = rec.get("result", {}) or {}
    return res.get("reason") or res.get("summary")


def _num(x):
    return None if x is None else (round(float(x), 6) if isinstance(x, float) else x)


def collect(build_dir: str | Path, extra_stages: Optional[dict] = None) -> dict:
    """Assemble report.json's dictionary from the stage records in ``build_dir``.

    ``extra_stages`` (name -> record) adds records not yet in the manifest (the report stage itself)."""
    build_dir = Path(build_dir)
    recs = _records(build_dir) | (extra_stages or {})
    manifest = json.loads((build_dir / "manifest.json").read_text())
    cfg = manifest.get("config", {})
    exp, sim, est = _res(recs.get("export")), _res(recs.get("golden_sim")), _res(recs.get("estimate"))
    gen, cos = _res(recs.get("generate")), _res(recs.get("cosim"))
    syn, pnr, bit = _res(recs.get("synthesize")), _res(recs.get("place_route")), _res(recs.get("bitstream"))

    from hwkit.boards import load_board

    board = load_board(cfg.get("board", "ulx3s"))
    clock = pnr.get("clock_mhz") or syn.get("freq_mhz") or cfg.get("clock_mhz") or board.clock_mhz
    fmax = pnr.get("fmax_mhz")
    ii = cos.get("ii_cycles") or sim.get("ii_cycles")
    latency = cos.get("latency_cycles") or sim.get("latency_cycles")
    run_clock = min(clock, fmax) if fmax else clock
    folding = gen.get("folding", {})
    syn_layers = syn.get("layers", {})
    layer_cycles = sim.get("layer_cycles", {})
    layers = []
    for row in est.get("layers", []):
        name = row["name"]
        pe, simd = folding.get(name, (row["pe"], row["simd"]))
        layers.append({
            "name": name, "kind": row["kind"], "wbits": row["wbits"], "abits": row["abits"], "obits": row["obits"],
            "pe": pe, "simd": simd, "cycles": layer_cycles.get(name, row["cycles"]),
            "estimated": {k: row[k] for k in RESOURCE_KEYS},
            "synthesized": {k: syn_layers[name].get(k) for k in RESOURCE_KEYS} if name in syn_layers else None,
        })
    stages = [{"name": s["name"], "status": s["status"], "seconds": s.get("seconds"), "ran": s.get("ran", True),
               "reason": _note(recs.get(s["name"], {}), s)}
              for s in manifest.get("stages", []) if s["name"] != "report"]  # same report whenever rendered
    tools = {}
    for rec in recs.values():
        tools.update(rec.get("tools", {}))
    artefacts = {}
    if bit.get("bitstream"):
        artefacts["bitstream"] = f"{recs['bitstream']['dir']}/{bit['bitstream']}"
    for stage, key in (("generate", "top"), ("export", "qonnx")):
        if _res(recs.get(stage)).get(key):
            artefacts[f"{stage}.{key}"] = f"{recs[stage]['dir']}/{_res(recs.get(stage))[key]}"
    return {
        "schema": SCHEMA,
        "model": {"name": exp.get("model"), "source": exp.get("source"), "sha256": exp.get("sha256"),
                  "dataset": cfg.get("dataset")},
        "board": {"name": board.name, "title": board.title, "part": board.part, "family": board.family,
                  "toolchain": board.toolchain},
        "backend": cfg.get("backend"),
        "summary": {
            "clock_mhz": _num(clock), "fmax_mhz": _num(fmax), "ii_cycles": ii, "latency_cycles": latency,
            "throughput_fps": _num(run_clock * 1e6 / ii) if ii else None,
            "latency_us": _num(latency / run_clock) if latency else None,
            "accuracy_software": _num(sim.get("accuracy_software")),
            "accuracy_golden": _num(sim.get("accuracy_golden")),
            "accuracy_hw_sim": _num(cos.get("accuracy_hw_sim")),
            "test_samples": sim.get("test_samples"),
            "bit_exact": cos.get("bit_exact"), "mismatches": cos.get("mismatches"),
            "cosim_vectors": cos.get("vectors"), "cosim_reference": cos.get("reference"),
        },
        "layers": layers,
        "resources": {
            "estimated": {k: est.get("total", {}).get(k) for k in RESOURCE_KEYS} if est else None,
            "synthesized": {k: syn.get("total", {}).get(k) for k in RESOURCE_KEYS} if syn.get("total") else None,
            "available": board.resources.as_dict() | {"bram": board.resources.bram_blocks},
            "synthesis_tool": syn.get("tool"),
        },
        "stages": stages,
        "tools": dict(sorted(tools.items())),
        "artefacts": artefacts,
    }


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(build_dir: str | Path, out_dir: Optional[Path] = None, extra_stages: Optional[dict] = None) -> dict:
    """Write report.json and report.html into ``out_dir`` (default: the build directory)."""
    from hwkit.report.html import render_html

    build_dir = Path(build_dir)
    out_dir = Path(out_dir) if out_dir else build_dir
    report = collect(build_dir, extra_stages)
    write_atomic(out_dir / "report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_atomic(out_dir / "report.html", render_html(report))
    return report
