"""Time QAT of the default model (W2A2 TFC on digits), single-threaded, and record accuracy.

Acceptance (issue 2): >= 95 % test accuracy, <= 60 s of training on 2 cores.
Usage: OMP_NUM_THREADS=1 python benchmarks/bench_train.py [--out benchmarks/results/train.json]
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from hwkit.pretrained import CONFIGS  # noqa: E402
from hwkit.train import TrainConfig, train  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/train.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "torch": torch.__version__, "threads": torch.get_num_threads()}}
    for name, cfg in CONFIGS.items():
        start = time.perf_counter()
        _, _, metrics = train(TrainConfig(**cfg), progress=False)
        wall = time.perf_counter() - start
        results[name] = {"test_accuracy": metrics["test_accuracy"], "train_seconds": metrics["train_seconds"],
                         "wall_seconds_incl_data_and_eval": round(wall, 2)}
        print(f"{name:22s} test acc {metrics['test_accuracy']:.4f}  training {metrics['train_seconds']:.1f} s"
              f"  (wall {wall:.1f} s)")
    ok = results["tfc_w2a2_digits"]["test_accuracy"] >= 0.95 and results["tfc_w2a2_digits"]["train_seconds"] <= 60
    results["acceptance_default_model"] = ok
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print("acceptance (>= 95 %, <= 60 s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
