"""Classify a data set on a board (or its simulation) through the UART driver, checked against the
golden simulator: what ``hwkit board-run`` prints."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.errors import ConfigError
from hwkit.implement.wrapper import DEFAULT_BAUD


def classify(port: str, core_json: Path, model: Optional[Path] = None, dataset: str = "digits",
             n: int = 0, baud: int = DEFAULT_BAUD) -> dict:
    """Without ``model``: the board's info. With it: the test set quantized on the model's input grid,
    sent to the board, compared element by element with the golden simulator, and the accuracy."""
    from hwkit.driver.device import Device

    core_json = Path(core_json)
    if not core_json.is_file():
        raise ConfigError(f"core.json not found: {core_json}")
    desc = json.loads(core_json.read_text())
    with Device(port, baud=baud, timeout=5.0, core=desc) as dev:
        info = dev.info
        result = {"port": port, "in": f"{info.in_elems} x {info.in_bits}-bit", "out": f"{info.out_elems} x "
                  f"{info.out_bits}-bit", "window": info.window, "errors": info.error_text()}
        if model is None:
            return result
        import hwkit.ir as ir
        from hwkit.data import load_dataset
        from hwkit.sim import simulate
        from hwkit.verify import class_predictions

        graph = ir.lower(str(model))
        ds = load_dataset(dataset)
        x, y_true = (ds.x_test[:n], ds.y_test[:n]) if n else (ds.x_test, ds.y_test)
        x_int = ir.quantize_input(graph, x)
        golden = np.asarray(simulate(graph, x_int).outputs[desc["out"]["stream"]])
        t0 = time.monotonic()
        y = dev.infer_many(x_int.reshape((len(x_int),) + tuple(desc["in"]["shape"]))).reshape(golden.shape)
        seconds = time.monotonic() - t0
    flat = y.reshape(len(y), -1)
    result.update({
        "samples": len(y), "seconds": round(seconds, 2), "samples_per_second": round(len(y) / seconds, 1),
        "mismatches_vs_golden": int(np.sum(y != golden)),
        "accuracy": round(float(np.mean(class_predictions(graph, flat) == y_true)), 4),
        "golden_accuracy": round(float(np.mean(class_predictions(graph, golden) == y_true)), 4),
    })
    return result
