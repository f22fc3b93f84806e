"""FINN's report files -> plain dicts for hwkit's report (no FINN import: runs in hwkit's venv)."""
from __future__ import annotations

import json
from pathlib import Path

RESOURCE_KEYS = ("LUT", "BRAM_18K", "URAM", "DSP")
FOLDING_ATTRS = ("PE", "SIMD", "parallel_window", "mem_mode", "ram_style", "resType")


def _load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def import_estimate_reports(report_dir) -> dict:
    """Per-layer LUT/BRAM_18K/URAM/DSP and cycles, totals, throughput and latency, folding.

    {'layers': {name: {'LUT', 'BRAM_18K', 'URAM', 'DSP', 'cycles', 'ops', 'folding'}},
     'total': {...}, 'performance': {max_cycles, critical_path_cycles, throughput_fps, latency_ns,
     bottleneck}, 'files': [...]}; empty dict if FINN wrote no estimate."""
    report_dir = Path(report_dir)
    resources = _load(report_dir / "estimate_layer_resources.json")
    if resources is None:
        return {}
    cycles = _load(report_dir / "estimate_layer_cycles.json") or {}
    ops = _load(report_dir / "op_and_param_counts.json") or {}
    perf = _load(report_dir / "estimate_network_performance.json") or {}
    folding = {}
    for name in ("auto_folding_config.json", "hwkit_folding_config.json", "final_hw_config.json"):
        for layer, attrs in (_load(report_dir / name) or {}).items():
            if layer != "Defaults" and isinstance(attrs, dict):
                folding.setdefault(layer, {}).update({k: v for k, v in attrs.items() if k in FOLDING_ATTRS})
    layers = {}
    for name, res in resources.items():
        if name == "total":
            continue
        layers[name] = {k: res.get(k, 0) for k in RESOURCE_KEYS}
        layers[name]["cycles"] = int(cycles.get(name, 0))
        layers[name]["ops"] = ops.get(name, {})
        layers[name]["folding"] = folding.get(name, {})
    total = {k: sum(float(layer[k]) for layer in layers.values()) for k in RESOURCE_KEYS}
    return {
        "layers": layers,
        "total": total,
        "performance": {
            "max_cycles": perf.get("max_cycles"),
            "critical_path_cycles": perf.get("critical_path_cycles"),
            "throughput_fps": perf.get("estimated_throughput_fps"),
            "latency_ns": perf.get("estimated_latency_ns"),
            "bottleneck": perf.get("max_cycles_node_name"),
        },
        "files": sorted(p.name for p in report_dir.glob("*.json")),
    }


def import_synth_reports(report_dir) -> dict:
    """FINN's post-synthesis reports (out-of-context synthesis, bitfile build) as found."""
    report_dir = Path(report_dir)
    out = {}
    for name in ("ooc_synth_and_timing.json", "post_synth_resources.json", "post_route_timing.json",
                 "post_synth_resources_dcp.json", "rtlsim_performance.json"):
        data = _load(report_dir / name)
        if data is not None:
            out[name.removesuffix(".json")] = data
    return out


def read_folding(model_path) -> dict:
    """PE/SIMD and memory attributes of every FINN HW node in a saved model, in graph order."""
    model_path = Path(model_path)
    if not model_path.is_file():
        return {}
    import onnx
    from onnx import helper

    model = onnx.load(str(model_path), load_external_data=False)
    out = {}
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name in FOLDING_ATTRS}
        if attrs:
            out[node.name] = {"op_type": node.op_type,
                              **{k: (v.decode() if isinstance(v, bytes) else v) for k, v in sorted(attrs.items())}}
    return out


def estimate_table(estimate: dict) -> list[dict]:
    """Rows for a side-by-side table: layer, cycles, LUT, BRAM_18K, URAM, DSP, PE, SIMD."""
    rows = []
    for name, layer in estimate.get("layers", {}).items():
        rows.append({"layer": name, "cycles": layer["cycles"], **{k: layer[k] for k in RESOURCE_KEYS},
                     "PE": layer["folding"].get("PE"), "SIMD": layer["folding"].get("SIMD")})
    return rows

