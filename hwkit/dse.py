"""Design-space sweeps on dask.distributed: many small builds (train -> export -> lower -> golden
sim -> estimate), one per point of a grid of bit widths, throughput targets and boards.

Local by default (a ``LocalCluster`` of single-threaded worker processes); pass ``scheduler`` to
use an existing cluster. Each point writes its own build directory, so a sweep is as resumable
as a build: a rerun skips finished stages.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

from hwkit.atomic import write_json
from hwkit.errors import ConfigError, HwkitError

ESTIMATE_STAGES = ("export", "lower", "golden_sim", "estimate")


@dataclass(frozen=True)
class SweepPoint:
    model: str = "tfc"
    wbits: int = 2
    abits: int = 2
    ibits: int = 8
    dataset: str = "digits"
    epochs: int = 10
    board: str = "ulx3s"
    target_fps: Optional[float] = None
    seed: int = 0

    @property
    def name(self) -> str:
        fps = f"-fps{int(self.target_fps)}" if self.target_fps else ""
        return f"{self.model}-w{self.wbits}a{self.abits}i{self.ibits}-{self.dataset}-e{self.epochs}-{self.board}{fps}"


def grid(**axes: Iterable) -> list[SweepPoint]:
    """The cartesian product of the given axes (each a list of SweepPoint field values)."""
    known = set(SweepPoint.__dataclass_fields__)
    unknown = sorted(set(axes) - known)
    if unknown:
        raise ConfigError(f"unknown sweep axis '{unknown[0]}' (axes: {', '.join(sorted(known))})")
    names = list(axes)
    values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in axes.values()]
    return [SweepPoint(**dict(zip(names, combo))) for combo in itertools.product(*values)]


def run_point(point: SweepPoint, root: str) -> dict:
    """One sweep point, run in a worker: train (or not), export, then the estimate-only flow."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from hwkit.build import BuildConfig, build, default_flow
    from hwkit.train import TrainConfig, train_and_save

    out = Path(root) / point.name
    record = {"point": asdict(point), "name": point.name}
    try:
        cfg = TrainConfig(model=point.model, dataset=point.dataset, wbits=point.wbits, abits=point.abits,
                          ibits=point.ibits, epochs=point.epochs, seed=point.seed)
        trained = out / "model.json"
        metrics = (json.loads(trained.read_text()) if trained.is_file()
                   else train_and_save(cfg, out / "model.pt", progress=False))
        flow = default_flow()
        flow[:] = [stage for stage in flow if stage.name in ESTIMATE_STAGES]
        ctx = build(BuildConfig(model=str(out / "model.onnx"), board=point.board, backend="rtl",
                                target_fps=point.target_fps, dataset=point.dataset, out=str(out / "build")),
                    flow=flow)
        golden, est = ctx.results["golden_sim"], ctx.results["estimate"]
        record.update(status="ok", test_accuracy=metrics["test_accuracy"],
                      accuracy_golden=golden.get("accuracy_golden"), ii_cycles=golden.get("ii_cycles"),
                      latency_cycles=golden.get("latency_cycles"), **{k: est["total"][k] for k in
                                                                        ("lut", "ff", "bram", "dsp")},
                      utilization=est["utilization"])
    except HwkitError as err:  # e.g. does not fit: a result of the sweep, not a crash
        record.update(status=type(err).__name__, error=str(err))
    return record


def sweep(points: list[SweepPoint], root: str | Path, scheduler: Optional[str] = None,
          n_workers: int = 2, progress: bool = True) -> list[dict]:
    """Run every point on dask; results come back in the order of ``points``."""
    from dask.distributed import Client, LocalCluster, as_completed

    root = str(Path(root).resolve())
    Path(root).mkdir(parents=True, exist_ok=True)
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(run_point, p, root, key=f"hwkit-{p.name}", pure=False) for p in points]
        if progress:
            from rich.progress import Progress

            with Progress() as bar:
                task = bar.add_task("sweep", total=len(futures))
                for _ in as_completed(futures):
                    bar.advance(task)
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    write_json(Path(root) / "sweep.json", results)
    return results


def pareto_plot(results: list[dict], path: str | Path) -> Path:
    """Accuracy against LUTs, one marker per board: the usual trade-off picture of a sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ok = [r for r in results if r["status"] == "ok"]
    for board in sorted({r["point"]["board"] for r in ok}):
        rows = [r for r in ok if r["point"]["board"] == board]
        ax.scatter([r["lut"] for r in rows], [r["accuracy_golden"] for r in rows], label=board)
        for r in rows:
            ax.annotate(f"W{r['point']['wbits']}A{r['point']['abits']}", (r["lut"], r["accuracy_golden"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("estimated LUTs")
    ax.set_ylabel("test accuracy (golden model)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
