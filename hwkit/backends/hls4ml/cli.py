"""`hwkit cosim --backend hls4ml`: one summary line, MismatchError on any difference."""
from __future__ import annotations

from pathlib import Path

from hwkit.errors import ConfigError, MismatchError


def run_cosim(model: Path, backend: str, n: int, io: str, hls_backend: str, dataset, out: Path,
              approximate: bool) -> str:
    if backend != "hls4ml":
        raise ConfigError(f"cosim supports --backend hls4ml here; for '{backend}' use `hwkit build --backend {backend}`")
    if not Path(model).is_file():
        raise ConfigError(f"model file '{model}' not found")
    from hwkit.backends.hls4ml import cosim_hls4ml

    x = None
    if dataset:
        from hwkit.data import load_dataset

        x = load_dataset(dataset).x_test
    rep = cosim_hls4ml(model, out, n=n, x=x, io_type=io, backend=hls_backend, approximate=approximate)
    line = (f"hls4ml {rep['backend']} {rep['io_type']}: {rep['mismatches']} mismatches over {rep['samples']} inputs "
            f"vs {rep['reference'].split(' (')[0]}; C-sim {rep['hls_samples_per_s']:.0f} samples/s "
            f"(compile {rep['compile_seconds']:.1f} s{', cached' if rep['compile_cached'] else ''}); project {out}")
    if rep["mismatches"] and not approximate:
        raise MismatchError(f"{line}; {rep['detail'][:300]}")
    return line
