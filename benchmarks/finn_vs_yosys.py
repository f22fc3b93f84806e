"""FINN's own LUT estimate next to Yosys' synthesized LUTs (LUT RAM and SRL included) of hwkit's rtl
build, for the BNN-PYNQ TFC networks at FINN's throughput points on the Pynq-Z1 (xc7z020, 100 MHz).

    python benchmarks/finn_vs_yosys.py [--models tfc_1w1a,tfc_2w2a] [--points fps127k,finn-examples]
                                       [--out build/finn_vs_yosys]

Points: ``fps127k`` = FINN's BNN-PYNQ TFC point of 127.6k fps, given as ``target_fps`` to both FINN
(its own folding search) and ``hwkit build --target-fps``; ``finn-examples`` = the folding of
Xilinx/finn-examples build/bnn-pynq/folding_config/tfc-w*a*_folding_config.json (PE/SIMD/ram_style),
with hwkit built at the fps FINN estimates for it. FINN runs its estimate-only steps in .venv-finn
(``make finn-env``); hwkit runs its whole default build (export ... cosim, synthesize; a Xilinx part
stops after Yosys ``synth_xilinx``). Writes <out>/finn_vs_yosys.json.

Yosys LUTs = LUT1..LUT6 + INV (a LUT1 in Vivado) + the LUTs that LUT RAM and SRL cells occupy
(UG474: RAM32M/RAM64M 4, RAM32X1D/RAM64X1D 2, RAM128X1D 4, RAM*X1S 1-4, SRL16E/SRLC32E 1), as
hwkit.tools.yosys counts them for Xilinx (its cell table; per-layer columns included); the total is
also recounted from the stat file.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
BOARD, PART = "pynq-z1", "xc7z020"
FPS_127K = 127600

# LUTs a Xilinx 7-series LUT RAM / shift register cell occupies (UG474, CLB chapter)
LUTRAM_LUTS = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32X1S": 1,
               "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
LOGIC_LUTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV")

# Xilinx/finn-examples build/bnn-pynq/folding_config (Pynq-Z1): input thresholds, then the 4 MVAUs
FINN_EXAMPLES = {"thresholds": {"PE": 49},
                 "mvau": [{"PE": 16, "SIMD": 49, "ram_style": "block"}, {"PE": 8, "SIMD": 8, "ram_style": "auto"},
                          {"PE": 8, "SIMD": 8, "ram_style": "auto"}, {"PE": 10, "SIMD": 8, "ram_style": "distributed"}]}


def yosys_luts(cells: dict) -> dict:
    """{'logic', 'lutram', 'total'} LUTs of a ``{cell type: count}`` map from ``stat -json``."""
    names = {c.lstrip("\\$"): n for c, n in cells.items()}
    logic = sum(names.get(c, 0) for c in LOGIC_LUTS)
    lutram = sum(n * LUTRAM_LUTS[c] for c, n in names.items() if c in LUTRAM_LUTS)
    return {"logic": logic, "lutram": lutram, "total": logic + lutram}


def finn_examples_folding(finn_nodes: dict) -> dict:
    """finn-examples' TFC folding keyed by this FINN run's node names (finn-plus names them
    Thresholding_rtl_0 / MVAU_hls_k, finn-examples' files Thresholding_hls_0 / StreamingFCLayer_Batch_k)."""
    mvaus = [n for n, f in finn_nodes.items() if f["op_type"].startswith("MVAU")]
    thr = [n for n, f in finn_nodes.items() if f["op_type"].startswith("Thresholding")]
    if len(mvaus) != len(FINN_EXAMPLES["mvau"]):
        raise SystemExit(f"FINN graph has {len(mvaus)} MVAUs, finn-examples' TFC folding lists 4")
    out = {n: dict(cfg) for n, cfg in zip(mvaus, FINN_EXAMPLES["mvau"])}
    if thr:
        out[thr[0]] = dict(FINN_EXAMPLES["thresholds"])
    return out


def export_model(name: str, path: Path) -> None:
    """A bnn_pynq name (``python -m hwkit.zoo.bnn_pynq NAME OUT.onnx``), or ``zoo:tfc:W:A``: hwkit's
    own zoo TFC (784-64-64-64-10) at W/A bits on 28x28 input, seed 0, BatchNorm statistics from
    three batches of random inputs."""
    if not name.startswith("zoo:"):
        from hwkit.zoo import bnn_pynq

        bnn_pynq.export(name, path)
        return
    import warnings

    import torch

    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    _, zoo, w, a = name.split(":")
    torch.manual_seed(0)
    model = build_model(zoo, wbits=int(w), abits=int(a), in_shape=(1, 28, 28)).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(64, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model.eval(), (1, 28, 28), path)


def run_finn(qonnx: Path, out: Path, target_fps=None, folding=None) -> dict:
    from hwkit.backends.finn import finn_build

    t = time.perf_counter()
    res = finn_build(qonnx, out, board=BOARD, target_fps=target_fps, folding=folding, flow="estimate")
    res["wall_seconds"] = round(time.perf_counter() - t, 1)
    return res


def run_hwkit(qonnx: Path, out: Path, target_fps: float):
    """The whole ``hwkit build QONNX --board pynq-z1 --target-fps N`` flow."""
    from hwkit.build import BuildConfig, default_flow, run_flow

    t = time.perf_counter()
    ctx = run_flow(default_flow("rtl"), BuildConfig(model=str(qonnx), board=BOARD, target_fps=float(target_fps)),
                   out, force=True)
    return ctx, round(time.perf_counter() - t, 1)


def group_finn(finn: dict) -> list[tuple[str, list[str]]]:
    """FINN nodes in graph order grouped per weight layer: everything before the first MVAU is
    'input', each MVAU carries the nodes after it (its thresholds are inside the MVAU already)."""
    groups: list = [("input", [])]
    import onnx

    layers = finn["estimate"]["layers"]
    model = Path(finn["out_dir"]) / "intermediate_models" / "step_generate_estimate_reports.onnx"
    order = [n.name for n in onnx.load(str(model), load_external_data=False).graph.node if n.name in layers]
    for name in order + [n for n in layers if n not in order]:
        if name.startswith(("MVAU", "VVAU")):
            groups.append((f"layer {len(groups) - 1}", []))
        groups[-1][1].append(name)
    return groups


def group_hwkit(graph) -> list[tuple[str, list[str]]]:
    from hwkit.ir import MVU

    groups: list = [("input", [])]
    for layer in graph.layers:
        if isinstance(layer, MVU):
            groups.append((f"layer {len(groups) - 1}", []))
        groups[-1][1].append(layer.name)
    return groups


def compare(name: str, point: str, finn: dict, ctx, hw_seconds: float) -> dict:
    from hwkit.stages.common import load_graph_artefact

    syn = ctx.results["synthesize"]
    stat = json.loads((ctx.stage_dir("synthesize") / "hwkit_core.stat.json").read_text())
    luts = yosys_luts(stat["design"]["num_cells_by_type"])
    graph = load_graph_artefact(ctx.stage_dir("lower"))
    est = finn["estimate"]
    f_groups, h_groups = group_finn(finn), group_hwkit(graph)
    rows = []
    for (label, fnodes), (_l, hnodes) in zip(f_groups, h_groups):
        f_lut = sum(float(est["layers"][n]["LUT"]) for n in fnodes)
        f_bram = sum(float(est["layers"][n]["BRAM_18K"]) for n in fnodes)
        hl = [syn["layers"].get(n, {}) for n in hnodes]
        rows.append({"group": label, "finn_nodes": fnodes, "hwkit_layers": hnodes,
                     "finn_folding": {n: finn["folding"].get(n) or est["layers"][n]["folding"] for n in fnodes},
                     "finn_lut": f_lut, "finn_bram18": f_bram,
                     "yosys_lut": sum(r.get("lut", 0) for r in hl), "yosys_lutram": sum(r.get("lutram", 0) for r in hl),
                     "yosys_ff": sum(r.get("ff", 0) for r in hl), "yosys_bram18": 2 * sum(r.get("bram", 0) for r in hl)})
    in_layers = {k: sum(r[k] for r in rows) for k in ("yosys_lut", "yosys_lutram", "yosys_ff", "yosys_bram18")}
    rows.append({"group": "core FIFOs (no layer)", "finn_nodes": [], "hwkit_layers": [], "finn_lut": 0.0,
                 "finn_bram18": 0.0, "yosys_lut": luts["logic"] - in_layers["yosys_lut"],
                 "yosys_lutram": luts["lutram"] - in_layers["yosys_lutram"],
                 "yosys_ff": syn["total"]["ff"] - in_layers["yosys_ff"],
                 "yosys_bram18": 2 * syn["total"]["bram"] - in_layers["yosys_bram18"]})
    hw_ii = ctx.results["cosim"].get("ii_cycles") or ctx.results["generate"]["ii_cycles"]
    clock = syn["clock"]["achieved_mhz"]
    perf = est["performance"]
    return {"model": name, "point": point, "rows": rows,
            "finn": {"lut": est["total"]["LUT"], "lut_input_group": rows[0]["finn_lut"], "bram18": est["total"]["BRAM_18K"], "dsp": est["total"]["DSP"],
                     "max_cycles": perf["max_cycles"], "fps": perf["throughput_fps"], "target_fps": finn["target_fps"],
                     "folding_source": finn["folding_source"], "seconds": finn["wall_seconds"]},
            "yosys": {**luts, "ff": syn["total"]["ff"], "bram18": 2 * syn["total"]["bram"], "dsp": syn["total"]["dsp"],
                      "ii": hw_ii, "fps": round(clock * 1e6 / hw_ii, 1), "cosim_mismatches": ctx.results["cosim"].get("mismatches"),
                      "hwkit_estimate_lut": ctx.results["estimate"]["total"]["lut"],
                      "cells": stat["design"]["num_cells_by_type"], "seconds": hw_seconds,
                      "stage_seconds": {s["name"]: s.get("seconds") for s in json.loads(
                          (ctx.build_dir / "manifest.json").read_text())["stages"]}},
            "dir": str(ctx.build_dir)}


def show(results: list) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=140)
    t = Table(title=f"FINN estimate vs Yosys synth_xilinx ({PART}, {BOARD}), LUTs incl. LUT RAM/SRL")
    for col in ("model", "point", "FINN fps", "hwkit fps", "FINN LUT", "Yosys LUT", "of which LUTRAM",
                "Yosys/FINN", "FINN BRAM18", "Yosys BRAM18", "cosim"):
        t.add_column(col, justify="left" if col in ("model", "point") else "right")
    for r in results:
        f, y = r["finn"], r["yosys"]
        t.add_row(r["model"], r["point"], f"{f['fps']:,.0f}", f"{y['fps']:,.0f}", f"{f['lut']:,.0f}",
                  f"{y['total']:,}", f"{y['lutram']:,}", f"{y['total'] / f['lut']:.2f}", f"{f['bram18']:g}",
                  f"{y['bram18']:g}", f"{y['cosim_mismatches']} mism.")
    con.print(t)
    for r in results:
        t = Table(title=f"{r['model']} @ {r['point']}: per layer (FINN estimate | Yosys, hwkit's per-layer synthesis)")
        for col in ("group", "FINN nodes (PE/SIMD)", "hwkit layers", "FINN LUT", "Yosys LUT", "+LUTRAM", "= total",
                    "FINN BRAM18", "Yosys BRAM18"):
            t.add_column(col, justify="left" if col in ("group", "FINN nodes (PE/SIMD)", "hwkit layers") else "right")
        for row in r["rows"]:
            nodes = ", ".join(f"{n}({'/'.join(str(v) for k, v in row['finn_folding'][n].items() if k in ('PE', 'SIMD'))})"
                              for n in row["finn_nodes"])
            t.add_row(row["group"], nodes, ", ".join(row["hwkit_layers"]), f"{row['finn_lut']:,.0f}",
                      f"{row['yosys_lut']:,}", f"{row['yosys_lutram']:,}", f"{row['yosys_lut'] + row['yosys_lutram']:,}",
                      f"{row['finn_bram18']:g}", f"{row['yosys_bram18']:g}")
        con.print(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tfc_1w1a,tfc_2w2a",
                    help="hwkit.zoo.bnn_pynq names, or zoo:tfc:W:A (hwkit's zoo TFC on 28x28)")
    ap.add_argument("--points", default="fps127k,finn-examples")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "finn_vs_yosys")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        stem = name.replace(":", "_")
        qonnx = args.out / f"{stem}.onnx"
        if not qonnx.exists():
            export_model(name, qonnx)
        base = None
        for point in [p.strip() for p in args.points.split(",") if p.strip()]:
            d = args.out / f"{stem}_{point}"
            if point == "fps127k":
                finn = base = run_finn(qonnx, d / "finn", target_fps=FPS_127K)
                hw_fps = FPS_127K
            elif point == "finn-examples":
                base = base or run_finn(qonnx, d / "finn_names", target_fps=FPS_127K)
                finn = run_finn(qonnx, d / "finn", folding=finn_examples_folding(base["folding"]))
                hw_fps = finn["estimate"]["performance"]["throughput_fps"]
            else:
                raise SystemExit(f"unknown point '{point}': fps127k or finn-examples")
            ctx, secs = run_hwkit(qonnx, d / "hwkit", hw_fps)
            results.append(compare(name, point, finn, ctx, secs) | {"hwkit_target_fps": hw_fps})
            print(f"{name} @ {point}: FINN LUT {finn['estimate']['total']['LUT']:,.0f}, "
                  f"Yosys LUT {results[-1]['yosys']['total']:,} (hwkit build {secs} s)", flush=True)
            (args.out / "finn_vs_yosys.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    show(results)
    print(f"wrote {args.out / 'finn_vs_yosys.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
