"""TV smoothing, software measurement: a small stable CNN with and without a TV step after each block.

Outlier ratio = max |a| / 99th percentile of |a| over the test set, for the values entering each
residual-stream quantizer (the float pre-activations that quantization must cover); reported for
the last stream (the map the classifier reads) and as the mean over streams.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np


def stream_outliers(model, x) -> list[float]:
    import torch

    from hwkit.zoo.tv import outlier_ratio

    quants = [model.open_quant] + [b.out_quant for b in model.blocks]
    seen: dict = {i: [] for i in range(len(quants))}
    hooks = [q.register_forward_pre_hook(lambda m, a, i=i: seen[i].append(a[0].detach().numpy().copy()))
             for i, q in enumerate(quants)]
    try:
        with torch.no_grad():
            model(torch.from_numpy(x))
    finally:
        for h in hooks:
            h.remove()
    return [outlier_ratio(np.concatenate(seen[i])) for i in range(len(quants))]


def lowering_status(model, in_shape, data=None) -> tuple[str, float | None, float | None]:
    """('ok', golden accuracy on the test set, fraction of TV-layer outputs that differ from their
    inputs) if hwkit.ir.lower accepts the exported model, else (the exact one-line error, None, None)."""
    import tempfile

    from hwkit.export import export_qonnx
    from hwkit.ir import lower, quantize_input
    from hwkit.sim import simulate
    from hwkit.stages.common import float_scores

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "tv.onnx"
        export_qonnx(model, tuple(in_shape), path)
        try:
            graph = lower(str(path))
        except Exception as err:  # report, whatever the kind
            return f"{type(err).__name__}: {err}", None, None
    if data is None:
        return "ok", None, None
    res = simulate(graph, quantize_input(graph, data.x_test), trace=True)
    scores = float_scores(graph, {**res.outputs, **res.float_outputs})
    tvs = [l for l in graph.layers if l.kind == "TV"]
    made_by = {o: l.name for l in graph.layers for o in l.outputs}
    changed = [float(np.mean(res.trace[l.name] != res.trace[made_by[l.inputs[0]]])) for l in tvs]
    acc = float((scores.reshape(len(scores), -1).argmax(axis=1) == data.y_test).mean())
    return "ok", acc, (float(np.mean(changed)) if changed else None)


def run_tv(out: Path, dataset: str = "digits", bits=(2, 3), seeds=(0, 1, 2), epochs: int = 10,
           depth: int = 2, width: int = 8, log=print) -> dict:
    import torch

    from hwkit.data import load_dataset
    from hwkit.train import TrainConfig, train

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset)
    rows, status = [], None
    for b in bits:
        for tv in (False, True):
            for seed in seeds:
                arch = {"depth": depth, "width": width, "hidden": width, "tv": tv}
                cfg = TrainConfig(model="stable_cnv", dataset=dataset, wbits=b, abits=b, epochs=epochs, seed=seed,
                                  arch=arch)
                model, ckpt, metrics = train(cfg, progress=False)
                ratios = stream_outliers(model, data.x_test)
                st, hw_acc, changed = lowering_status(model, ckpt["in_shape"], data)
                if tv and status is None:
                    status = st
                rows.append({"bits": b, "tv": tv, "seed": seed, "test_accuracy": metrics["test_accuracy"],
                             "golden_accuracy": hw_acc, "has_tv_layer": tv and st == "ok", "tv_changed": changed,
                             "outlier_last": ratios[-1], "outlier_mean": float(np.mean(ratios)), "outliers": ratios})
                log(f"W{b}A{b} tv={tv} seed {seed}: acc {metrics['test_accuracy']:.3f} golden {hw_acc} "
                    f"TV changed {changed} outlier last {ratios[-1]:.2f}")
    summary = []
    for b in bits:
        for tv in (False, True):
            rs = [r for r in rows if r["bits"] == b and r["tv"] == tv]
            acc, last, mean = (np.array([r[k] for r in rs]) for k in ("test_accuracy", "outlier_last", "outlier_mean"))
            summary.append({"bits": b, "tv": tv, "accuracy_mean": acc.mean(), "accuracy_std": acc.std(),
                            "outlier_last_mean": last.mean(), "outlier_last_std": last.std(),
                            "outlier_mean_mean": mean.mean(), "outlier_mean_std": mean.std(),
                            "golden_equals_software": all(r["golden_accuracy"] == r["test_accuracy"] for r in rs),
                            "tv_changed_max": max((r["tv_changed"] for r in rs if r["tv_changed"] is not None),
                                                  default=None)})
    result = {"settings": {"dataset": dataset, "bits": list(bits), "seeds": list(seeds), "epochs": epochs,
                           "depth": depth, "width": width}, "runs": rows, "summary": summary,
              "lower_status": status}
    (out / "tv_results.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    lines = ["| W=A bits | TV | test acc % | outlier ratio, last stream | outlier ratio, mean over streams "
             "| golden (hardware) acc == software, every seed | TV outputs changed (max over seeds) |",
             "|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['bits']} | {'yes' if s['tv'] else 'no'} | {100 * s['accuracy_mean']:.1f} ± "
                     f"{100 * s['accuracy_std']:.1f} | {s['outlier_last_mean']:.2f} ± {s['outlier_last_std']:.2f} | "
                     f"{s['outlier_mean_mean']:.2f} ± {s['outlier_mean_std']:.2f} | "
                     f"{'yes' if s['golden_equals_software'] else 'NO'} | "
                     f"{'-' if s['tv_changed_max'] is None else format(s['tv_changed_max'], '.4%')} |")
    lines.append(f"\nhwkit.ir.lower on the exported TV model: `{status}`\n")
    (out / "tv_results.md").write_text("\n".join(lines))
    return result
