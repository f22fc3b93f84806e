"""Golden simulator throughput vs qonnx execute_onnx (batch 1 and 256) vs Brevitas forward (batch 256).

Single-threaded, all in one run, on the default MLP (zoo tfc W2A2, PoT) and a CNN (zoo cnv W2A2).
    OMP_NUM_THREADS=1 python benchmarks/bench_golden.py [--out benchmarks/results/golden.json]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def rate(fn, n_per_call: int, min_time: float = 1.0, min_calls: int = 3) -> float:
    fn()  # warm-up (caches, lazy imports)
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < min_time:
        fn()
        calls += 1
    return calls * n_per_call / (time.perf_counter() - t0)


def bench(name: str, tmp: Path, batch: int = 256) -> dict:
    from hwkit.export import export_qonnx
    from hwkit.ir import grid_to_float, lower, random_grid_inputs
    from hwkit.sim import simulate
    from hwkit.verify import _batched, _strip_prefix
    from hwkit.zoo import MODELS, build_model
    from qonnx.core.onnx_exec import execute_onnx

    torch.manual_seed(0)
    model = build_model(name, wbits=2, abits=2, ibits=8, preset="pot").eval()
    shape = MODELS[name].default_in_shape
    path = tmp / f"{name}.onnx"
    export_qonnx(model, shape, path)
    graph = lower(path)
    x_int = random_grid_inputs(graph, batch, seed=0)
    x_f = grid_to_float(graph, x_int)
    base = _strip_prefix(graph.meta["model"], graph)
    m1, mb = _batched(base, 1), _batched(base, batch)
    iname = base.graph.input[0].name
    xt = torch.from_numpy(np.random.default_rng(0).random((batch,) + tuple(shape), dtype=np.float32))
    res = {"model": name, "layers": len(graph.layers), "onnx_nodes": len(graph.meta["model"].graph.node)}
    res["golden_b256"] = rate(lambda: simulate(graph, x_int), batch)
    res["golden_b1"] = rate(lambda: simulate(graph, x_int[:1]), 1)
    res["qonnx_b1"] = rate(lambda: execute_onnx(m1, {iname: x_f[:1]}), 1)
    res["qonnx_b256"] = rate(lambda: execute_onnx(mb, {iname: x_f}), batch)
    with torch.no_grad():
        res["brevitas_b256"] = rate(lambda: model(xt), batch)
    res["golden_vs_qonnx_b256"] = res["golden_b256"] / res["qonnx_b256"]
    res["golden_vs_qonnx_b1"] = res["golden_b1"] / res["qonnx_b1"]
    res["golden_vs_brevitas_b256"] = res["golden_b256"] / res["brevitas_b256"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="benchmarks/results/golden.json")
    ap.add_argument("--models", default="tfc,cnv")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            r = bench(name, Path(tmp))
            results.append(r)
            print(f"{name}: golden {r['golden_b256']:.0f}/s (b256), {r['golden_b1']:.0f}/s (b1); "
                  f"qonnx {r['qonnx_b256']:.0f}/s (b256), {r['qonnx_b1']:.1f}/s (b1); "
                  f"brevitas {r['brevitas_b256']:.0f}/s (b256)")
            print(f"  ratios: golden/qonnx b256 {r['golden_vs_qonnx_b256']:.1f}x, b1 {r['golden_vs_qonnx_b1']:.1f}x; "
                  f"golden/brevitas b256 {r['golden_vs_brevitas_b256']:.2f}x", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": 1, "results": results}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
