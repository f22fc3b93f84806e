"""Golden simulator throughput vs qonnx execute_onnx (batch 1 and 256) vs Brevitas forward (batch 256).

Single-threaded, all in one run, on the default MLP (zoo tfc W2A2, PoT) and CNNs (zoo cnv,
stable_cnv, residual_cnv W2A2). The machine may be shared: every rate is measured ``--repeats``
times, the repeats interleaved (all five rates of repeat 1, then of repeat 2, ...; golden b256
right next to Brevitas), and the medians are reported with the load average before and after.
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


def bench(name: str, tmp: Path, batch: int = 256, repeats: int = 3) -> dict:
    from hwkit.export import export_qonnx
    from hwkit.ir import grid_to_float, random_grid_inputs
    from hwkit.ir.lower import lower_with_model
    from hwkit.sim import simulate
    from hwkit.verify import _batched, _strip_prefix
    from hwkit.zoo import MODELS, build_model
    from qonnx.core.onnx_exec import execute_onnx

    torch.manual_seed(0)
    model = build_model(name, wbits=2, abits=2, ibits=8, preset="pot").eval()
    shape = MODELS[name].default_in_shape
    path = tmp / f"{name}.onnx"
    export_qonnx(model, shape, path)
    graph, qmodel = lower_with_model(path)
    x_int = random_grid_inputs(graph, batch, seed=0)
    x_f = grid_to_float(graph, x_int)
    base = _strip_prefix(qmodel, graph)
    m1, mb = _batched(base, 1), _batched(base, batch)
    iname = base.graph.input[0].name
    xt = torch.from_numpy(np.random.default_rng(0).random((batch,) + tuple(shape), dtype=np.float32))
    res = {"model": name, "layers": len(graph.layers), "onnx_nodes": len(qmodel.graph.node),
           "load_before": os.getloadavg()[0]}
    fns = {"golden_b256": (lambda: simulate(graph, x_int), batch),
           "brevitas_b256": (lambda: model(xt), batch),
           "golden_b1": (lambda: simulate(graph, x_int[:1]), 1),
           "qonnx_b1": (lambda: execute_onnx(m1, {iname: x_f[:1]}), 1),
           "qonnx_b256": (lambda: execute_onnx(mb, {iname: x_f}), batch)}
    runs = {k: [] for k in fns}
    with torch.no_grad():
        for _ in range(repeats):
            for k, (fn, n) in fns.items():
                runs[k].append(rate(fn, n))
    for k, v in runs.items():
        res[k] = float(np.median(v))
        res[k + "_runs"] = [round(r, 1) for r in v]
    res["load_after"] = os.getloadavg()[0]
    res["golden_vs_qonnx_b256"] = res["golden_b256"] / res["qonnx_b256"]
    res["golden_vs_qonnx_b1"] = res["golden_b1"] / res["qonnx_b1"]
    res["golden_vs_brevitas_b256"] = res["golden_b256"] / res["brevitas_b256"]
    # per repeat, golden and Brevitas ran close together: their ratio is less exposed to load swings
    res["golden_vs_brevitas_b256_runs"] = [round(g / b, 2)
                                           for g, b in zip(runs["golden_b256"], runs["brevitas_b256"])]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="benchmarks/results/golden.json")
    ap.add_argument("--models", default="tfc,cnv,stable_cnv,residual_cnv")
    ap.add_argument("--repeats", type=int, default=3, help="measure every rate this many times, report medians")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            r = bench(name, Path(tmp), repeats=args.repeats)
            results.append(r)
            print(f"{name}: golden {r['golden_b256']:.0f}/s (b256), {r['golden_b1']:.0f}/s (b1); "
                  f"qonnx {r['qonnx_b256']:.0f}/s (b256), {r['qonnx_b1']:.1f}/s (b1); "
                  f"brevitas {r['brevitas_b256']:.0f}/s (b256)")
            print(f"  ratios: golden/qonnx b256 {r['golden_vs_qonnx_b256']:.1f}x, b1 {r['golden_vs_qonnx_b1']:.1f}x; "
                  f"golden/brevitas b256 {r['golden_vs_brevitas_b256']:.2f}x (per repeat "
                  f"{r['golden_vs_brevitas_b256_runs']}); load {r['load_before']:.2f} -> {r['load_after']:.2f}",
                  flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": 1, "repeats": args.repeats, "results": results}, indent=1,
                                         sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
