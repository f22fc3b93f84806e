"""The layer kinds added beyond the zoo's through the hls4ml backend. Conv1d (plain, strided, depthwise),
depthwise Conv2d and two-input channel Concat: hls4ml's C simulation == golden on 2,000 inputs. Every
other new kind (grouped or dilated conv, Pad, a three-input Concat, Resize, ArgMax/TopK, average pooling)
is refused before conversion, by the node's name in the user's file, with the fix that applies.
Measurements: benchmarks/results_kinds_backends.md."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("hls4ml")
pytest.importorskip("torch")

import conv_models as cm  # noqa: E402
import golden_helpers as gh  # noqa: E402
from hwkit.backends.hls4ml import cosim_hls4ml, generate_hls4ml_project  # noqa: E402
from hwkit.errors import UnsupportedModelError  # noqa: E402
from hwkit.ir import lower  # noqa: E402
from test_kind_argmax import argmax_conv, argmax_mlp  # noqa: E402
from test_kind_concat import concat_cnn, concat_mlp  # noqa: E402
from test_kind_layout_common import Net  # noqa: E402
from test_kind_pad import pad_cnn  # noqa: E402
from test_kind_upsample import up_cnn  # noqa: E402


def global_avg(path, cin=2, hw=4, c=3, seed=0):
    """conv -> uint3 act -> GlobalAveragePool -> flatten -> MatMul."""
    net = Net((cin, hw, hw), seed=seed)
    a = net.act(net.conv(net.cur, cin, c), 3, 2.0 ** -2)
    return net.save(path, net.dense(net.op("Flatten", [net.op("GlobalAveragePool", [a])], axis=1), c, 5))


def plain_conv(path, cin=2, hw=6, seed=0):
    """conv (no strides/dilations/group attributes: ONNX defaults) -> act -> max pool -> MatMul."""
    net = Net((cin, hw, hw), seed=seed)
    a = net.act(net.conv(net.cur, cin, 3), 3, 2.0 ** -2)
    m = net.op("MaxPool", [a], kernel_shape=[2, 2], strides=[2, 2])
    return net.save(path, net.dense(net.op("Flatten", [m], axis=1), 3 * (hw // 2) ** 2, 5))


def brevitas(builder, **kw):
    return lambda p: cm.export(builder, p, **kw)


def avg_cnn(path):
    return gh.export(gh.pot_cnn(4, 3, 3, 4, pool="avg"), (1, 8, 8), path)


# case: (model builder, the user's node name and op type, words of the reason)
REFUSED = {
    "grouped": (brevitas(cm.dw_separable, groups=2, seed=5), r"'/1/Conv' \(Conv\)", r"grouped convolution \(2 groups"),
    "dilated": (brevitas(cm.dw_separable, dilation=2, hw=7, seed=3), r"'/1/Conv' \(Conv\)",
                r"dilated convolution \(dilations \(2, 2\)\)"),
    "dilated_1d": (brevitas(cm.conv1d, dilation=2, stride=2, length=13, seed=2), r"'/1/Conv' \(Conv\)",
                   r"dilations \(2,\)"),
    "pad": (lambda p: pad_cnn(p), r"'pad\d+' \(Pad\)", "move the zero padding into the next Conv's pads"),
    "pad_value": (lambda p: pad_cnn(p, value=0.5), r"'pad\d+' \(Pad\)", "pads only with zeros, this Pad with 0.5"),
    "concat_three": (lambda p: concat_cnn(p, order="bxa"), r"'concat\d+' \(Concat\)", "two tensors at a time"),
    "resize": (lambda p: up_cnn(p), r"'resize\d+' \(Resize\)", "neither scales nor sizes"),
    "argmax": (lambda p: argmax_mlp(p), r"'argmax\d+' \(ArgMax\)", "no ArgMax layer"),
    "topk": (lambda p: argmax_mlp(p, op="TopK"), r"'topk\d+' \(TopK\)", "no TopK layer"),
    "argmax_conv": (lambda p: argmax_conv(p), r"'argmax\d+' \(ArgMax\)", "no ArgMax layer"),
    "avgpool": (avg_cnn, r"'/3/AveragePool' \(AveragePool\)", "channels-last form"),
    "global_avgpool": (global_avg, r"'globalaveragepool\d+' \(GlobalAveragePool\)", "truncating"),
}
EXACT = {
    "conv1d_depthwise": brevitas(cm.conv1d, seed=1),      # Conv1d, then a depthwise Conv1d
    "conv1d_strided": brevitas(cm.conv1d, depthwise=False, stride=2, length=13, seed=2),
    "depthwise_separable": brevitas(cm.dw_separable),      # depthwise 3x3 Conv2d (a VVU), pointwise 1x1
    "concat": lambda p: concat_cnn(p),                     # two conv branches on grids 2^-2 and 2^-3
    "concat_vector": lambda p: concat_mlp(p),
    "conv_without_optional_attributes": plain_conv,
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_by_node_name_with_the_fix(case, tmp_path):
    build, node, why = REFUSED[case]
    path = build(tmp_path / "m.onnx")
    lower(path)  # the golden model takes it: only the hls4ml backend refuses
    with pytest.raises(UnsupportedModelError) as info:
        generate_hls4ml_project(path, tmp_path / "prj")
    msg = str(info.value)
    assert "\n" not in msg
    assert re.search(rf"node {node} exactly: .*{why}", msg), msg
    assert "use --backend rtl" in msg
    assert not (tmp_path / "prj" / "firmware").exists()  # refused before hls4ml wrote anything


def test_global_average_pool_advice_applies_to_a_file(tmp_path):
    """It used to end in hls4ml's own error or in advice for the Python API (preset, approximate=True)."""
    with pytest.raises(UnsupportedModelError) as info:
        generate_hls4ml_project(global_avg(tmp_path / "m.onnx"), tmp_path / "prj")
    msg = str(info.value)
    assert "approximate" not in msg and "preset" not in msg and "use --backend rtl" in msg


