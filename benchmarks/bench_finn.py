"""FINN backend benchmark: time per FINN step, verification of FINN's graphs, and FINN's estimate
beside hwkit's analytic estimate for the same folding.

    python benchmarks/bench_finn.py [--models tfc_w1a1,tfc_w2a2,tfc_w4a4,cnv_w2a2] [--n 10000]
                                    [--n-cnn 1000] [--target-fps 50000] [--out build/bench_finn]

Needs .venv-finn (python -m hwkit.backends.finn_env). Writes <out>/bench_finn.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

MODELS = {"tfc_w1a1": ("tfc", 1, 1), "tfc_w2a2": ("tfc", 2, 2), "tfc_w4a4": ("tfc", 4, 4), "cnv_w2a2": ("cnv", 2, 2)}


def export(name: str, out: Path) -> Path:
    import torch

    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    zoo, w, a = MODELS[name]
    torch.manual_seed(0)
    model = build_model(zoo, wbits=w, abits=a, in_shape=(1, 8, 8))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(32, 1, 8, 8))
    path = out / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model.eval(), (1, 8, 8), path)
    return path


def hwkit_estimate(qonnx: Path, finn_folding: dict, board_name: str) -> dict | None:
    """hwkit's cycle model and resource estimate with FINN's PE/SIMD put on hwkit's MVUs in order."""
    try:
        from hwkit.boards import load_board
        from hwkit.backends import estimate_graph
        from hwkit.ir import MVU, Folding, lower
        from hwkit.sim import cycles
    except ImportError as err:
        return {"error": f"hwkit estimate not available: {err}"}
    try:
        graph = lower(str(qonnx))
        mvus = [layer for layer in graph.layers if isinstance(layer, MVU)]
        finn_mvaus = [(n, f) for n, f in finn_folding.items() if f["op_type"].startswith(("MVAU", "VVAU"))]
        if len(mvus) != len(finn_mvaus):
            return {"error": f"hwkit has {len(mvus)} MVUs, FINN {len(finn_mvaus)} MVAU/VVAU nodes"}
        from dataclasses import replace

        mvus = [replace(layer, folding=Folding(pe=int(f["PE"]), simd=int(f["SIMD"])))
                for layer, (_n, f) in zip(mvus, finn_mvaus)]
        graph = graph.replace_layers(*mvus)
        cyc = cycles(graph)
        est = estimate_graph(graph, load_board(board_name), backend="rtl")
        return {"pairs": [[layer.name, n] for layer, (n, _f) in zip(mvus, finn_mvaus)],
                "cycles": {layer.name: cyc["layers"][layer.name] for layer in mvus}, "ii": cyc["ii"],
                "layers": {row["name"]: row for row in est["layers"]} if est["layers"] and "name" in est["layers"][0]
                else est["layers"], "total": est["total"]}
    except Exception as err:  # report, do not hide: the comparison is optional
        return {"error": f"{type(err).__name__}: {err}"}


def side_by_side(finn: dict, hw: dict | None) -> list[str]:
    lines = [f"{'FINN node':<22}{'PE':>4}{'SIMD':>5}{'FINN cyc':>10}{'hwkit cyc':>10}{'FINN LUT':>10}"
             f"{'hwkit LUT':>10}{'FINN BRAM18':>12}{'hwkit BRAM':>11}{'FINN DSP':>9}{'hwkit DSP':>10}"]
    pairs = {n: h for h, n in (hw or {}).get("pairs", [])}
    hw_layers = (hw or {}).get("layers", {})
    for node, layer in finn["estimate"]["layers"].items():
        f = finn["folding"].get(node, {})
        h = pairs.get(node)
        row = hw_layers.get(h, {}) if isinstance(hw_layers, dict) else {}
        hc = hw["cycles"].get(h, "-") if h else "-"
        lines.append(f"{node:<22}{f.get('PE', '-'):>4}{f.get('SIMD', '-'):>5}{layer['cycles']:>10}{hc:>10}"
                     f"{layer['LUT']:>10.0f}{row.get('lut', '-'):>10}{layer['BRAM_18K']:>12}"
                     f"{row.get('bram', '-'):>11}{layer['DSP']:>9}{row.get('dsp', '-'):>10}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n", type=int, default=10000, help="verification inputs per MLP")
    ap.add_argument("--n-cnn", type=int, default=1000, help="verification inputs for the CNN (batch-1 execution)")
    ap.add_argument("--target-fps", type=int, default=50000)
    ap.add_argument("--board", default="pynq-z1")
    ap.add_argument("--out", type=Path, default=Path("build/bench_finn"))
    args = ap.parse_args()

    from hwkit.backends.finn import finn_build
    from hwkit.backends.finn_verify import KEY_STEPS, verify_finn_build

    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        qonnx = export(name, args.out)
        start = time.perf_counter()
        res = finn_build(qonnx, args.out / f"build_{name}", board=args.board, target_fps=args.target_fps)
        wall = time.perf_counter() - start
        n = args.n_cnn if name.startswith("cnv") else args.n
        rep = verify_finn_build(qonnx, res["out_dir"], n=n, steps=KEY_STEPS)
        hw = hwkit_estimate(qonnx, res["folding"], args.board)
        results[name] = {"steps": res["steps"], "build_seconds": res["build_seconds"], "wall_seconds": round(wall, 1),
                         "estimate": res["estimate"], "folding": res["folding"], "hwkit": hw,
                         "verify": {k: rep[k] for k in ("inputs", "ok", "pairwise", "explanation", "execute_seconds")}
                         | {"steps": {s: {k: e[k] for k in ("mismatches", "unexplained", "ms_per_input", "mode")}
                                      for s, e in rep["steps"].items()}}}
        print(f"\n== {name}: FINN build {res['build_seconds']:.2f} s inside the worker, {wall:.1f} s wall "
              f"(worker start included); flow {res['flow']}")
        for s in res["steps"]:
            print(f"   {s['step']:<36}{s['seconds']:8.3f} s")
        for step, e in rep["steps"].items():
            print(f"   verify {step:<28} {rep['inputs']} inputs: {e['mismatches']} mismatches vs reference, "
                  f"{e['unexplained']} unexplained, {e['ms_per_input']} ms/input ({e['mode']})")
        for line in rep["explanation"]:
            print(f"   note: {line}")
        if hw and "error" in hw:
            print(f"   hwkit estimate: {hw['error']}")
        for line in side_by_side(res, hw):
            print("   " + line)
    (args.out / "bench_finn.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\nwrote {args.out / 'bench_finn.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
