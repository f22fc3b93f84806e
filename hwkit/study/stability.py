"""The stability study: stable (symmetric) vs plain residual networks of equal parameter budget,
trained at several depths and bit widths over seeds; per-block quantized-vs-float deviation
(hwkit.study.deviation), accuracy, forward-stability numbers and hardware cost.

``run(...)`` is the whole study; every run is appended to ``runs.jsonl`` in the output directory as
it finishes (a rerun with the same arguments skips finished runs), then ``results.json``,
``results.md`` and the plots are written from all of them.

Kinds: ``stable`` (K shared as K^T, hidden = 2 * RES_HIDDEN so the block has as many weights as a
residual block), ``stable_c`` (the same, trained with h*||K||^2*max s' <= 2 enforced) and
``residual`` (two independent matrices of RES_HIDDEN).

Forms: ``mlp`` (stable_mlp / residual_mlp, a stream of WIDTH features) and ``conv`` (stable_cnv /
residual_cnv, 3x3 convolutions on a stream of channels; image datasets only). SIZES holds each form's
(stream width, residual hidden); a run's form is part of its key (records without one are MLP runs).
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

KINDS = ("stable", "stable_c", "residual")
SIZES = {"mlp": (32, 32), "conv": (8, 8)}  # form -> (stream width or channels, residual hidden)
FORMS = tuple(SIZES)
WIDTH, RES_HIDDEN = SIZES["mlp"]


def arch_for(kind: str, depth: int, form: str = "mlp") -> tuple[str, dict, float]:
    """(zoo model, arch keywords, stability bound) of a study kind."""
    width, res_hidden = SIZES[form]
    model = f"{'residual' if kind == 'residual' else 'stable'}_{'mlp' if form == 'mlp' else 'cnv'}"
    hidden = res_hidden if kind == "residual" else 2 * res_hidden
    return model, {"depth": depth, "width": width, "hidden": hidden}, 2.0 if kind == "stable_c" else 0.0


def train_config(dataset: str, kind: str, depth: int, bits: int, seed: int, epochs: int, batch_size: int = 128,
                 lr: float = 0.01, form: str = "mlp"):
    """The TrainConfig of one study run (training is deterministic: the same config, the same weights)."""
    from hwkit.train import TrainConfig

    name, arch, bound = arch_for(kind, depth, form)
    return TrainConfig(model=name, dataset=dataset, wbits=bits, abits=bits, epochs=epochs, batch_size=batch_size,
                       lr=lr, seed=seed, arch=arch, stability_bound=bound)


def _hardware(model, in_shape, board: str, x_test) -> dict:
    """Export, lower, estimate for ``board``; golden simulator logits vs Brevitas on ``x_test``."""
    import tempfile

    import torch

    from hwkit.boards import load_board
    from hwkit.backends import estimate_graph
    from hwkit.export import export_qonnx
    from hwkit.ir import lower, quantize_input
    from hwkit.sim import simulate

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "m.onnx"
        export_qonnx(model, tuple(in_shape), path)
        graph = lower(str(path))
        est = estimate_graph(graph, load_board(board))
        res = simulate(graph, quantize_input(graph, x_test))
        golden = np.concatenate([v for v in res.float_outputs.values()], axis=0).reshape(len(x_test), -1)
        with torch.no_grad():
            ref = model(torch.from_numpy(x_test))
        ref = (ref.value if hasattr(ref, "value") else ref).numpy()
    mism = int(np.sum(np.any(np.abs(golden - ref) > 1e-4 * (1 + np.abs(ref)), axis=1)))
    return {"lut": int(est["total"]["lut"]), "ff": int(est["total"]["ff"]), "bram": est["total"]["bram"],
            "ii_cycles": int(est["total"]["ii_cycles"]), "golden_vs_brevitas_mismatching_inputs": mism}


def one_run(dataset: str, kind: str, depth: int, bits: int, seed: int, epochs: int, batch_size: int,
            lr: float, hardware: str | None, form: str = "mlp") -> dict:
    import torch

    from hwkit.data import load_dataset
    from hwkit.study.deviation import block_deviation
    from hwkit.train import train
    from hwkit.zoo.mlp import count_parameters
    from hwkit.zoo.stability import stability_report

    torch.set_num_threads(1)
    cfg = train_config(dataset, kind, depth, bits, seed, epochs, batch_size, lr, form)
    model, ckpt, metrics = train(cfg, progress=False)
    data = load_dataset(dataset)
    dev = block_deviation(model, data.x_test)
    float_acc = float(np.mean(dev["logits_float"].argmax(1) == data.y_test))
    block_params = sum(p.numel() for n, p in model.named_parameters() if n.startswith("blocks."))
    stab = stability_report(model)
    row = {"form": form, "dataset": dataset, "kind": kind, "depth": depth, "bits": bits, "seed": seed,
           "model": cfg.model, "arch": cfg.arch, "stability_bound": cfg.stability_bound, "params": count_parameters(model),
           "block_params": block_params, "test_accuracy": metrics["test_accuracy"],
           "float_net_accuracy": float_acc, "train_seconds": metrics["train_seconds"],
           "deviation": dev["deviation"], "deviation_std": dev["deviation_std"],
           "stability_quant_max": max((r["stability_quant"] for r in stab), default=None),
           "stability_float_max": max((r["stability_float"] for r in stab), default=None)}
    if hardware:
        row["hardware"] = {"board": hardware, **_hardware(model, ckpt["in_shape"], hardware, data.x_test)}
    return row


def _key(r: dict) -> tuple:
    return (r.get("form", "mlp"), r["dataset"], r["kind"], r["depth"], r["bits"], r["seed"])


def summarize(rows: list[dict]) -> list[dict]:
    """Mean +- std over seeds per (form, dataset, kind, depth, bits)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(_key(r)[:5], []).append(r)
    out = []
    for (form, ds, kind, depth, bits), rs in sorted(groups.items()):
        dev = np.array([r["deviation"] for r in rs])
        acc, facc = np.array([r["test_accuracy"] for r in rs]), np.array([r["float_net_accuracy"] for r in rs])
        hw = next((r["hardware"] for r in rs if "hardware" in r), None)
        out.append({"form": form, "dataset": ds, "kind": kind, "depth": depth, "bits": bits, "seeds": [r["seed"] for r in rs],
                    "params": rs[0]["params"], "block_params": rs[0]["block_params"],
                    "accuracy_mean": acc.mean(), "accuracy_std": acc.std(),
                    "float_net_accuracy_mean": facc.mean(), "float_net_accuracy_std": facc.std(),
                    "deviation_mean": dev.mean(0).tolist(), "deviation_std_over_seeds": dev.std(0).tolist(),
                    "final_deviation_mean": float(dev[:, -1].mean()), "final_deviation_std": float(dev[:, -1].std()),
                    "growth_mean": float((dev[:, -1] / np.maximum(dev[:, 0], 1e-12)).mean()),
                    "stability_quant_max": max((r["stability_quant_max"] or 0) for r in rs) if kind != "residual"
                    else None, "hardware": hw})
    return out


