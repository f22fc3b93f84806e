"""The layer-kind registry (hwkit.kinds): every kind has every entry, every layer class is registered,
and every Verilog block a kind claims exists in hls/rtl."""
from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from hwkit import kinds
from hwkit.ir import graph as irg
from hwkit.ir.types import IntType
from hwkit.resources import rtl_dir


def _all_layer_classes(cls=irg.Layer):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_layer_classes(sub)


@pytest.mark.parametrize("module", kinds.modules(), ids=lambda m: m.__name__.rpartition(".")[2])
def test_every_kind_has_every_entry(module):
    assert kinds.missing_entries(module) == []
    assert issubclass(module.LAYER, irg.Layer)
    assert dataclasses.is_dataclass(module.LAYER) and module.LAYER.__dataclass_params__.frozen


def test_every_layer_class_is_registered():
    registered = set(kinds.layer_classes())
    assert {c for c in _all_layer_classes() if c.__module__.startswith("hwkit.")} <= registered
    assert len(registered) == len(kinds.modules())


def test_a_kind_missing_an_entry_is_reported():
    full = kinds.by_name("ShiftRound")
    broken = types.ModuleType("broken_kind")
    broken.__dict__.update({k: v for k, v in vars(full).items() if k != "cycles"})
    assert kinds.missing_entries(broken) == ["cycles"]
    broken.cycles = 3
    assert kinds.missing_entries(broken) == ["cycles (not callable)"]
    host = types.ModuleType("host_kind")
    host.__dict__.update(vars(kinds.by_name("FloatTail")))
    host.emit = lambda b, layer: None
    assert kinds.missing_entries(host) == ["emit (a host-side kind sets it to None)"]


def test_blocks_exist_in_the_verilog_library():
    blocks = kinds.block_costs()
    assert {"hk_mvu", "hk_thresh", "hk_shiftround", "hk_swg", "hk_pool", "hk_add"} <= set(blocks)
    for name in blocks:
        text = (rtl_dir() / f"{name}.v").read_text()
        assert f"module {name}" in text


def test_unregistered_kind_is_named():
    @dataclasses.dataclass(frozen=True, eq=False)
    class Mystery(irg.Layer):
        pass

    with pytest.raises(KeyError, match="Mystery is not registered"):
        kinds.kind_of(Mystery("m", ("a",), ("b",)))


def test_type_rules_agree_with_golden_execution():
    """Each hardware kind's output_range contains what its execute produces on extreme inputs."""
    from hwkit.sim.core import Run
    from hwkit.sim.schedule import Schedule
    from hwkit.kinds.mvu_conv import Arena

    t_in = IntType(4, True)
    s_in = irg.Stream("x", (2, 2, 3), t_in)
    layers = [
        irg.MVU("m", ("x",), ("y",), weights=np.array([[1, -2, 3], [-4, 5, -6]]), wtype=IntType(4, True)),
        irg.ShiftRound("s", ("x",), ("y",), shift=1, lo=-3, hi=3),
        irg.Pool("p", ("x",), ("y",), mode="avg", kernel=(2, 2), stride=(2, 2), shift=2),
        irg.Threshold("t", ("x",), ("y",), thresholds=np.array([[-1, 0, 2]]), base=0),
        irg.SlidingWindow("w", ("x",), ("y",), kernel=(2, 2), pad=(1, 1, 1, 1), pad_value=-9),
    ]
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full((1, 2, 2, 3), t_in.min), np.full((1, 2, 2, 3), t_in.max),
                        rng.integers(t_in.min, t_in.max + 1, (30, 2, 2, 3))])
    for layer in layers:
        k = kinds.kind_of(layer)
        streams = {"x": s_in, "y": irg.Stream("y", (1,), IntType(3, False))}
        lo, hi = k.output_range(layer, streams)
        out_t = IntType.for_range(min(lo, 0), max(hi, 0))
        streams["y"] = irg.Stream("y", (1,), out_t)
        g = types.SimpleNamespace(streams=streams)
        y = k.execute(layer, [x.astype(np.int64)], Run(g, Schedule(), Arena(), t_in, out_t))
        assert lo <= y.min() and y.max() <= hi, layer.kind
