"""hls4ml C simulation vs the golden simulator: compile time, samples/s, mismatches on grid inputs.

For each zoo model (W2A2 input 8 bit, preset pot) and io type: a fresh compile (empty library cache),
then ``--n`` random grid inputs plus the digits test set (image models) through the C emulation and
the golden model. Single-threaded.
    OMP_NUM_THREADS=1 python benchmarks/bench_hls4ml.py [--n 10000] [--out benchmarks/results/hls4ml.json]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--models", default="tfc,jet,cnv,stable_mlp,stable_cnv,residual_mlp,residual_cnv")
    ap.add_argument("--out", default="benchmarks/results/hls4ml.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from hwkit.backends.hls4ml import compile_project, cosim_hls4ml, generate_hls4ml_project
    from hwkit.data import load_dataset
    from hwkit.export import export_qonnx
    from hwkit.zoo import MODELS, build_model

    digits = load_dataset("digits")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["HWKIT_CACHE"] = str(tmp / "cache")  # measure real compiles
        for name in args.models.split(","):
            torch.manual_seed(0)
            shape = MODELS[name].default_in_shape
            model = build_model(name, wbits=2, abits=2, ibits=8, preset="pot").eval()
            if name.startswith("stable"):  # random-init blocks are the identity after requantization
                with torch.no_grad():  # at 2 bits: scale K so K^T changes the stream (tests/golden_helpers)
                    for block in model.blocks:
                        block.K.weight.mul_(8.0)
            with torch.no_grad():
                for _ in range(4):
                    model(torch.rand(32, *shape))
            path = tmp / f"{name}.onnx"
            export_qonnx(model, shape, path)
            for io in ("parallel", "stream"):
                t0 = time.monotonic()
                proj = generate_hls4ml_project(path, tmp / f"{name}_{io}", io_type=io)
                gen_s = time.monotonic() - t0
                compile_project(proj)
                x = digits.x_test if shape == (1, 8, 8) else None
                rep = cosim_hls4ml(path, proj.out_dir, n=args.n, x=x, project=proj)
                row = {"model": name, "io_type": io, "backend": "Vitis", "samples": rep["samples"],
                       "grid_samples": rep["grid_samples"], "dataset_samples": rep["dataset_samples"],
                       "mismatches": rep["mismatches"], "reference": rep["reference"],
                       "generate_s": round(gen_s, 2), "csim_compile_s": rep["compile_seconds"],
                       "csim_samples_per_s": rep["hls_samples_per_s"],
                       "golden_samples_per_s": rep["reference_samples_per_s"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "threads": 1, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