def markdown(summary: list[dict]) -> str:
    lines = ["| dataset | W=A bits | depth | kind | params (blocks) | test acc % | float-net acc % | "
             "dev block 0 | dev last block | growth last/0 | max h·‖Kq‖²·s' | LUT (ulx3s est.) | golden≠Brevitas |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        hw = s["hardware"] or {}
        stab = "—" if s["stability_quant_max"] is None else f"{s['stability_quant_max']:.2f}"
        lines.append(
            f"| {_label(s)} | {s['bits']} | {s['depth']} | {s['kind']} | {s['params']} ({s['block_params']}) | "
            f"{100 * s['accuracy_mean']:.1f} ± {100 * s['accuracy_std']:.1f} | "
            f"{100 * s['float_net_accuracy_mean']:.1f} ± {100 * s['float_net_accuracy_std']:.1f} | "
            f"{s['deviation_mean'][0]:.3f} | {s['final_deviation_mean']:.3f} ± {s['final_deviation_std']:.3f} | "
            f"{s['growth_mean']:.2f} | {stab} | {hw.get('lut', '—')} | {hw.get('golden_vs_brevitas_mismatching_inputs', '—')} |")
    return "\n".join(lines) + "\n"


def compare_markdown(summary: list[dict]) -> str:
    """One row per (form, dataset, bits, depth), the kinds side by side: deviation after the last block
    (mean ± std over seeds) with the quantized accuracy in parentheses, and the estimated LUTs of stable
    and residual (the compact view benchmarks/results_stability.md quotes)."""
    kinds = [k for k in KINDS if any(s["kind"] == k for s in summary)]
    by = {(s.get("form", "mlp"), s["dataset"], s["bits"], s["depth"], s["kind"]): s for s in summary}
    lines = ["| dataset | bits | depth | " + " | ".join(f"{k}: dev last (acc %)" for k in kinds)
             + " | LUT stable / residual |", "|---|---|---|" + "---|" * (len(kinds) + 1)]
    for form, ds, bits, depth in sorted({k[:4] for k in by}):
        cells = []
        for kind in kinds:
            s = by.get((form, ds, bits, depth, kind))
            cells.append("—" if s is None else f"{s['final_deviation_mean']:.3f} ± {s['final_deviation_std']:.3f} "
                         f"({100 * s['accuracy_mean']:.1f} ± {100 * s['accuracy_std']:.1f})")
        luts = [((by.get((form, ds, bits, depth, k)) or {}).get("hardware") or {}).get("lut", "—")
                for k in ("stable", "residual")]
        label = _label({"dataset": ds, "form": form})
        lines.append(f"| {label} | W{bits}A{bits} | {depth} | " + " | ".join(cells) + f" | {luts[0]} / {luts[1]} |")
    return "\n".join(lines) + "\n"


def _label(s: dict) -> str:
    """The dataset column: MLP runs by dataset name alone (as before forms existed), others tagged."""
    form = s.get("form", "mlp")
    return s["dataset"] if form == "mlp" else f"{s['dataset']} ({form})"


def plot(summary: list[dict], out: Path) -> list[Path]:
    """deviation vs block index per depth; accuracy vs bits; LUTs vs bits (one PNG each per dataset)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"stable": "tab:blue", "stable_c": "tab:green", "residual": "tab:red"}
    paths = []
    for form, ds in sorted({(s.get("form", "mlp"), s["dataset"]) for s in summary}):
        rows = [s for s in summary if s["dataset"] == ds and s.get("form", "mlp") == form]
        tag = ds if form == "mlp" else f"{ds}_{form}"  # file names; the MLP ones predate forms
        bits_list, depths = sorted({s["bits"] for s in rows}), sorted({s["depth"] for s in rows})
        fig, axes = plt.subplots(1, len(bits_list), figsize=(5 * len(bits_list), 4), squeeze=False)
        for ax, bits in zip(axes[0], bits_list):
            for s in rows:
                if s["bits"] != bits:
                    continue
                alpha = 0.35 + 0.65 * depths.index(s["depth"]) / max(1, len(depths) - 1)
                ax.errorbar(range(len(s["deviation_mean"])), s["deviation_mean"], yerr=s["deviation_std_over_seeds"],
                            color=colors[s["kind"]], alpha=alpha, marker=".", capsize=2,
                            label=f"{s['kind']} d={s['depth']}")
            ax.set(title=f"{_label(rows[0])} W{bits}A{bits}", xlabel="block index (0 = opening)", yscale="log",
                   ylabel="||x_q - x_f|| / ||x_f||")
            ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        paths.append(out / f"deviation_{tag}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
        for metric, ylabel, fname in (("accuracy", "test accuracy (mean ± std)", "accuracy"),
                                      ("lut", "LUTs (estimate, ulx3s)", "luts")):
            fig, axes = plt.subplots(1, len(depths), figsize=(3.5 * len(depths), 3.2), squeeze=False, sharey=True)
            for ax, depth in zip(axes[0], depths):
                for kind in colors:
                    pts = sorted((s["bits"], s) for s in rows if s["kind"] == kind and s["depth"] == depth)
                    if not pts:
                        continue
                    xs = [b for b, _ in pts]
                    if metric == "accuracy":
                        ax.errorbar(xs, [s["accuracy_mean"] for _, s in pts], [s["accuracy_std"] for _, s in pts],
                                    color=colors[kind], marker="o", capsize=3, label=kind)
                    elif all(s["hardware"] for _, s in pts):
                        ax.plot(xs, [s["hardware"]["lut"] for _, s in pts], color=colors[kind], marker="o", label=kind)
                ax.set(title=f"{_label(rows[0])} depth {depth}", xlabel="W = A bits", xticks=bits_list)
            axes[0][0].set_ylabel(ylabel)
            axes[0][0].legend(fontsize=7)
            fig.tight_layout()
            paths.append(out / f"{fname}_{tag}.png")
            fig.savefig(paths[-1], dpi=110)
            plt.close(fig)
    return paths


def run(out: Path, datasets=("mnist1d", "mnist"), depths=(2, 4, 8, 16), bits=(2, 3, 4, 8), seeds=(0, 1, 2),
        kinds=KINDS, epochs: int = 3, batch_size: int = 128, lr: float = 0.01, board: str | None = "ulx3s",
        log=print, form: str = "mlp") -> dict:
    """Run (or resume) the grid into ``out``; returns {"runs": [...], "summary": [...]}.
    Hardware (export, lowering, estimate, golden check) runs for the first seed of each point."""
    from hwkit.data import SHAPES
    from hwkit.errors import ConfigError

    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown study kind '{kind}': choose from {', '.join(KINDS)}")
    if form not in FORMS:
        raise ConfigError(f"unknown study form '{form}': choose from {', '.join(FORMS)}")
    for ds in datasets:  # before any training: a bad grid fails at once, not an hour in
        if form == "conv" and len(SHAPES.get(ds, ())) != 3:
            images = ", ".join(n for n, s in SHAPES.items() if len(s) == 3)
            raise ConfigError(f"the conv form needs an image dataset ({images}), got '{ds}'")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "runs.jsonl"
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            r = json.loads(line)
            done[_key(r)] = r
    rows = []
    for ds in datasets:
        for b in bits:
            for depth in depths:
                for kind in kinds:
                    for seed in seeds:
                        key = (form, ds, kind, depth, b, seed)
                        if key not in done:
                            t0 = time.monotonic()
                            r = one_run(ds, kind, depth, b, seed, epochs, batch_size, lr,
                                        board if seed == seeds[0] else None, form)
                            r.update(epochs=epochs, batch_size=batch_size, lr=lr)
                            with cache.open("a") as f:
                                f.write(json.dumps(r, sort_keys=True) + "\n")
                            done[key] = r
                            log(f"{ds} {form} W{b}A{b} depth {depth} {kind} seed {seed}: acc {r['test_accuracy']:.3f} "
                                f"dev last {r['deviation'][-1]:.3f} ({time.monotonic() - t0:.0f} s)")
                        rows.append(done[key])
    return _write(out, rows, {"forms": [form], "datasets": list(datasets), "depths": list(depths), "bits": list(bits),
                              "seeds": list(seeds), "kinds": list(kinds), "epochs": epochs,
                              "batch_size": batch_size, "lr": lr, "board": board})


def report(out: Path) -> dict:
    """Results, table and plots from whatever ``out/runs.jsonl`` holds (no training): a partial grid
    is reported as exactly what finished."""
    out = Path(out)
    unique: dict = {}
    for line in (out / "runs.jsonl").read_text().splitlines():  # a run recorded twice counts once
        r = json.loads(line)
        unique.setdefault(_key(r), r)
    rows = sorted(unique.values(), key=_key)
    first = rows[0] if rows else {}
    return _write(out, rows, {"forms": sorted({_key(r)[0] for r in rows}), "datasets": sorted({r["dataset"] for r in rows}),
                              "depths": sorted({r["depth"] for r in rows}), "bits": sorted({r["bits"] for r in rows}),
                              "seeds": sorted({r["seed"] for r in rows}), "kinds": sorted({r["kind"] for r in rows}),
                              "epochs": first.get("epochs"), "batch_size": first.get("batch_size"),
                              "lr": first.get("lr"), "board": (first.get("hardware") or {}).get("board")})


def _write(out: Path, rows: list[dict], settings: dict) -> dict:
    summary = summarize(rows)
    sizes = {f: {"width": SIZES[f][0], "residual_hidden": SIZES[f][1]} for f in settings["forms"]}
    result = {"settings": {**settings, "sizes": sizes}, "runs": rows,
              "summary": summary}
    (out / "results.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    (out / "results.md").write_text(markdown(summary))
    (out / "compare.md").write_text(compare_markdown(summary))
    result["plots"] = [str(p) for p in plot(summary, out)]
    return result
