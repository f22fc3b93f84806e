"""What `hwkit sim` does, kept out of cli.py so that it stays a thin shell (`hwkit verify` is hwkit.verify.run_verify)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hwkit.errors import ConfigError


def load_inputs(graph, path: Path) -> np.ndarray:
    """.npy of float model inputs (quantized like the model does) or integers on the input grid,
    both in the model's own (ONNX, channels-first) layout with a leading batch axis."""
    from hwkit.ir.inputs import quantize_input, to_stream

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"inputs file not found: {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"cannot read {path} as a .npy array: {e}") from None
    if x.ndim == 0 or x.dtype.kind not in "iuf":
        raise ConfigError(f"{path}: expected a numeric array with a batch axis, got {x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise ConfigError(f"{path}: the batch is empty (shape {x.shape}); give at least one input")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ConfigError(f"{path}: {int((~np.isfinite(x)).sum())} input values are NaN or infinite")
    prep = graph.input_prep
    if x.dtype.kind in "iu":
        shape = tuple(prep.onnx_shape)
        if x.shape[1:] != shape:
            raise ConfigError(f"{path}: integer inputs must have shape (N, {', '.join(map(str, shape))}), "
                              f"got {x.shape}")
        if x.min() < prep.qmin or x.max() > prep.qmax:
            raise ConfigError(f"{path}: integers outside the input grid [{prep.qmin}, {prep.qmax}]")
        return to_stream(graph, x.astype(np.int64))
    return quantize_input(graph, x)


def run_sim(model: Path, inputs: Path, out: Path | None, tail: bool = False) -> str:
    from hwkit.ir import lower
    from hwkit.sim import simulate

    graph = lower(model)
    x = load_inputs(graph, inputs)
    res = simulate(graph, x)
    (stream, y), = list(res.outputs.items())[:1]
    fo = graph.float_outputs.get(stream)
    fl = res.float_outputs.get(fo.name) if fo is not None else None
    msg = f"simulated {x.shape[0]} inputs: output {stream} {y.shape[1:]} ({graph.streams[stream].dtype})"
    if fl is not None and fl.ndim == 2:
        counts = np.bincount(fl.argmax(1), minlength=fl.shape[1])
        msg += f"; predicted classes {counts.tolist()}"
    if out is not None:
        try:
            np.save(out, fl if (tail and fl is not None) else y)
        except OSError as err:
            raise ConfigError(f"cannot write {out}: {err.strerror or type(err).__name__}") from None
        msg += f"; wrote {out}"
    return msg
