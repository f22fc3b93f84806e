"""The search driver: phases of points on dask, each finished point stored before the next is awaited."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from hwkit.dse import ROUTE_STAGES, SYNTH_STAGES, build_point, dask_client, fps_text, train_point, widths_text
from hwkit.errors import ConfigError, HwkitError
from hwkit.search import front as fr
from hwkit.search import space
from hwkit.search.store import Store


@dataclass(frozen=True)
class SearchConfig:
    model: str = "tfc"
    dataset: str = "digits"
    board: str = "ulx3s"
    ibits: int = 8
    wmenu: tuple = (1, 2, 3, 4)  # weight widths a layer may take
    amenu: tuple = (2, 3, 4)  # activation widths a layer may take
    fps: tuple = (None,)  # throughput targets (folding): samples/s, 'max' (the fastest that fits) or None (default)
    epochs: int = 5  # short QAT per candidate
    seeds: int = 3  # seeds for the front points (mean +- std)
    max_candidates: int = 24  # mixed candidates sampled from the pruned space
    tol: float = 0.01  # accuracy drop below which a layer counts as insensitive
    synth_points: int = 6  # front points confirmed by Yosys
    pnr_points: int = 2  # of those, routed by nextpnr for Fmax
    sensitivity: bool = True

    def check(self) -> "SearchConfig":
        space.layers(self.model)
        for name, menu in (("wmenu", self.wmenu), ("amenu", self.amenu)):
            if not menu or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 8 for b in menu):
                raise ConfigError(f"search {name} must list bit widths in 1..8, got {menu}")
        for f in self.fps:
            if not (f is None or f == "max" or (isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0)):
                raise ConfigError(f"search throughput targets are samples/s > 0, 'max' or None (default), got {f!r}")
        for name, lo in (("epochs", 0), ("seeds", 1), ("max_candidates", 0), ("synth_points", 0), ("pnr_points", 0)):
            if getattr(self, name) < lo:
                raise ConfigError(f"search {name} must be >= {lo}, got {getattr(self, name)}")
        return self


def run_task(phase: str, point, fps: tuple, root: str, stages: tuple = ()) -> dict:
    """One point in a worker: QAT of its widths and seed, then a build per throughput target (the
    estimate, or ``stages`` for Yosys/nextpnr). A design that does not fit is a result, not a crash."""
    root = Path(root)
    rec = {"phase": phase, "wbits": list(point.wbits), "abits": list(point.abits), "seed": point.seed,
           "epochs": point.epochs}
    start = time.monotonic()
    try:
        metrics = train_point(point, root / "train" / point.train_name)
        rec["test_accuracy"] = metrics["test_accuracy"]
        rec["train_seconds"] = metrics.get("train_seconds")
    except HwkitError as err:
        rec.update(status=type(err).__name__, error=str(err))
        return rec
    variants = []
    for target in fps:
        p = replace(point, target_fps=target)
        v = {"target_fps": target}
        try:
            v.update(status="ok", **build_point(p, root / "train" / point.train_name / "model.onnx",
                                                root / "build" / p.name, stages or ("export", "lower", "golden_sim",
                                                                                    "estimate")))
        except HwkitError as err:
            v.update(status=type(err).__name__, error=str(err))
        variants.append(v)
    rec.update(status="ok", variants=variants, seconds=round(time.monotonic() - start, 2))
    return rec


class _Stop(Exception):
    pass


@dataclass
class _Runner:
    client: object
    store: Store
    root: str
    task: Callable
    stop_after: Optional[int]
    deadline: Optional[float]
    bar: object = None
    bar_id: object = None
    computed: list = field(default_factory=list)

    def phase(self, jobs: list[tuple[str, str, object, tuple, tuple]]) -> None:
        """Run ``jobs`` (key, phase, point, fps, stages); keys already in the store are skipped."""
        from dask.distributed import as_completed

        unique = {}
        for j in jobs:  # one design reached twice (a sensitivity point that is also a candidate) runs once
            unique.setdefault(j[0], j)
        jobs = list(unique.values())
        todo = [j for j in jobs if j[0] not in self.store]
        if self.bar is not None:
            self.bar.update(self.bar_id, total=(self.bar.tasks[0].total or 0) + len(jobs),
                            advance=len(jobs) - len(todo))
        if not todo:
            return
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("budget")
        futures = {self.client.submit(self.task, ph, pt, fps, self.root, st, key=f"hwkit-search-{key}", pure=False): key
                   for key, ph, pt, fps, st in todo}
        done = as_completed(list(futures))
        for fut in done:
            key = futures[fut]
            self.store.add(key, {**fut.result(), "key": key})
            self.computed.append(key)
            if self.bar is not None:
                self.bar.advance(self.bar_id)
            over = self.deadline is not None and time.monotonic() > self.deadline
            if (self.stop_after is not None and len(self.computed) >= self.stop_after) or over:
                for f in futures:
                    f.cancel()
                raise _Stop("budget" if over else "stop_after")


def _key(kind: str, point, fps: tuple, stages: tuple = ()) -> str:
    """What a point's record depends on: its kind of work (train + estimate, more seeds, synthesis),
    widths, seed, board and throughput targets. Sensitivity and candidate points share the kind
    'point', so a design reached by both phases is one record."""
    targets = ",".join(fps_text(f) for f in fps)
    extra = f"-{stages[-1]}" if stages else ""
    return f"{kind}:{point.train_name}-{point.board}-fps[{targets}]{extra}"


def search(cfg: SearchConfig, out: str | Path, *, scheduler: Optional[str] = None, n_workers: int = 2,
           progress: bool = True, stop_after: Optional[int] = None, budget_s: Optional[float] = None,
           processes: bool = True, task: Callable = run_task, html: bool = True) -> dict:
    """Run (or resume) a search into ``out``: search.json, search.html, front.png. Returns the summary
    (``stopped`` says whether ``stop_after`` or the time budget ended it before the last phase)."""
    cfg.check()
    root = Path(out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root, _plain(asdict(cfg)))
    deadline = time.monotonic() + budget_s if budget_s else None
    stopped = None
    with dask_client(scheduler, n_workers, processes) as client:
        run = _Runner(client, store, str(root), task, stop_after, deadline)
        try:
            if progress:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
                              TimeElapsedColumn()) as bar:
                    run.bar, run.bar_id = bar, bar.add_task("search", total=0)
                    _phases(cfg, run)
            else:
                _phases(cfg, run)
        except _Stop as why:
            stopped = str(why)
    summary = summarize(cfg, store)
    summary.update(stopped=stopped, computed=run.computed)
    store.config = {**store.config, "summary": {k: v for k, v in summary.items() if k != "computed"}}
    store.save()
    if html:  # the plots take seconds: a caller that resumes in a loop may want only the JSON
        from hwkit.search.html import write_html

        write_html(root, summary, store.config)
    return summary


def _plain(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _phases(cfg: SearchConfig, run: _Runner) -> None:
    store = run.store
    sens = space.sensitivity_widths(cfg) if cfg.sensitivity else []
    first = cfg.fps[:1]
    jobs = []
    for label, w, a in sens:
        p = space.point(cfg, w, a)
        jobs.append((_key("point", p, first), "sensitivity", p, first, ()))
    run.phase(jobs)
    acc = {}
    for (label, _, _), job in zip(sens, jobs):
        acc[label] = store.points[job[0]].get("test_accuracy")
    drop = space.drops(cfg, acc) if sens else {}
    jobs = []
    for w, a in space.candidates(cfg, drop):
        p = space.point(cfg, w, a)
        jobs.append((_key("point", p, cfg.fps), "candidate", p, cfg.fps, ()))
    run.phase(jobs)
    # more seeds for the fronts (all designs, and uniform designs alone: the comparison needs both).
    # Seeds move means, and so the front: repeat until every front point has all its seeds. A resumed
    # search reaches the same fixed point and recomputes no finished point.
    while True:
        items = fr.rows(store.points)
        chosen = {(tuple(r["wbits"]), tuple(r["abits"])) for axis in fr.AXES for subset in
                  (items, [r for r in items if r["uniform"]]) for r in fr.pareto(subset, axis)}
        jobs = []
        for w, a in sorted(chosen):
            for seed in range(1, cfg.seeds):
                p = space.point(cfg, w, a, seed=seed)
                jobs.append((_key("seed", p, ()), "seed", p, (), ()))
        if all(j[0] in store for j in jobs):
            break
        run.phase(jobs)
    run.phase(synth_jobs(cfg, fr.rows(store.points)))


def synth_jobs(cfg: SearchConfig, items: list[dict]) -> list:
    """Up to ``synth_points`` points of the accuracy-LUT front, spread along it, through Yosys; the
    first ``pnr_points`` of them (the smallest and the largest first) through nextpnr too."""
    front = fr.pareto(items, "lut")
    n = min(cfg.synth_points, len(front))
    if n == 0:
        return []
    picks = sorted({round(i * (len(front) - 1) / max(1, n - 1)) for i in range(n)})
    order = sorted(picks, key=lambda i: (i not in (picks[0], picks[-1]), i))
    jobs = []
    for rank, i in enumerate(order):
        r = front[i]
        stages = ROUTE_STAGES if rank < cfg.pnr_points else SYNTH_STAGES
        p = space.point(cfg, r["wbits"], r["abits"], target_fps=r["target_fps"])
        jobs.append((_key("synth", p, (r["target_fps"],), stages), "synth", p, (r["target_fps"],), stages))
    return jobs


def summarize(cfg: SearchConfig, store: Store) -> dict:
    items = fr.rows(store.points)
    synth = []
    acc = {(tuple(r["wbits"]), tuple(r["abits"]), r["target_fps"]): r for r in items}
    for rec in store.records("synth"):
        for v in rec.get("variants", []):
            row = acc.get((tuple(rec["wbits"]), tuple(rec["abits"]), v.get("target_fps")), {})
            synth.append({"id": row.get("id") or f"W{widths_text(rec['wbits'])} A{widths_text(rec['abits'])}",
                          "accuracy": row.get("accuracy"), "status": v.get("status"), "error": v.get("error"),
                          "estimate": {k: v.get(k) for k in ("lut", "ff", "bram", "dsp")}, "synth": v.get("synth"),
                          "fmax_mhz": v.get("fmax_mhz"), "timing_met": v.get("timing_met"), "ii_cycles": v.get("ii_cycles")})
    accs = {}
    for label, w, a in space.sensitivity_widths(cfg) if cfg.sensitivity else []:
        key = _key("point", space.point(cfg, w, a), cfg.fps[:1])
        accs[label] = store.points.get(key, {}).get("test_accuracy")
    return {
        "points": len(store.points), "designs": len(items),
        "sensitivity": {"accuracy": accs, "drop": space.drops(cfg, accs) if accs else {}},
        "fronts": {axis: [r["id"] for r in fr.pareto(items, axis)] for axis in fr.AXES},
        "rows": items, "synth": sorted(synth, key=lambda s: s["estimate"]["lut"] or 0),
        "mixed_vs_uniform": fr.mixed_vs_uniform(items) if items else [],
    }
