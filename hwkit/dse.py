"""Design-space sweeps on dask.distributed: many small builds (train -> export -> lower -> golden
sim -> estimate), one per point of a grid of bit widths, throughput targets and boards.

Local by default (a ``LocalCluster`` of single-threaded worker processes); pass ``scheduler`` to
use an existing cluster. Each point writes its own build directory, so a sweep is as resumable
as a build: a rerun skips finished stages.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from hwkit.atomic import write_json
from hwkit.errors import ConfigError, HwkitError

ESTIMATE_STAGES = ("export", "lower", "golden_sim", "estimate")
SYNTH_STAGES = (*ESTIMATE_STAGES, "generate", "synthesize")
ROUTE_STAGES = (*SYNTH_STAGES, "place_route")


def widths_text(bits) -> str:
    """2 -> '2'; per-layer (2, 4, 2) -> '2-4-2' (names of points and directories)."""
    return "-".join(map(str, bits)) if isinstance(bits, (list, tuple)) else str(bits)


def fps_text(target) -> str:
    """A throughput target as names and labels spell it: 'default', 'max' or the number."""
    if target is None or target == "max":
        return "max" if target else "default"
    return str(int(target)) if float(target).is_integer() else f"{target:g}"


@dataclass(frozen=True)
class SweepPoint:
    model: str = "tfc"
    wbits: Union[int, tuple] = 2  # one width, or a tuple with one per layer (hwkit.zoo.layer_widths)
    abits: Union[int, tuple] = 2
    ibits: int = 8
    dataset: str = "digits"
    epochs: int = 10
    board: str = "ulx3s"
    target_fps: Union[float, str, None] = None  # samples/s; 'max': the fastest that fits; None: default folding
    seed: int = 0

    @property
    def train_name(self) -> str:
        """What the trained model depends on (not the board or folding)."""
        seed = f"-s{self.seed}" if self.seed else ""
        return (f"{self.model}-w{widths_text(self.wbits)}a{widths_text(self.abits)}i{self.ibits}-{self.dataset}"
                f"-e{self.epochs}{seed}")

    @property
    def name(self) -> str:
        fps = f"-fps{fps_text(self.target_fps)}" if self.target_fps else ""
        seed = f"-s{self.seed}" if self.seed else ""
        return (f"{self.model}-w{widths_text(self.wbits)}a{widths_text(self.abits)}i{self.ibits}-{self.dataset}"
                f"-e{self.epochs}-{self.board}{fps}{seed}")


def grid(**axes: Iterable) -> list[SweepPoint]:
    """The cartesian product of the given axes (each a list of SweepPoint field values)."""
    known = set(SweepPoint.__dataclass_fields__)
    unknown = sorted(set(axes) - known)
    if unknown:
        raise ConfigError(f"unknown sweep axis '{unknown[0]}' (axes: {', '.join(sorted(known))})")
    names = list(axes)
    values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in axes.values()]
    return [SweepPoint(**dict(zip(names, combo))) for combo in itertools.product(*values)]


def _one_thread() -> None:
    """Workers are single-threaded processes: torch's own thread pool would fight the other workers."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def train_point(point: SweepPoint, out: Path) -> dict:
    """QAT of ``point`` into ``out`` (model.pt/.onnx/.json); a finished training is read back, not redone."""
    from hwkit.train import TrainConfig, train_and_save

    _one_thread()
    trained = Path(out) / "model.json"
    if trained.is_file():
        return json.loads(trained.read_text())
    cfg = TrainConfig(model=point.model, dataset=point.dataset, wbits=point.wbits, abits=point.abits,
                      ibits=point.ibits, epochs=point.epochs, seed=point.seed)
    return train_and_save(cfg, Path(out) / "model.pt", progress=False)


def build_point(point: SweepPoint, model_onnx: Path, out: Path, stages: tuple = ESTIMATE_STAGES) -> dict:
    """The named stages of the default rtl flow for ``point``'s board and throughput target: the
    estimate (default), plus Yosys (SYNTH_STAGES) and nextpnr (ROUTE_STAGES) in the same build
    directory, so a later, longer flow reuses the finished stages. Returns the measured fields."""
    from hwkit.boards import load_board
    from hwkit.build import BuildConfig, build, default_flow

    _one_thread()
    flow = default_flow()
    flow[:] = [stage for stage in flow if stage.name in stages]
    ctx = build(BuildConfig(model=str(model_onnx), board=point.board, backend="rtl", target_fps=point.target_fps,
                            dataset=point.dataset, out=str(out)), flow=flow)
    golden, est = ctx.results["golden_sim"], ctx.results["estimate"]
    ii = golden.get("ii_cycles")
    clock = load_board(point.board).clock_mhz
    rec = dict(accuracy_golden=golden.get("accuracy_golden"), ii_cycles=ii, latency_cycles=golden.get("latency_cycles"),
               fps=clock * 1e6 / ii if ii else None, clock_mhz=clock, utilization=est["utilization"],
               **{k: est["total"][k] for k in ("lut", "ff", "bram", "dsp")})
    syn = ctx.results.get("synthesize") or {}
    if syn.get("total"):
        rec["synth"] = {k: syn["total"].get(k) for k in ("lut", "ff", "bram", "dsp")}
    pnr = ctx.results.get("place_route") or {}
    if "fmax_mhz" in pnr:
        rec["fmax_mhz"], rec["timing_met"] = pnr["fmax_mhz"], pnr.get("timing_met")
    return rec


def run_point(point: SweepPoint, root: str) -> dict:
    """One sweep point, run in a worker: train (or not), export, then the estimate-only flow."""
    out = Path(root) / point.name
    record = {"point": asdict(point), "name": point.name}
    try:
        metrics = train_point(point, out)
        built = build_point(point, out / "model.onnx", out / "build")
        record.update(status="ok", test_accuracy=metrics["test_accuracy"],
                      **{k: built[k] for k in ("accuracy_golden", "ii_cycles", "latency_cycles", "lut", "ff", "bram",
                                               "dsp", "utilization")})
    except HwkitError as err:  # e.g. does not fit: a result of the sweep, not a crash
        record.update(status=type(err).__name__, error=str(err))
    return record


@contextlib.contextmanager
def dask_client(scheduler: Optional[str] = None, n_workers: int = 2, processes: bool = True):
    """A client of the cluster at ``scheduler``, or of a local cluster of single-threaded workers
    (separate processes unless ``processes=False``) that is closed on exit."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def sweep(points: list[SweepPoint], root: str | Path, scheduler: Optional[str] = None,
          n_workers: int = 2, progress: bool = True) -> list[dict]:
    """Run every point on dask; results come back in the order of ``points``."""
    from dask.distributed import as_completed

    root = str(Path(root).resolve())
    Path(root).mkdir(parents=True, exist_ok=True)
    with dask_client(scheduler, n_workers) as client:
        futures = [client.submit(run_point, p, root, key=f"hwkit-{p.name}", pure=False) for p in points]
        if progress:
            from rich.progress import Progress

            with Progress() as bar:
                task = bar.add_task("sweep", total=len(futures))
                for _ in as_completed(futures):
                    bar.advance(task)
        results = client.gather(futures)
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
