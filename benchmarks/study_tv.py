"""TV smoothing in software: outlier ratio and quantized accuracy of a small stable CNN with and
without a TV step after each block (hwkit.study.tv), plus whether hwkit.ir.lower accepts it.

    OMP_NUM_THREADS=1 python benchmarks/study_tv.py --dataset digits --bits 2,3 --seeds 0,1,2 --epochs 10 \
        --out benchmarks/results_stability
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--bits", default="2,3")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results_stability"))
    a = p.parse_args(argv)
    from hwkit.study.tv import run_tv

    run_tv(a.out, a.dataset, tuple(int(b) for b in a.bits.split(",")), tuple(int(s) for s in a.seeds.split(",")),
           a.epochs, log=lambda m: print(m, flush=True))
    print((a.out / "tv_results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
