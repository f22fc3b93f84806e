"""FINN's streamlined and HW-layer graphs against the golden model, with and without hwkit's tie
correction (issue 12, "FINN builds exact too").

    python benchmarks/bench_finn_ties.py [--models tfc_w1a1,tfc_w2a2,tfc_w4a4,cnv_w2a2] [--n 10000]
                                         [--n-cnn 10000] [--no-ties-up] [--out build/bench_finn_ties]

Inputs: ``n`` random inputs on the model's input grid (seed 0) plus the digits test set (360), the
zoo models' 8x8 data. Each model is built twice with FINN's estimate flow: exact_ties=True (hwkit's
correction, the default) and False (FINN's own ties-up thresholds). Needs .venv-finn. Writes
<out>/bench_finn_ties.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_finn import MODELS, export  # noqa: E402


def inputs(qonnx: Path, n: int) -> np.ndarray:
    from hwkit.backends.finn_verify import make_inputs
    from hwkit.data import load_dataset

    x, _ = make_inputs(qonnx, n, seed=0)
    test = load_dataset("digits").x_test.astype(np.float32)
    return np.concatenate([x, test.reshape((len(test),) + x.shape[1:])])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n", type=int, default=10000, help="random grid inputs per MLP")
    ap.add_argument("--n-cnn", type=int, default=10000, help="random grid inputs for the CNN")
    ap.add_argument("--no-ties-up", action="store_true", help="skip the uncorrected build")
    ap.add_argument("--out", type=Path, default=Path("build/bench_finn_ties"))
    args = ap.parse_args()

    from hwkit.backends.finn import finn_build
    from hwkit.backends.finn_verify import KEY_STEPS, verify_finn_build

    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        qonnx = export(name, args.out)
        x = inputs(qonnx, args.n_cnn if name.startswith("cnv") else args.n)
        results[name] = {}
        for label, exact in (("exact", True), ("ties_up", False)):
            if not exact and args.no_ties_up:
                continue
            res = finn_build(qonnx, args.out / f"build_{name}_{label}", board="pynq-z1", target_fps=50000,
                             exact_ties=exact)
            start = time.perf_counter()
            rep = verify_finn_build(qonnx, res["out_dir"], x=x, steps=KEY_STEPS)
            row = {"inputs": rep["inputs"], "thresholds_changed": res["ties"]["changed"],
                   "rounding": res["ties"]["rounding"], "golden_tie_hits": sum((rep["golden_tie_hits"] or {}).values()),
                   "reference_tie_elements": rep["reference_tie_elements"], "bit_exact": rep["bit_exact"],
                   "verify_seconds": round(time.perf_counter() - start, 1),
                   "steps": {s: {k: rep["steps"][s][k] for k in ("mismatches", "inputs_with_mismatch", "unexplained",
                                                                  "ms_per_input", "mode")} for s in KEY_STEPS}}
            results[name][label] = row
            print(f"{name:<9} {label:<8} {row['inputs']} inputs, rounding {row['rounding']} "
                  f"({row['thresholds_changed']} thresholds moved), golden tie hits {row['golden_tie_hits']}: "
                  + ", ".join(f"{s} {e['mismatches']} mismatches ({e['inputs_with_mismatch']} inputs, "
                              f"{e['ms_per_input']} ms/input {e['mode']})" for s, e in row["steps"].items())
                  + f"; verify {row['verify_seconds']} s", flush=True)
    (args.out / "bench_finn_ties.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out / 'bench_finn_ties.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
