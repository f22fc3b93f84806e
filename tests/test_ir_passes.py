"""Each lowering pass on its own, plus the translation rules and the unsupported-model errors."""
import dataclasses

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper

from golden_helpers import _quant, qkeras_style_mlp
from hwkit.errors import ConfigError, UnsupportedModelError
from hwkit.ir import MVU, FloatTail, ShiftRound, Threshold, infer_types, lower, mark_transposed, translate
from hwkit.ir.passes import check_static_shapes, cleanup, fix_batch, load


def _model(nodes, inits, in_shape, out_shape, in_name="x", out_name="y", batch=1):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(in_name, TensorProto.FLOAT,
                                                                         [batch] + list(in_shape))],
                              [helper.make_tensor_value_info(out_name, TensorProto.FLOAT,
                                                             [batch] + list(out_shape))], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                helper.make_opsetid("qonnx.custom_op.general", 1)])
    return ModelWrapper(m)


def _mlp_nodes(w, wscale=0.25, bits=4, extra=None):
    """x -> Quant(int8, 2^-4) -> MatMul(Quant(w)) [-> extra op] -> Quant(uint4, 2^-2) -> y"""
    nodes, inits = [], []
    n, i = _quant("qin", "x", 2.0 ** -4, 8)
    nodes.append(n), inits.extend(i)
    inits.append(numpy_helper.from_array(w.astype(np.float32), "w"))
    n, i = _quant("qw", "w", wscale, bits, narrow=True)
    nodes.append(n), inits.extend(i)
    nodes.append(helper.make_node("MatMul", ["qin_out", "qw_out"], ["mm"], name="mm"))
    cur = "mm"
    if extra is not None:
        nodes.append(helper.make_node(extra, [cur], ["ex"], name="extra_op"))
        cur = "ex"
    n, i = _quant("qa", cur, 0.25, 4, signed=False, out="y")
    nodes.append(n), inits.extend(i)
    return nodes, inits


def test_a_dangling_branch_is_not_lowered():
    # a second MatMul reads the quantized input but no output depends on it: hardware for it would
    # hold a stream nobody reads and stall the fork feeding both
    w = np.arange(16, dtype=float).reshape(4, 4) % 3 - 1
    nodes, inits = _mlp_nodes(w)
    plain = lower(_model(nodes, inits, (4,), (4,)))
    nodes.append(helper.make_node("MatMul", ["qin_out", "qw_out"], ["side"], name="side_branch"))
    nodes.append(helper.make_node("Relu", ["side"], ["side_relu"], name="side_relu"))
    m = _model(nodes, inits, (4,), (4,))
    assert "side_branch" in {n.name for n in m.graph.node}
    g = lower(m)
    assert [l.kind for l in g.layers] == [l.kind for l in plain.layers]
    read = {s for l in g.layers for s in l.inputs} | set(g.outputs)
    assert all(o in read for l in g.hardware_layers() for o in l.outputs)


def test_load_rejects_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.onnx")


def test_fix_batch_sets_symbolic_batch_to_one():
    w = np.eye(4)
    nodes, inits = _mlp_nodes(w)
    m = _model(nodes, inits, (4,), (4,), batch=5)
    m = fix_batch(cleanup(m))
    assert m.get_tensor_shape("x") == [1, 4]


def test_fix_batch_rejects_dynamic_feature_dim():
    nodes, inits = _mlp_nodes(np.eye(4))
    m = _model(nodes, inits, (4,), (4,))
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "F"
    with pytest.raises(UnsupportedModelError, match="dynamic"):
        fix_batch(m)


def test_check_static_shapes_passes_on_clean_model():
    nodes, inits = _mlp_nodes(np.eye(4))
    m = cleanup(_model(nodes, inits, (4,), (4,)))
    assert check_static_shapes(m) is m


def test_translate_pot_gives_shift_round_and_integer_weights():
    rng = np.random.default_rng(0)
    w = rng.integers(-7, 8, (6, 5)) * 0.25
    nodes, inits = _mlp_nodes(w, extra="Relu")
    g = lower(_model(nodes, inits, (6,), (5,)))
    kinds = [l.kind for l in g.layers]
    assert kinds == ["MVU", "ShiftRound", "FloatTail"]
    mvu, sr = g.layers[0], g.layers[1]
    assert np.array_equal(mvu.weights, (w / 0.25).T.astype(np.int64))
    # real acc = n * 2^-4 * 2^-2; out scale 2^-2 -> shift 4; Relu -> lo 0
    assert (sr.shift, sr.lo, sr.hi, sr.rounding) == (4, 0, 15, "half_even")
    # accumulator range from the weights and the int8 input range
    wi = (w / 0.25).T
    top = (np.where(wi > 0, wi, 0).sum(1) * 127 + np.where(wi < 0, wi, 0).sum(1) * -128).max()
    bot = (np.where(wi > 0, wi, 0).sum(1) * -128 + np.where(wi < 0, wi, 0).sum(1) * 127).min()
    assert mvu.acc.min <= bot and mvu.acc.max >= top
    assert mvu.acc.bits == max(int(-bot - 1).bit_length(), int(top).bit_length()) + 1


def test_translate_float_scale_gives_thresholds():
    rng = np.random.default_rng(1)
    w = rng.integers(-7, 8, (6, 5)) * 0.3
    nodes, inits = _mlp_nodes(w, wscale=0.3, extra="Relu")
    g = lower(_model(nodes, inits, (6,), (5,)))
    th = g.layers[1]
    assert isinstance(th, Threshold) and th.thresholds.shape == (5, 15)
    assert np.all(np.diff(th.thresholds, axis=1) >= 0)


