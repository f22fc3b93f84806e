"""hls4ml takes its per-layer configuration from the HwGraph by layer name: reuse factors from the
folding of the same-named MVU, precisions from the same-named layers' types; a layer without a
same-named HwGraph layer, or a type that disagrees with hls4ml's own view, is an error naming it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("hls4ml")
pytest.importorskip("torch")

from hwkit.backends.hls4ml import cosim_hls4ml, generate_hls4ml_project, reuse_from_folding  # noqa: E402
from hwkit.backends.hls4ml.precision import grid_of  # noqa: E402
from hwkit.errors import MismatchError, UnsupportedModelError  # noqa: E402
from hwkit.ir import IntType, fold, lower  # noqa: E402


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    from test_hls4ml import _export

    return _export("tfc", tmp_path_factory.mktemp("names"))


def _matrix_layers(proj):
    return [lay for lay in proj.model.get_layers() if lay.name in proj.hw_names]


FOLDING = {"Gemm_0": (8, 32), "Gemm_1": (16, 4), "Gemm_2": (4, 4), "Gemm_3": (10, 16)}


def test_reuse_factor_is_the_same_named_mvus_folding(tfc, tmp_path):
    """Every MVU folded differently, and the graph's layers handed over in reverse order: only a match
    by name puts each reuse factor on its layer (a match by list position would reverse them)."""
    g = fold(lower(tfc), overrides=FOLDING)
    rf = reuse_from_folding(g)
    assert len(set(rf.values())) == len(rf) == 4, rf  # all differ: a wrong match cannot pass unseen
    backwards = replace(g, layers=tuple(reversed(g.layers)))
    proj = generate_hls4ml_project(tfc, tmp_path / "prj", graph=backwards, reuse_factor="folding", write=False)
    got = {lay.name: int(lay.get_attr("reuse_factor")) for lay in _matrix_layers(proj)}
    assert len(got) == 4 and {proj.hw_names[k]: v for k, v in got.items()} == rf
    assert [got[lay.name] for lay in _matrix_layers(proj)] == [rf[n] for n in ("Gemm_0", "Gemm_1", "Gemm_2", "Gemm_3")]


def test_folded_project_bit_exact(tfc, tmp_path):
    g = fold(lower(tfc), overrides=FOLDING)
    proj = generate_hls4ml_project(tfc, tmp_path / "prj", graph=g, reuse_factor="folding")
    rep = cosim_hls4ml(tfc, proj.out_dir, n=300, seed=3, project=proj)
    assert rep["mismatches"] == 0, rep["detail"]
    assert sorted(set(proj.reuse.values())) == sorted(set(reuse_from_folding(g).values()))


def test_precisions_are_the_same_named_layers_types(tfc, tmp_path):
    g = lower(tfc)
    proj = generate_hls4ml_project(tfc, tmp_path / "prj", graph=g, write=False)
    for lay in _matrix_layers(proj):
        mvu = g.layer(proj.hw_names[lay.name])
        acc = g.streams[mvu.outputs[0]]
        want = grid_of(mvu.acc, acc.scale, mvu.name).fixed()
        got = lay.types["accum_t"].precision
        assert (got.width, got.integer, got.signed) == (want.width, want.integer, want.signed), lay.name
        w = lay.weights["weight"].type.precision
        assert (w.width, w.signed) == (mvu.wtype.bits, mvu.wtype.signed), lay.name


def test_quantizer_type_mismatch_detected(tfc, tmp_path):
    """The HwGraph says one requantization is 3 bits wide; hls4ml's quantizer (from the QONNX) says 2."""
    g = lower(tfc)
    sr = g.layer("Quant_10")
    st = g.streams[sr.outputs[0]]
    bad = g.replace_streams(replace(st, dtype=IntType(3, False)))
    want = r"hls4ml layer 'Relu_1'.*quantizer's type.*ufixed<2,0.*ufixed<3,1.*'Quant_10'"
    with pytest.raises(MismatchError, match=want):
        generate_hls4ml_project(tfc, tmp_path / "prj", graph=bad, write=False)


def test_weight_type_mismatch_detected(tfc, tmp_path):
    g = lower(tfc)
    mvu = g.layer("Gemm_1")
    bad = g.replace_layers(replace(mvu, wtype=IntType(1, True)))
    with pytest.raises(MismatchError, match=r"hls4ml layer 'Dense_MatMul_1': its weight values do not fit"):
        generate_hls4ml_project(tfc, tmp_path / "prj", graph=bad, write=False)


def test_bias_mismatch_detected(tfc, tmp_path):
    g = lower(tfc)
    mvu = g.layer("Gemm_0")
    bad = g.replace_layers(replace(mvu, bias=np.zeros_like(mvu.bias)))
    with pytest.raises(MismatchError, match=r"'Dense_MatMul_0': its bias values do not fit"):
        generate_hls4ml_project(tfc, tmp_path / "prj", graph=bad, write=False)


def test_layer_without_same_named_hwgraph_layer_refused(tfc, tmp_path):
    g = lower(tfc)
    renamed = replace(g, layers=tuple(replace(lay, name="Renamed") if lay.name == "Gemm_1" else lay
                                      for lay in g.layers))
    with pytest.raises(UnsupportedModelError) as err:
        generate_hls4ml_project(tfc, tmp_path / "prj", graph=renamed, write=False)
    msg = str(err.value)
    assert "\n" not in msg and "'Dense_MatMul_1' (Dense) has no HwGraph MVU layer of the same name" in msg
    assert "'Gemm_1'" in msg


def test_stable_blocks_take_their_k_layers_folding_and_types(tmp_path):
    """A stable block is named by its K: its reuse factor is K's folding, its inner quantizer K's
    requantization (changed in the graph here, so the block's own QONNX quantizer disagrees)."""
    from test_hls4ml import _export

    path = _export("stable_mlp", tmp_path)
    g = fold(lower(path), overrides={"Gemm_0": (16, 8), "MatMul_0": (4, 8), "MatMul_2": (2, 2), "Gemm_1": (10, 32)})
    rf = reuse_from_folding(g)
    assert len(set(rf.values())) == len(rf) == 4 and "MatMul_1" not in rf  # K^T shares K's memory
    proj = generate_hls4ml_project(path, tmp_path / "prj", graph=g, reuse_factor="folding", write=False)
    blocks = {lay.name: int(lay.get_attr("reuse_factor")) for lay in proj.model.get_layers()
              if lay.class_name == "HwkitStableBlock"}
    assert {proj.hw_names[k]: v for k, v in blocks.items()} == {"MatMul_0": rf["MatMul_0"], "MatMul_2": rf["MatMul_2"]}
    mid = g.layer("Quant_12")  # the second block's inner requantization
    st = g.streams[mid.outputs[0]]
    bad = g.replace_streams(replace(st, dtype=IntType(st.dtype.bits + 1, st.dtype.signed)))
    with pytest.raises(MismatchError, match=r"'StableBlock_1': the mid quantizer's type .*'Quant_12'"):
        generate_hls4ml_project(path, tmp_path / "bad", graph=bad, write=False)
