"""save_graph/load_graph: lossless and code-free for every zoo model and the shipped models, and
one-line errors for files that do not describe a valid HwGraph."""
import json
import warnings

import numpy as np
import pytest
import torch

import golden_helpers as gh
from hwkit.errors import GraphError, HwkitError
from hwkit.ir import fold, load_graph, lower, random_grid_inputs, save_graph
from hwkit.sim import simulate
from hwkit.zoo import MODELS


def _zoo(name, tmp_path):
    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    torch.manual_seed(0)
    m = build_model(name, wbits=2, abits=2, preset="pot").eval()
    gh.randomize_bn(m)
    gh.activate_stable_blocks(m)
    p = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(m, MODELS[name].default_in_shape, p)
    return p


def _pretrained(name, tmp_path):
    from hwkit.pretrained import qonnx_path

    return qonnx_path(name)


CASES = [(_zoo, n) for n in sorted(MODELS)] + [(_pretrained, n) for n in ("tfc_w2a2_digits", "stable_w4a4_digits")]


@pytest.mark.parametrize("source,name", CASES, ids=[n for _, n in CASES])
def test_round_trip(tmp_path, source, name):
    g = fold(lower(source(name, tmp_path)))
    files = save_graph(g, tmp_path / "a")
    assert files == ["graph.json", "graph.npz"]
    g2 = load_graph(tmp_path / "a")
    assert g2 == g and g2 is not g
    x = random_grid_inputs(g, 64, seed=1)
    r1, r2 = simulate(g, x, trace=True), simulate(g2, x, trace=True)
    for k in r1.outputs:
        assert np.array_equal(r1.outputs[k], r2.outputs[k])
    for k in r1.trace:
        assert np.array_equal(r1.trace[k], r2.trace[k])
    for k in r1.float_outputs:
        assert np.array_equal(r1.float_outputs[k], r2.float_outputs[k])
    save_graph(g2, tmp_path / "b")  # deterministic: same graph, same bytes
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from hwkit.pretrained import qonnx_path

    d = tmp_path_factory.mktemp("g")
    save_graph(lower(qonnx_path("stable_w4a4_digits")), d)
    return json.loads((d / "graph.json").read_text()), dict(np.load(d / "graph.npz"))


def _write(tmp_path, doc, arrays):
    (tmp_path / "graph.json").write_text(json.dumps(doc))
    np.savez(tmp_path / "graph.npz", **arrays)
    return tmp_path


def _bad(tmp_path, doc, arrays, match):
    with pytest.raises(GraphError, match=match) as e:
        load_graph(_write(tmp_path, doc, arrays))
    assert "\n" not in str(e.value) and isinstance(e.value, HwkitError)


def _layer(doc, kind):
    return next(l for l in doc["graph"]["layers"] if l["@"] == kind)


def test_unknown_kind(tmp_path, saved):
    doc, arrays = json.loads(json.dumps(saved[0])), saved[1]
    _layer(doc, "ShiftRound")["@"] = "Softmax"
    _bad(tmp_path, doc, arrays, "unknown kind 'Softmax'")


def test_unknown_and_missing_field(tmp_path, saved):
    doc, arrays = json.loads(json.dumps(saved[0])), saved[1]
    _layer(doc, "ShiftRound")["gain"] = 2
    _bad(tmp_path, doc, arrays, "unknown field 'gain'")
    doc = json.loads(json.dumps(saved[0]))
    del _layer(doc, "MVU")["name"]
    _bad(tmp_path, doc, arrays, "lacks field 'name'")


def test_missing_array(tmp_path, saved):
    doc, arrays = saved
    key = _layer(doc, "MVU")["weights"]["key"]
    _bad(tmp_path, doc, {k: v for k, v in arrays.items() if k != key}, "lacks")


def test_wrong_dtype(tmp_path, saved):
    doc, arrays = saved
    key = _layer(doc, "MVU")["weights"]["key"]
    _bad(tmp_path, doc, {**arrays, key: arrays[key].astype(np.float32)}, "float32|<f4")
    doc2 = json.loads(json.dumps(doc))  # JSON and npz agree, but weights must be integers
    _layer(doc2, "MVU")["weights"]["dtype"] = "<f4"
    _bad(tmp_path, doc2, {**arrays, key: arrays[key].astype(np.float32)}, "must hold integers")


def test_pickled_arrays_are_refused(tmp_path, saved):
    doc, arrays = saved
    key = _layer(doc, "MVU")["weights"]["key"]
    _bad(tmp_path, doc, {**arrays, key: np.array([{"code": 1}], dtype=object)}, "cannot read arrays")


def test_schema_and_format(tmp_path, saved):
    doc, arrays = saved
    _bad(tmp_path, {**doc, "schema": 99}, arrays, "schema version 99")
    _bad(tmp_path, {"graph": doc["graph"]}, arrays, "not an hwkit graph")
    with pytest.raises(GraphError, match="no graph.json"):
        load_graph(tmp_path / "nowhere")


def test_loaded_graph_is_checked(tmp_path, saved):
    doc, arrays = json.loads(json.dumps(saved[0])), saved[1]
    layers = doc["graph"]["layers"]
    layers[0], layers[1] = layers[1], layers[0]
    _bad(tmp_path, doc, arrays, "topological order")
