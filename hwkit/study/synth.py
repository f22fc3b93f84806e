"""A few stability-study points through Yosys: the estimate against a real synthesis.

A point is retrained with the study's own config (``stability.train_config``; training is deterministic
on one thread, so these are the study run's weights: the record keeps the test accuracy to compare
with ``runs.jsonl``), exported, and taken by the rtl build flow up to synthesis (export, lower,
estimate, generate, synthesize: the core inside the UART board top, as ``hwkit build`` does).
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from hwkit.errors import ConfigError

STAGES = ("export", "lower", "estimate", "generate", "synthesize")


def parse_point(text: str) -> dict:
    """``dataset:kind:depth:bits[:form]`` (seed 0), e.g. ``mnist:stable:4:4``."""
    from hwkit.study.stability import FORMS, KINDS

    parts = text.split(":")
    if len(parts) not in (4, 5) or not all(p.isdigit() for p in parts[2:4]):
        raise ConfigError(f"study point '{text}': expected dataset:kind:depth:bits[:form], e.g. mnist:stable:4:4")
    form = parts[4] if len(parts) == 5 else "mlp"
    if parts[1] not in KINDS or form not in FORMS:
        raise ConfigError(f"study point '{text}': kind one of {', '.join(KINDS)}, form one of {', '.join(FORMS)}")
    return {"dataset": parts[0], "kind": parts[1], "depth": int(parts[2]), "bits": int(parts[3]), "form": form}


def synth_point(point: dict, build_root: Path, epochs: int, board: str = "ulx3s", seed: int = 0,
                batch_size: int = 128, lr: float = 0.01) -> dict:
    import torch

    from hwkit.build import BuildConfig, default_flow, run_flow
    from hwkit.export import export_qonnx
    from hwkit.study.stability import train_config
    from hwkit.train import train

    torch.set_num_threads(1)
    cfg = train_config(point["dataset"], point["kind"], point["depth"], point["bits"], seed, epochs, batch_size, lr,
                       point["form"])
    model, ckpt, metrics = train(cfg, progress=False)
    name = f"{point['dataset']}_{point['form']}_{point['kind']}_d{point['depth']}_w{point['bits']}a{point['bits']}"
    build_dir = Path(build_root) / name
    build_dir.mkdir(parents=True, exist_ok=True)
    onnx = build_dir.parent / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, tuple(ckpt["in_shape"]), onnx, batch_size=1)
    flow = default_flow("rtl")
    flow[:] = [s for s in flow if s.name in STAGES]
    t0 = time.monotonic()
    ctx = run_flow(flow, BuildConfig(model=str(onnx), board=board, data=point["dataset"]), build_dir, overwrite=True)
    syn, est = ctx.results["synthesize"], ctx.results["estimate"]
    return {**point, "seed": seed, "epochs": epochs, "board": board, "test_accuracy": metrics["test_accuracy"],
            "estimate": {k: est["total"].get(k) for k in ("lut", "ff", "bram", "dsp")},
            "yosys": {**{k: syn["total"].get(k) for k in ("lut", "ff", "bram", "dsp")}, "lutram": syn.get("lutram") or 0},
            "yosys_tool": syn.get("tool"), "flow_seconds": round(time.monotonic() - t0, 1), "build_dir": str(build_dir)}


def markdown(rows: list[dict]) -> str:
    def pct(e, y):
        return f" ({100 * (e - y) / y:+.0f} %)" if y else ""

    out = ["| point | test acc % | LUT est / Yosys | FF est / Yosys | BRAM est / Yosys | DSP est / Yosys | LUT RAM (Yosys) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        e, y = r["estimate"], r["yosys"]
        label = f"{r['dataset']}{'' if r['form'] == 'mlp' else ' ' + r['form']} {r['kind']} d{r['depth']} W{r['bits']}A{r['bits']}"
        out.append(f"| {label} | {100 * r['test_accuracy']:.1f} | {e['lut']:,} / {y['lut']:,.0f}{pct(e['lut'], y['lut'])} | "
                   f"{e['ff']:,} / {y['ff']:,}{pct(e['ff'], y['ff'])} | {e['bram']:g} / {y['bram']:g} | "
                   f"{e['dsp']} / {y['dsp']} | {y['lutram']} |")
    return "\n".join(out) + "\n"


def run(points: list[str], out: Path, build_root: Path, epochs: int, board: str = "ulx3s", log=print) -> list[dict]:
    """Synthesize each point (resumable: ``out/yosys.json`` keeps finished ones); writes yosys.{json,md}."""
    wanted = [parse_point(p) for p in points]  # all checked before the first (minutes-long) build
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "yosys.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    for point in wanted:
        if any(all(r[k] == v for k, v in point.items()) and r["epochs"] == epochs and r["board"] == board for r in rows):
            continue
        rows.append(synth_point(point, build_root, epochs, board))
        path.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
        log(markdown(rows[-1:]).splitlines()[-1])
    (out / "yosys.md").write_text(markdown(rows))
    return rows
