"""Small pretrained models shipped in the package, with the accuracy they reached beside them.

Each name has ``<name>.pt`` (checkpoint), ``<name>.onnx`` (QONNX, batch 1) and ``<name>.json``
(training config and measured accuracy). ``python -m hwkit.pretrained.rebuild`` retrains them all
deterministically from the configs below.
"""
from __future__ import annotations

import json
from pathlib import Path

from hwkit.errors import ConfigError

HERE = Path(__file__).parent
DEFAULT_MODEL = "tfc_w2a2_digits"

CONFIGS = {
    "tfc_w2a2_digits": dict(model="tfc", dataset="digits", wbits=2, abits=2, ibits=8, epochs=30),
    "stable_w4a4_digits": dict(model="stable_mlp", dataset="digits", wbits=4, abits=4, ibits=8,
                               epochs=40, anneal_every=4),
}


def _path(name: str, suffix: str) -> Path:
    if name not in CONFIGS:
        raise ConfigError(f"unknown pretrained model '{name}': choose one of {', '.join(CONFIGS)}")
    return HERE / f"{name}{suffix}"


def qonnx_path(name: str = DEFAULT_MODEL) -> Path:
    return _path(name, ".onnx")


def checkpoint_path(name: str = DEFAULT_MODEL) -> Path:
    return _path(name, ".pt")


def info(name: str = DEFAULT_MODEL) -> dict:
    return json.loads(_path(name, ".json").read_text())


def rebuild(names=None) -> dict:
    from hwkit.train import TrainConfig, train_and_save

    results = {}
    for name in names or CONFIGS:
        result = train_and_save(TrainConfig(**CONFIGS[name]), checkpoint_path(name))
        result["checkpoint"], result["qonnx"] = f"{name}.pt", f"{name}.onnx"
        result.pop("train_seconds")  # machine-dependent; benchmarks/ measures it
        _path(name, ".json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        results[name] = result
    return results

