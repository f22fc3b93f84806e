"""What is not hardware, kept explicit: ``y = x * scale + offset``, then optional softmax/sigmoid, run
on the host in float64 on the integers the accelerator emits."""
from __future__ import annotations

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import FloatTail

LAYER = FloatTail
HARDWARE = False
STREAM_ALIAS = False
blocks_sample = False
BLOCKS: dict = {}
# host-side: none of the hardware entries apply
output_range = output_type = check = float_lane = reads = out_lanes = cycles = emit = tie = None


def execute(layer: FloatTail, ins, run) -> np.ndarray:
    y = ins[0].astype(np.float64) * np.asarray(layer.scale, dtype=np.float64) + \
        np.asarray(layer.offset, dtype=np.float64)
    for op in list(layer.ops) or (["softmax"] if layer.softmax else []):
        if op == "softmax":
            y = np.exp(y - y.max(axis=-1, keepdims=True))
            y = y / y.sum(axis=-1, keepdims=True)
        elif op == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-y))
        else:
            raise ConfigError(f"float tail op '{op}' of layer '{layer.name}' is unknown to the simulator")
    return y