def test_refusal_names_the_users_node_not_the_cleaned_one(tmp_path):
    """A file cleaned by the build's model stage (nodes renamed Conv_0, ...) still reports the user's name."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.util.cleanup import cleanup_model

    from hwkit.sourcenames import cleanup_keeping_names

    src = cm.export(cm.dw_separable, tmp_path / "m.onnx", groups=2, seed=5)

    cleaned = cleanup_keeping_names(ModelWrapper(str(src)),
                                    lambda m: cleanup_model(m).transform(GiveUniqueNodeNames()))
    assert any(n.name == "Conv_0" for n in cleaned.graph.node)
    cleaned.save(str(tmp_path / "clean.onnx"))
    with pytest.raises(UnsupportedModelError, match=r"node '/1/Conv' \(Conv\) exactly: a grouped"):
        generate_hls4ml_project(tmp_path / "clean.onnx", tmp_path / "prj")


SLOW_PARALLEL = {"concat"}   # > 30 s with a cold compile cache (40 s measured); every io_stream case too


@pytest.mark.parametrize("case, io", [
    pytest.param(c, io, marks=[pytest.mark.slow] if io == "stream" or c in SLOW_PARALLEL else [])
    for c in EXACT for io in ("parallel", "stream")])
def test_exact_on_2000_inputs(case, io, tmp_path):
    """(A conv written without ONNX's optional strides/dilations/pads/group: qonnx's channels-last pass
    and hls4ml's parser need them, written in as their defaults.)"""
    path = EXACT[case](tmp_path / "m.onnx")
    rep = cosim_hls4ml(path, tmp_path / "prj", n=2000, seed=1, io_type=io)
    assert rep["samples"] == 2000 and rep["mismatches"] == 0, rep["detail"]


def test_hwkit_build_refuses_at_generate_in_one_line(tmp_path, capsys):
    """Through `hwkit build --backend hls4ml`: the stages before run (golden_sim of an index output with
    no test data included), then one error line naming the user's node and the fix."""
    from hwkit.cli import main

    path = argmax_mlp(tmp_path / "m.onnx")
    rc = main(["build", str(path), "--backend", "hls4ml", "--out", str(tmp_path / "b")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error")]
    assert rc != 0 and len(err) == 1, err
    assert re.search(r"node 'argmax\d+' \(ArgMax\) exactly: .*use --backend rtl", err[0]), err[0]
