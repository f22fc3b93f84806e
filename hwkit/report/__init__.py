"""Build reports: ``report.json`` (schema in SCHEMA.md) collected from a build directory's stage records,
and a self-contained ``report.html`` (inline CSS, plots as base64 PNG) rendered from it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from hwkit.atomic import json_text, write_text_atomic
from hwkit.errors import ConfigError
from hwkit.stages.records import (BitstreamRecord, Clock, CosimRecord, EstimateRecord, ExportRecord,
                                  GenerateRecord, GoldenRecord, RouteRecord, SynthRecord)

SCHEMA = "hwkit.report/1"
RESOURCE_KEYS = ("lut", "ff", "bram", "dsp")
STAGE_DIR = re.compile(r"\d{2}-[A-Za-z0-9_]+")


def _records(build_dir: Path) -> dict[str, dict]:
    """Stage name -> stage record, for every finished stage directory listed in the manifest."""
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"not a build directory (no manifest.json): {build_dir}")
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = [e for e in manifest.get("stages", []) if isinstance(e, dict)]
    except (OSError, ValueError, AttributeError):
        raise ConfigError(f"{manifest_path}: not a readable hwkit manifest") from None
    out = {}
    for entry in entries:
        name = entry.get("dir")
        if not name:
            continue
        # a manifest names stage directories inside the build, never a path ('../..' is someone's file)
        if not isinstance(name, str) or not STAGE_DIR.fullmatch(name):
            raise ConfigError(f"{manifest_path}: stage directory {str(name)[:60]!r} is not a stage of this build")
        d = build_dir / name
        if (d / "stage.json").is_file():
            try:
                out[entry["name"]] = json.loads((d / "stage.json").read_text()) | {"dir": name}
            except (OSError, ValueError, TypeError, KeyError):
                raise ConfigError(f"{d / 'stage.json'}: not a readable stage record") from None
    return out


def _res(rec: dict) -> dict:
    return rec.get("result", {}) if rec and rec.get("status") == "ok" else {}


def _note(rec: dict, entry: dict):
    """Why a stage did not produce its artefact, or its one-line summary."""
    if entry.get("status") == "failed":
        return entry.get("error")
    res = rec.get("result", {}) or {}
    return res.get("reason") or res.get("summary")


def _latest(recs: dict, manifest: dict, key: str) -> dict:
    """The result of the last finished stage (in flow order) that records ``key``: the clock after a
    PLL or a timing re-closure, the routing that the bitstream was packed from."""
    for entry in reversed(manifest.get("stages", [])):
        res = _res(recs.get(entry["name"]))
        if res.get(key) is not None:
            return res
    return {}


def _num(x):
    return None if x is None else (round(float(x), 6) if isinstance(x, float) else x)


def _throughput(build_dir: Path, recs: dict, cfg: dict, board, clock_mhz: float, core_fps) -> Optional[dict]:
    """Core and link throughput side by side (hwkit.report.link), from generate's core.json; None
    without one (a backend that writes no core)."""
    from hwkit.implement.wrapper import DEFAULT_BAUD
    from hwkit.report.link import link_throughput

    gen = recs.get("generate")
    path = build_dir / gen["dir"] / "core.json" if _res(gen) and gen.get("dir") else None
    if path is None or not path.is_file():
        return None
    try:
        core = json.loads(path.read_text())
        top = cfg.get("top") or "uart"
        return link_throughput(core, top, int(cfg.get("baud") or DEFAULT_BAUD) if top == "uart" else None,
                               clock_mhz, max_baud=board.uart_max_baud, core_fps=core_fps)
    except (OSError, ValueError, TypeError, ConfigError):
        return None


def collect(build_dir: str | Path, extra_stages: Optional[dict] = None) -> dict:
    """Assemble report.json's dictionary from the stage records in ``build_dir``.

    ``extra_stages`` (name -> record) adds records not yet in the manifest (the report stage itself)."""
    build_dir = Path(build_dir)
    recs = _records(build_dir) | (extra_stages or {})
    manifest = json.loads((build_dir / "manifest.json").read_text())
    cfg = manifest.get("config", {})
    exp, sim = ExportRecord.from_dict(_res(recs.get("export"))), GoldenRecord.from_dict(_res(recs.get("golden_sim")))
    est_res = _res(recs.get("estimate"))
    est, gen = EstimateRecord.from_dict(est_res), GenerateRecord.from_dict(_res(recs.get("generate")))
    cos, bit = CosimRecord.from_dict(_res(recs.get("cosim"))), BitstreamRecord.from_dict(_res(recs.get("bitstream")))
    syn = SynthRecord.from_dict(_res(recs.get("synthesize")))
    pnr = RouteRecord.from_dict(_latest(recs, manifest, "fmax_mhz"))

    from hwkit.boards import load_board

    board = load_board(cfg.get("board", "ulx3s"))
    clock_rec = _latest(recs, manifest, "clock").get("clock")
    clock = Clock.from_dict(clock_rec).achieved_mhz if clock_rec else float(cfg.get("clock_mhz") or board.clock_mhz)
    fmax = pnr.fmax_mhz
    ii = cos.ii_cycles or sim.ii_cycles
    latency = cos.latency_cycles or sim.latency_cycles
    run_clock = min(clock, fmax) if fmax else clock
    folding = gen.folding
    syn_layers = syn.layers
    layer_cycles = sim.layer_cycles
    layers = []
    for row in est.layers:
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
    if bit.bitstream:
        artefacts["bitstream"] = f"{recs['bitstream']['dir']}/{bit.bitstream}"
    for stage, key in (("generate", "top"), ("export", "qonnx")):
        if _res(recs.get(stage)).get(key):
            artefacts[f"{stage}.{key}"] = f"{recs[stage]['dir']}/{_res(recs.get(stage))[key]}"
    core_fps = _num(run_clock * 1e6 / ii) if ii else None
    return {
        "schema": SCHEMA,
        "model": {"name": exp.model or None, "source": exp.source or None, "sha256": exp.sha256 or None,
                  "dataset": cfg.get("dataset"),
                  "input_quantization": exp.input_format and exp.input_format | {"error": sim.input_quantization}},
        "board": {"name": board.name, "title": board.title, "part": board.part, "family": board.family,
                  "toolchain": board.toolchain},
        "backend": cfg.get("backend"),
        "summary": {
            "clock_mhz": _num(clock), "fmax_mhz": _num(fmax), "ii_cycles": ii, "latency_cycles": latency,
            "throughput_fps": core_fps,
            "latency_us": _num(latency / run_clock) if latency else None,
            "accuracy_software": _num(sim.accuracy_software),
            "accuracy_golden": _num(sim.accuracy_golden),
            "accuracy_hw_sim": _num(cos.accuracy_hw_sim),
            "test_samples": sim.test_samples or None,
            "bit_exact": cos.bit_exact, "mismatches": cos.mismatches,
            "cosim_vectors": cos.vectors or None,
            "cosim_reference": cos.reference if cos.bit_exact is not None else None,
        },
        "layers": layers,
        "resources": {
            "estimated": {k: est.total.get(k) for k in RESOURCE_KEYS} if est_res else None,
            "synthesized": {k: syn.total.get(k) for k in RESOURCE_KEYS} if syn.total else None,
            "available": board.resources.as_dict() | {"bram": board.resources.bram_blocks},
            "synthesis_tool": syn.tool or None,
        },
        "throughput": _throughput(build_dir, recs, cfg, board, run_clock, core_fps),
        "stages": stages,
        "tools": dict(sorted(tools.items())),
        "artefacts": artefacts,
    }


def write_report(build_dir: str | Path, out_dir: Optional[Path] = None, extra_stages: Optional[dict] = None) -> dict:
    """Write report.json and report.html into ``out_dir`` (default: the build directory)."""
    from hwkit.report.html import render_html

    build_dir = Path(build_dir)
    out_dir = Path(out_dir) if out_dir else build_dir
    report = collect(build_dir, extra_stages)
    write_text_atomic(out_dir / "report.json", json_text(report))
    write_text_atomic(out_dir / "report.html", render_html(report))
    return report
