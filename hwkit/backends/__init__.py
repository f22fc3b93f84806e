"""The backend registry: the one place that maps a backend's name to its code.

Modules are imported when a backend is asked for, so a build with one backend never needs another
backend's optional packages; a missing package is a one-line ToolMissingError naming the pip extra.
"""
from __future__ import annotations

# name -> "module:class" of its hwkit.backends.base.Backend
BACKENDS = {
    "rtl": "hwkit.backends.rtl.backend:RtlBackend",
    "hls4ml": "hwkit.backends.hls4ml.backend:Hls4mlBackend",
    "finn": "hwkit.backends.finn_backend:FinnBackend",
}


def get_backend(name: str):
    """An instance of the backend called ``name`` (ConfigError naming the choices if unknown)."""
    from hwkit.backends.base import require
    from hwkit.errors import ConfigError

    if name not in BACKENDS:
        raise ConfigError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return require(module, cls)()


def estimate_graph(graph, board, backend: str = "rtl", *, clock_mhz=None) -> dict:
    """Per-layer estimates and totals as backend ``backend`` costs its hardware:
    ``{'layers': [rows], 'wrapper': row or None, 'total': {...}, 'available': {...}, 'utilization': {...},
    'method': ...}``. The total includes the wrapper (hwkit.estimate holds the cost models)."""
    return get_backend(backend).estimate(graph, board, clock_mhz)
