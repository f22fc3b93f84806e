"""Golden simulator and cycle model of HwGraph."""
from hwkit.sim.core import SimResult, simulate

__all__ = ["SimResult", "simulate", "cycles"]


def cycles(graph):
    from hwkit.sim.cycles import cycles as _cycles

    return _cycles(graph)
