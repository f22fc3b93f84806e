"""FIFO sizing by simulation (hwkit.backends.rtl.fifos): peaks measured in Verilator, depths set to
peak + 1, and the result proved on stalled vectors with the II unchanged."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from hwkit.backends.rtl.cosim import cosimulate
from hwkit.backends.rtl.fifos import size_fifos
from hwkit.ir import fold, lower
from hwkit.ir.inputs import random_grid_inputs
from hwkit.zoo import build_model

from golden_helpers import activate_stable_blocks, export

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def residual_graph(tmp_path_factory):
    torch.manual_seed(0)
    model = activate_stable_blocks(build_model("residual_mlp", wbits=2, abits=2, arch={"depth": 2, "width": 16}))
    path = export(model, (1, 8, 8), tmp_path_factory.mktemp("fifo") / "res.onnx")
    return fold(lower(path))


@pytest.fixture(scope="module")
def sized(residual_graph, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sized")
    x = random_grid_inputs(residual_graph, 128, seed=1)
    return size_fifos(residual_graph, tmp / "core", x, n_check=2000, stall_percent=30), tmp


def test_sizing_keeps_every_cycle_and_proves_it(sized):
    s, tmp_path = sized
    assert s.check_vectors == 2000 and s.check_mismatches == 0
    assert s.ii_after == s.ii_before > 0 and s.latency_after == s.latency_before
    by_key = {f["key"]: f for f in s.fifos if f["key"]}
    branch = [f for k, f in by_key.items() if k.endswith("_branch")]
    assert branch, "the residual model has a branch FIFO"
    for f in by_key.values():
        assert f["after"] == (max(2, f["peak"] + 1) if f["peak"] < f["before"] else f["before"])
    assert s.bits_after < s.bits_before            # the heuristic depths were generous somewhere
    desc = json.loads((tmp_path / "core" / "core.json").read_text())
    for inst, f in ((f["instance"], f) for f in s.fifos if f["key"] and "." not in f["instance"]):
        assert desc["fifos"][inst] == f["after"]
    assert not any(p.name.startswith(".hwkit-fifo-") for p in tmp_path.iterdir())   # probe and proof cleaned up


@pytest.mark.slow
def test_too_shallow_branch_fifo_costs_throughput(residual_graph, sized, tmp_path):
    """The negative control: below the measured peak the II gets worse, so the peak is what it needs."""
    s, _ = sized
    x = random_grid_inputs(residual_graph, 128, seed=1)
    shallow = {f["key"]: 2 for f in s.fifos if f["key"] and f["key"].endswith("_branch") and f["peak"] > 3}
    if not shallow:
        pytest.skip("no branch FIFO holds more than 3 words in this model")
    res = cosimulate(residual_graph, x, tmp_path / "shallow", generate_first=True, fifo_depths=shallow)
    assert res.mismatches == 0
    assert res.ii_measured > s.ii_before


def test_block_ram_fifos_read_ahead_exactly(residual_graph, sized, tmp_path):
    """Every stream FIFO made deep enough for block RAM gets hk_fifo's read-ahead queue (BLOCK=1, the
    plan's choice by ram_in_bram): the core stays exact under stalls and keeps its II."""
    s, _ = sized
    deep = {f["key"]: 600 for f in s.fifos if f["key"]}
    x = random_grid_inputs(residual_graph, 300, seed=2)
    res = cosimulate(residual_graph, x, tmp_path / "deep", generate_first=True, fifo_depths=deep,
                     stall_in=30, stall_out=30, seed=3)
    assert res.mismatches == 0 and res.n == 300
    text = (tmp_path / "deep" / "hwkit_core.v").read_text()
    queues = re.findall(r"hk_fifo #\((.*?)\) u_fifo_", text, re.S)
    branches = re.findall(r"hk_add #\((.*?)\) u_", text, re.S)
    assert sum(".BLOCK(1)" in p for p in queues) + sum(".BBLOCK(1)" in p for p in branches) == len(deep) > 0
    assert branches, "the residual model has branch FIFOs inside hk_add"
    free = cosimulate(residual_graph, x[:64], tmp_path / "deep")
    assert free.mismatches == 0 and free.ii_measured == s.ii_before
