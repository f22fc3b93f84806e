"""Golden simulator and cycle model of HwGraph."""
from hwkit.sim.core import SimResult, simulate
from hwkit.sim.cycles import cycles, layer_cycles

__all__ = ["SimResult", "simulate", "cycles", "layer_cycles"]
