"""Sweeps on a real local dask cluster: every point is a real (small) train + estimate build."""
import json

import pytest

from hwkit.dse import SweepPoint, grid, pareto_plot, run_point, sweep
from hwkit.errors import ConfigError


def test_grid_is_the_cartesian_product():
    points = grid(model="tfc", wbits=[1, 2, 4], abits=[2, 3], board=["ulx3s"])
    assert len(points) == 6 and len({p.name for p in points}) == 6
    with pytest.raises(ConfigError, match="unknown sweep axis 'bits'"):
        grid(bits=[1])


def test_point_that_does_not_fit_is_a_result_not_a_crash(tmp_path):
    rec = run_point(SweepPoint(model="lfc", wbits=4, abits=4, epochs=0, board="icebreaker"), str(tmp_path))
    assert rec["status"] == "DoesNotFitError" and "icebreaker" in rec["error"].lower()


def test_sweep_on_local_dask_cluster(tmp_path):
    points = grid(model="tfc", wbits=[1, 4], abits=[2], epochs=[2], board=["ulx3s"])
    results = sweep(points, tmp_path, n_workers=2, progress=False)
    assert [r["name"] for r in results] == [p.name for p in points]
    for r in results:
        assert r["status"] == "ok", r
        assert 0.3 < r["accuracy_golden"] <= 1.0 and r["lut"] > 0 and r["ii_cycles"] > 0
    # the golden model of each point agrees with that point's own software accuracy
    for r in results:
        assert r["accuracy_golden"] == pytest.approx(r["test_accuracy"], abs=1e-9)
    assert json.loads((tmp_path / "sweep.json").read_text()) == results
    assert pareto_plot(results, tmp_path / "p.png").stat().st_size > 1000
