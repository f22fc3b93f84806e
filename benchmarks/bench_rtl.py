"""RTL backend benchmark: Verilator cosim of every zoo model (and the pretrained ones) against the
golden model, with mismatch counts, measured II vs the cycle models, build and run times, and
cosim throughput; optionally Yosys synth_ecp5 counts of the default model's core.

    OMP_NUM_THREADS=1 python benchmarks/bench_rtl.py [--n 10000] [--models tfc_w2a2_pre,cnv_w2a2,...]
                                                      [--synth] [--out benchmarks/results/bench_rtl.json]
Untrained zoo models are exported with torch seed 0 (cosim exactness does not depend on training).
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]

ZOO = {"tfc_w1a1": ("tfc", 1, 1), "tfc_w4a4": ("tfc", 4, 4), "cnv_w2a2": ("cnv", 2, 2),
       "stable_mlp_w4a4": ("stable_mlp", 4, 4), "residual_mlp_w2a2": ("residual_mlp", 2, 2),
       "stable_cnv_w4a4": ("stable_cnv", 4, 4)}
PRETRAINED = {"tfc_w2a2_pre": "tfc_w2a2_digits.onnx", "stable_w4a4_pre": "stable_w4a4_digits.onnx"}


def model_path(name: str, work: Path) -> Path:
    if name in PRETRAINED:
        return ROOT / "hwkit" / "pretrained" / PRETRAINED[name]
    import torch

    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    zoo, w, a = ZOO[name]
    torch.manual_seed(0)
    p = work / f"{name}.onnx"
    export_qonnx(build_model(zoo, wbits=w, abits=a), (1, 8, 8), p)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--models", default=",".join([*PRETRAINED, *ZOO]))
    ap.add_argument("--synth", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "build" / "bench_rtl"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_rtl.json"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower, random_grid_inputs

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.models.split(","):
        g = lower(str(model_path(name, work)))
        t0 = time.monotonic()
        desc = generate(g, work / name)
        t_gen = time.monotonic() - t0
        x = random_grid_inputs(g, args.n, seed=1)
        res = cosimulate(g, x, work / name)
        row = {"generate_s": round(t_gen, 2), **res.as_dict(),
               "folding": {l["name"]: [l["pe"], l["simd"]] for l in desc["layers"] if l["kind"] == "MVU"}}
        results[name] = row
        print(name, json.dumps(row), flush=True)
    if args.synth:
        from hwkit.tools import yosys

        name = "tfc_w2a2_pre"
        desc = json.loads((work / name / "core.json").read_text())
        r = yosys.synthesize([work / name / f for f in desc["files"]["verilog"]], "hwkit_core",
                             work / name / "synth_ecp5", "ecp5",
                             data_files=[work / name / f for f in desc["files"]["mem"]])
        results["synth_ecp5_" + name] = r.as_dict()
        print("synth", json.dumps(r.as_dict()), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