def test_infer_types_is_pure_and_recomputes_acc():
    nodes, inits = _mlp_nodes(np.full((6, 5), 1.75))
    g = lower(_model(nodes, inits, (6,), (5,)))
    assert infer_types(g) == g  # lowering already typed it
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.layers[0].weights = g.layers[0].weights * 0 + 1
    g2 = g.replace_layers(dataclasses.replace(g.layers[0], weights=g.layers[0].weights * 0 + 1))
    g3 = infer_types(g2)
    assert g2.layers[0].acc == g.layers[0].acc  # the input graph is untouched
    assert g3.layers[0].acc.bits < g.layers[0].acc.bits  # 6 * 128 -> int11 < 6 * 7 * 128 -> int14
    assert g3.streams[g3.layers[0].outputs[0]].dtype == g3.layers[0].acc


def test_mark_transposed_links_k_and_kt():
    from hwkit.ir.graph import HwGraph, Stream
    from hwkit.ir.types import IntType

    rng = np.random.default_rng(2)
    K = rng.integers(-3, 4, (4, 6))
    t = IntType(4, True)
    streams = {s: Stream(s, (n,), t) for s, n in (("a", 6), ("b", 4), ("c", 6))}
    layers = [MVU("k", ["a"], ["b"], weights=K, wtype=t), MVU("kt", ["b"], ["c"], weights=K.T.copy(), wtype=t)]
    g = mark_transposed(HwGraph("g", streams, layers, ["a"], ["c"]))
    assert g.layers[1].transposed_of == "k" and g.layers[0].transposed_of is None
    with pytest.raises(ValueError):  # read-only: a marked K^T cannot drift from its K in place
        g.layers[1].weights[0, 0] += 1
    w = K.T.copy()
    w[0, 0] += 1
    g = mark_transposed(HwGraph("g", streams, [layers[0], dataclasses.replace(layers[1], weights=w)], ["a"], ["c"]))
    assert g.layers[1].transposed_of is None


def test_flatten_permutation_absorbed_into_weights():
    """Transpose before MatMul costs nothing in hardware: the MVU columns are permuted instead."""
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (6, 3)) * 0.25
    nodes, inits = _mlp_nodes(w)
    nodes[2] = helper.make_node("MatMul", ["tr", "qw_out"], ["mm"], name="mm")
    nodes.insert(2, helper.make_node("Transpose", ["rs"], ["tr0"], name="tr", perm=[0, 2, 1]))
    nodes.insert(3, helper.make_node("Flatten", ["tr0"], ["tr"], name="fl", axis=1))
    nodes.insert(2, helper.make_node("Reshape", ["qin_out", "shp"], ["rs"], name="rs"))
    inits.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "shp"))
    g = lower(_model(nodes, inits, (6,), (3,)))
    assert [l.kind for l in g.layers] == ["MVU", "ShiftRound", "FloatTail"]
    perm = np.arange(6).reshape(2, 3).T.ravel()  # ONNX element k reads stream element perm[k]
    want = np.zeros((3, 6), np.int64)
    want[:, perm] = (w / 0.25).T
    assert np.array_equal(g.layers[0].weights, want)


def test_unknown_op_names_node_and_type():
    nodes, inits = _mlp_nodes(np.eye(4), extra="Tanh")
    with pytest.raises(UnsupportedModelError, match=r"node 'extra_op' \(Tanh\)"):
        lower(_model(nodes, inits, (4,), (4,)))


def test_wide_accumulator_rejected():
    nodes, inits = _mlp_nodes(np.full((4096, 4), 2.0 ** 20), wscale=1.0, bits=24)
    with pytest.raises(UnsupportedModelError, match="accumulator"):
        lower(_model(nodes, inits, (4096,), (4,)))


def test_float_weights_without_quantizer_rejected():
    nodes = [_quant("qin", "x", 2.0 ** -4, 8)[0], helper.make_node("MatMul", ["qin_out", "w"], ["y"], name="mm")]
    inits = _quant("qin", "x", 2.0 ** -4, 8)[1] + [numpy_helper.from_array(np.full((4, 4), 0.3, np.float32), "w")]
    with pytest.raises(UnsupportedModelError, match=r"'mm' \(MatMul\).*without a quantizer"):
        lower(_model(nodes, inits, (4,), (4,)))


def test_unquantized_input_rejected():
    inits = [numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")]
    n, i = _quant("qw", "w", 1.0, 4)
    nodes = [n, helper.make_node("MatMul", ["x", "qw_out"], ["y"], name="mm")]
    with pytest.raises(UnsupportedModelError, match="quantized"):
        lower(_model(nodes, inits + i, (4,), (4,)))


def test_qkeras_style_float_tail_and_softmax(tmp_path):
    g = lower(qkeras_style_mlp(tmp_path / "q.onnx"))
    tail = g.layers[-1]
    assert isinstance(tail, FloatTail) and tail.softmax
    assert [l.kind for l in g.layers].count("Threshold") == 2  # float weight scales + float bias
    g = lower(qkeras_style_mlp(tmp_path / "p.onnx", float_weight_scale=False, float_bias=False))
    assert [l.kind for l in g.layers].count("ShiftRound") == 2
