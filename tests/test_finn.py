"""FINN backend end to end, through .venv-finn: estimate builds of zoo models, FINN's graphs run
with FINN's python execution against the reference, a corrupted step caught and named, folding,
and the vendor-tool switch. Skipped when .venv-finn does not exist."""
import json
import shutil
import warnings
from pathlib import Path

import pytest

from hwkit.backends.finn import finn_build
from hwkit.backends.finn_env import CREATE_CMD, default_venv, finn_env_available
from hwkit.backends.finn_verify import KEY_STEPS, cppsim_requirements, verify_finn_build
from hwkit.errors import BuildFailedError

pytestmark = pytest.mark.skipif(
    not finn_env_available(), reason=f"FINN venv {default_venv()} missing: create it with `{CREATE_CMD}`")

# name -> (zoo model, wbits, abits): the zoo MLPs at 1, 2 and 4 bits and the small CNN
MODELS = {"tfc_w1a1": ("tfc", 1, 1), "tfc_w2a2": ("tfc", 2, 2), "tfc_w4a4": ("tfc", 4, 4),
          "cnv_w2a2": ("cnv", 2, 2)}
N_FAST = {"tfc_w1a1": 1000, "tfc_w2a2": 1000, "tfc_w4a4": 1000, "cnv_w2a2": 300}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("finn")


@pytest.fixture(scope="module")
def qonnx_models(work):
    import torch

    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    paths = {}
    for name, (zoo, w, a) in MODELS.items():
        torch.manual_seed(0)
        model = build_model(zoo, wbits=w, abits=a, in_shape=(1, 8, 8))
        model.train()
        with torch.no_grad():  # a few batches so batch-norm statistics are not the identity
            for _ in range(3):
                model(torch.rand(32, 1, 8, 8))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_qonnx(model.eval(), (1, 8, 8), work / f"{name}.onnx")
        paths[name] = work / f"{name}.onnx"
    return paths


