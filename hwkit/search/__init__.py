"""Mixed-precision search: per-layer weight/activation widths and folding for one board.

Phases, each a set of points run on dask.distributed (hwkit.dse's client and build steps):
sensitivity (each layer alone at the lowest width) -> candidates (the uniform grid and a sample of
the space the sensitivity pass pruned, each at every throughput target) -> seeds (the Pareto front
points and the uniform front retrained with more seeds) -> synth (front points through Yosys, a few
through nextpnr). Every finished point is appended to ``search.json`` at once (atomically), so a
killed search resumes from its finished points; ``search.html`` shows the fronts.
"""
from hwkit.search.run import SearchConfig, search  # noqa: F401
