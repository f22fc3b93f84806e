"""Stable vs plain residual networks: per-block quantized-vs-float deviation, accuracy over seeds,
forward-stability numbers and estimated hardware cost (hwkit.study.stability).

Reduced grid measured for benchmarks/results_stability.md (one core each, 2 epochs):
    OMP_NUM_THREADS=1 python benchmarks/study_stability.py --datasets mnist,mnist1d --depths 2,4,8,16 \
        --bits 2,4 --seeds 0,1,2 --epochs 2 --out benchmarks/results_stability
    OMP_NUM_THREADS=1 python benchmarks/study_stability.py --datasets mnist --depths 2,4,8,16 \
        --bits 3,8 --seeds 0,1,2 --epochs 2 --out benchmarks/results_stability
Full grid of issue 14: --bits 2,3,4,8 on both datasets (and more epochs). Finished runs are kept in
<out>/runs.jsonl (key: form, dataset, kind, depth, bits, seed); rerunning the same command resumes. A run
writes results.md / compare.md / plots for its own grid only; --report-only rewrites them from every run
in runs.jsonl (do that last). The conv form (stable_cnv / residual_cnv, image datasets only):
    --form conv --datasets digits --depths 2,4,8 --bits 2,4 --seeds 0,1,2 --epochs 5 \
        --out benchmarks/results_stability/conv
A few points through Yosys (the rtl build up to synthesis; retrained with the study's config):
    --yosys mnist:stable:4:2,mnist:residual:4:2,mnist:stable:4:4,mnist:residual:4:4 --epochs 2 \
        --out benchmarks/results_stability
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mnist1d,mnist")
    p.add_argument("--depths", type=_ints, default=(2, 4, 8, 16))
    p.add_argument("--bits", type=_ints, default=(2, 3, 4, 8))
    p.add_argument("--seeds", type=_ints, default=(0, 1, 2))
    p.add_argument("--kinds", default="stable,stable_c,residual")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--board", default="ulx3s", help="board for the hardware estimate ('none' skips it)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results_stability"))
    p.add_argument("--report-only", action="store_true", help="no training: table and plots from <out>/runs.jsonl")
    p.add_argument("--form", default="mlp", help="mlp | conv")
    p.add_argument("--yosys", default="", help="only synthesize these points: dataset:kind:depth:bits[:form],...")
    p.add_argument("--build-root", type=Path, default=Path("build/study_stability_yosys"))
    a = p.parse_args(argv)
    import torch

    from hwkit.study.stability import report, run

    if a.yosys:
        from hwkit.study import synth

        synth.run(a.yosys.split(","), a.out, a.build_root, a.epochs, a.board, log=lambda m: print(m, flush=True))
        print((a.out / "yosys.md").read_text())
        return 0

    if a.report_only:
        res = report(a.out)
        print((a.out / "results.md").read_text())
        print("plots:", ", ".join(res["plots"]))
        return 0

    torch.set_num_threads(1)
    res = run(a.out, datasets=tuple(a.datasets.split(",")), depths=a.depths, bits=a.bits, seeds=a.seeds,
              kinds=tuple(a.kinds.split(",")), epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
              board=None if a.board == "none" else a.board, log=lambda m: print(m, flush=True), form=a.form)
    print((a.out / "results.md").read_text())
    print("plots:", ", ".join(res["plots"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