@pytest.fixture(scope="module")
def builds(work, qonnx_models):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = finn_build(qonnx_models[name], work / f"build_{name}", board="pynq-z1",
                                     target_fps=50000, path=str(work))  # no vendor tools on this PATH
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_estimate_reports_produced_and_imported(builds, name):
    res = builds(name)
    assert res["flow"] == "estimate" and "vivado" in res["skipped"]
    assert res["part"] == "xc7z020clg400-1" and res["clock_mhz"] == 100.0
    steps = [s["step"] for s in res["steps"]]
    assert steps[0] == "step_qonnx_to_finn" and steps[-1] == "step_generate_estimate_reports" and len(steps) == 11
    est = res["estimate"]
    mvaus = {k: v for k, v in est["layers"].items() if k.startswith("MVAU")}
    assert len(mvaus) == (4 if name.startswith("tfc") else 6)
    for layer in est["layers"].values():
        assert {"LUT", "BRAM_18K", "URAM", "DSP", "cycles", "folding"} <= set(layer)
    assert est["total"]["LUT"] > 0
    perf = est["performance"]
    assert perf["max_cycles"] == max(v["cycles"] for v in est["layers"].values())
    assert perf["throughput_fps"] == pytest.approx(res["clock_mhz"] * 1e6 / perf["max_cycles"])
    if name.startswith("tfc"):  # MVAU cycles follow (MH/PE)*(MW/SIMD) for the 64-64-64-10 layers
        for node, (mw, mh) in zip(mvaus, [(64, 64), (64, 64), (64, 64), (64, 10)]):
            fold = res["folding"][node]
            assert mvaus[node]["cycles"] == (mh // fold["PE"]) * (mw // fold["SIMD"])


@pytest.fixture(scope="module")
def build_ties_up(work, qonnx_models):
    """TFC W2A2 built with FINN's own ties-up thresholds: what the correction is measured against."""
    return finn_build(qonnx_models["tfc_w2a2"], work / "build_ties_up", board="pynq-z1", target_fps=50000,
                      path=str(work), exact_ties=False)


@pytest.mark.parametrize("name", MODELS)
def test_streamlined_and_hw_graphs_match_golden(builds, qonnx_models, name):
    """FINN's streamlined and HW-layer graphs equal the golden model bit for bit, ties included:
    the inputs must put accumulators on ties the golden model rounds down (FINN's own
    step_qonnx_to_finn rounds them up), except for W1A1 whose sign activations have no ties."""
    res = builds(name)
    assert res["ties"]["rounding"] == "exact" and not res["ties"]["skipped"]
    kwargs = {} if name.startswith("tfc") else {"steps": KEY_STEPS}  # all python steps for MLPs
    rep = verify_finn_build(qonnx_models[name], res["out_dir"], n=N_FAST[name], **kwargs)
    assert rep["reference"] == "hwkit golden model (hwkit.sim)" and rep["ok"], rep["explanation"]
    for step in KEY_STEPS:
        assert rep["steps"][step]["mismatches"] == 0, (step, rep["explanation"])
    assert rep["pairwise"]["step_streamline -> step_convert_to_hw"] == 0
    hits = sum(rep["golden_tie_hits"].values())
    if name == "tfc_w1a1":
        assert hits == 0 and res["ties"]["changed"] == 128  # only the 8-bit input quantizer's ties
    else:
        # ties reached on these inputs, and they change outputs: a ties-up FINN could not match
        assert hits > 100 and rep["reference_tie_elements"] > 0 and res["ties"]["changed"] > 0
    if name.startswith("tfc"):  # the steps before the correction keep FINN's ties-up conversion
        assert rep["steps"]["step_qonnx_to_finn"]["unexplained"] == 0


def test_ties_round_up_without_the_correction(builds, build_ties_up, qonnx_models):
    """The same TFC W2A2 built with exact_ties=False: its streamlined graph differs from golden
    exactly where ties are (it matches the model with ties rounded up); corrected, it does not."""
    assert build_ties_up["ties"] == {"rounding": "up", "changed": 0, "skipped": []}
    rep = verify_finn_build(qonnx_models["tfc_w2a2"], build_ties_up["out_dir"], n=500, steps=KEY_STEPS)
    assert sum(rep["golden_tie_hits"].values()) > 0
    for step in KEY_STEPS:
        assert rep["steps"][step]["mismatches"] > 0 and rep["steps"][step]["unexplained"] == 0
    assert rep["tie_step"] == "step_streamline" and rep["ok"] and not rep["bit_exact"]
    exact = verify_finn_build(qonnx_models["tfc_w2a2"], builds("tfc_w2a2")["out_dir"], n=500, steps=KEY_STEPS)
    assert exact["bit_exact"] and exact["golden_tie_hits"] == rep["golden_tie_hits"]


def test_float_inputs_on_input_quantizer_ties(builds, qonnx_models):
    """Float inputs exactly halfway between two codes of the 8-bit input grid: golden rounds half
    to even, FINN's input MultiThreshold rounds up unless its threshold moved to the next float32."""
    import numpy as np

    from hwkit.backends.finn_verify import golden_outputs

    rng = np.random.default_rng(1)
    x = ((rng.integers(0, 255, size=(300, 1, 8, 8)) + 0.5) / 256).astype(np.float32)
    q = qonnx_models["tfc_w4a4"]
    # the ties matter: one float32 step above them the golden outputs change
    assert (golden_outputs(q, x) != golden_outputs(q, np.nextafter(x, np.float32(1)))).any()
    exact = verify_finn_build(q, builds("tfc_w4a4")["out_dir"], x=x, steps=KEY_STEPS)
    assert exact["bit_exact"], exact["explanation"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_graphs_agree_on_10000_inputs(builds, qonnx_models, name):
    res = builds(name)
    rep = verify_finn_build(qonnx_models[name], res["out_dir"], n=10000, steps=KEY_STEPS)
    assert rep["inputs"] == 10000 and rep["bit_exact"], rep["explanation"]
    assert all(rep["steps"][step]["mismatches"] == 0 for step in KEY_STEPS)


def test_corrupted_step_is_caught_and_named(builds, qonnx_models, work):
    """Negate the weights of the second MVAU in FINN's HW-layer graph: the verification must name
    step_convert_to_hw and that node, and keep the steps before it clean."""
    from qonnx.core.modelwrapper import ModelWrapper

    src = Path(builds("tfc_w4a4")["out_dir"])
    bad_dir = work / "corrupted"
    shutil.copytree(src, bad_dir)
    path = bad_dir / "intermediate_models" / "step_convert_to_hw.onnx"
    model = ModelWrapper(str(path))
    target = model.get_nodes_by_op_type("MVAU")[1]
    model.set_initializer(target.input[1], -model.get_initializer(target.input[1]))
    model.save(str(path))
    rep = verify_finn_build(qonnx_models["tfc_w4a4"], bad_dir, n=300,
                            steps=("step_tidy_up", "step_streamline", "step_convert_to_hw"))
    assert not rep["ok"]
    assert rep["first_failing_step"] == "step_convert_to_hw"
    assert rep["steps"]["step_streamline"]["unexplained"] == 0
    assert rep["steps"]["step_convert_to_hw"]["unexplained"] > 0
    assert rep["layer"]["node"] == target.name and rep["layer"]["compared_with"] == "step_streamline"
    assert rep["pairwise"]["step_streamline -> step_convert_to_hw"] > 0


def test_folding_from_hwkit_order_and_from_finn_config(qonnx_models, work):
    """PE/SIMD per layer in graph order (hwkit's cycle model) and FINN's folding-config JSON both
    reach FINN: the estimate's cycles follow MH/PE * MW/SIMD for the 64-64-64-10 TFC."""
    order = [{"PE": 4, "SIMD": 8}, {"PE": 8, "SIMD": 4}, {"PE": 2, "SIMD": 16}, {"PE": 1, "SIMD": 2}]
    res = finn_build(qonnx_models["tfc_w2a2"], work / "fold_order", part="xc7z020clg400-1", clock_mhz=125,
                     folding=order, path=str(work))
    mvaus = [n for n in res["folding"] if n.startswith("MVAU")]
    shapes = [(64, 64), (64, 64), (64, 64), (64, 10)]  # (MW, MH) per layer
    for node, fold, (mw, mh) in zip(mvaus, order, shapes):
        assert (res["folding"][node]["PE"], res["folding"][node]["SIMD"]) == (fold["PE"], fold["SIMD"])
        assert res["estimate"]["layers"][node]["cycles"] == (mh // fold["PE"]) * (mw // fold["SIMD"])
    assert res["clock_mhz"] == 125 and res["folding_source"] == "config"
    cfg = {node: {"PE": 2, "SIMD": 2} for node in mvaus}
    res2 = finn_build(qonnx_models["tfc_w2a2"], work / "fold_cfg", part="xc7z020clg400-1", folding=cfg,
                      path=str(work))
    for node, (mw, mh) in zip(mvaus, shapes):
        assert res2["estimate"]["layers"][node]["cycles"] == (mh // 2) * (mw // 2)


def test_full_flow_taken_when_vendor_tools_are_on_path(qonnx_models, work, monkeypatch):
    """Stand-in vivado/vitis_hls that record their call and fail: the full step list must run up
    to the first vendor step and fail there, naming it."""
    bin_dir = work / "fake" / "Xilinx" / "Vivado" / "2024.2" / "bin"
    bin_dir.mkdir(parents=True)
    calls = work / "fake" / "calls.txt"
    for tool in ("vivado", "vitis_hls"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n'
                                    f'echo "FAKE {tool}: not a real AMD tool" >&2\nexit 3\n')
        (bin_dir / tool).chmod(0o755)
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    with pytest.raises(BuildFailedError, match="step_generate_hardware"):
        finn_build(qonnx_models["tfc_w2a2"], work / "full", board="pynq-z1", target_fps=50000,
                   path=f"{bin_dir}:/usr/bin:/bin")
    assert calls.is_file() and "vitis_hls" in calls.read_text()
    record = json.loads((work / "full" / "hwkit_finn_build.json").read_text())
    assert record["flow"] == "full" and record["skipped"] is None
    assert any("XSI" in note for note in record["notes"])


def test_cppsim_tier(builds, qonnx_models):
    need, reason = cppsim_requirements()
    if need is None:
        pytest.skip(reason)
    from hwkit.backends.finn_verify import make_inputs, verify_cppsim

    x, _ = make_inputs(qonnx_models["tfc_w2a2"], 50)
    res = verify_cppsim(qonnx_models["tfc_w2a2"], builds("tfc_w2a2")["out_dir"], x)
    assert res["mismatches"] == 0
