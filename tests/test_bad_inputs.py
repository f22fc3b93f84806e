"""The bad-input corpus (tests/bad_inputs/make_corpus.py) through the CLI in-process: each case exits with
its code and ONE error line holding its words, with no traceback and no half-written output."""
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from make_corpus import make_corpus  # noqa: E402

_DIR = Path(tempfile.mkdtemp(prefix="hwkit-bad-inputs-"))
atexit.register(shutil.rmtree, _DIR, True)
CASES = {c.name: c for c in make_corpus(_DIR)}


def test_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({c.code for c in CASES.values()}) >= 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, capsys, monkeypatch):
    from hwkit.cli import main

    case = CASES[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    code = main([str(a) for a in case.argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert code == case.code, f"{name}: exit {code}, expected {case.code}: {err[-800:]}"
    assert "Traceback" not in err and len(errors) == 1 and lines[-1] == errors[0], f"{name}: {err[-800:]}"
    for word in case.words:
        assert word.lower() in errors[0].lower(), f"{name}: {word!r} not in {errors[0]!r}"
    for path in case.absent:
        assert not Path(path).exists(), f"{name}: {path} was written"


# ---- mutation fuzzing of a valid QONNX model: lower + verify succeed or raise an hwkit error ----
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TFC = Path(__file__).resolve().parents[1] / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"
FUZZ_EXAMPLES = 60
_ran = []
OPS = ["Gemm", "MatMul", "Relu", "Quant", "BipolarQuant", "Trunc", "Add", "Mul", "Flatten", "Reshape", "Softplus",
       "Conv", "MaxPool", "Transpose", "Identity", "Sigmoid", "Div", "Concat"]
VALUES = [0.0, -1.0, 0.5, 1.0, 2.0, 3.0, 7.5, 1e30, -1e30, float("nan"), float("inf"), float("-inf"), 1e-40, 64.0]
ATTRS = ["signed", "narrow", "rounding_mode", "transB", "transA", "alpha", "beta", "axis", "foo"]
ATTR_VALUES = [0, 1, -1, 2, 7, 0.5, float("nan"), "ROUND", "FLOOR", "CEIL", "BOGUS", "", b"ROUND"]

edit = st.one_of(
    st.tuples(st.just("del_node"), st.integers(0, 99)),
    st.tuples(st.just("op_type"), st.integers(0, 99), st.sampled_from(OPS)),
    st.tuples(st.just("input"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 99)),
    st.tuples(st.just("output"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("name"), st.integers(0, 99), st.text(max_size=80)),
    st.tuples(st.just("drop_input"), st.integers(0, 99)),
    st.tuples(st.just("init_fill"), st.integers(0, 99), st.sampled_from(VALUES)),
    st.tuples(st.just("init_point"), st.integers(0, 99), st.integers(0, 10**6), st.sampled_from(VALUES)),
    st.tuples(st.just("init_reshape"), st.integers(0, 99), st.lists(st.integers(0, 70), max_size=3)),
    st.tuples(st.just("init_delete"), st.integers(0, 99)),
    st.tuples(st.just("init_dup"), st.integers(0, 99)),
    st.tuples(st.just("attr"), st.integers(0, 99), st.sampled_from(ATTRS), st.sampled_from(ATTR_VALUES)),
    st.tuples(st.just("attr_del"), st.integers(0, 99), st.integers(0, 5)),
    st.tuples(st.just("in_shape"), st.integers(0, 3), st.integers(0, 200)),
)


def _mutate(model, edits):
    import copy

    from onnx import helper, numpy_helper

    g = model.graph
    for e in edits:
        kind, nodes, inits = e[0], g.node, g.initializer
        tensors = [t for n in nodes for t in (*n.input, *n.output)] + [i.name for i in inits] + ["nowhere"]
        if kind in ("del_node", "op_type", "input", "output", "name", "drop_input", "attr", "attr_del") and not nodes:
            continue
        if kind.startswith("init") and not inits:
            continue
        if kind == "del_node":
            del nodes[e[1] % len(nodes)]
        elif kind == "op_type":
            nodes[e[1] % len(nodes)].op_type = e[2]
        elif kind == "input":
            n = nodes[e[1] % len(nodes)]
            if n.input:
                n.input[e[2] % len(n.input)] = tensors[e[3] % len(tensors)]
        elif kind == "output":
            nodes[e[1] % len(nodes)].output[0] = tensors[e[2] % len(tensors)]
        elif kind == "name":
            nodes[e[1] % len(nodes)].name = e[2]
        elif kind == "drop_input":
            n = nodes[e[1] % len(nodes)]
            if n.input:
                del n.input[-1]
        elif kind in ("init_fill", "init_point", "init_reshape"):
            t = inits[e[1] % len(inits)]
            a = numpy_helper.to_array(t).astype(np.float64 if kind != "init_reshape" else numpy_helper.to_array(t).dtype)
            if kind == "init_fill":
                a = np.full(a.shape, e[2])
            elif kind == "init_point" and a.size:
                a.flat[e[2] % a.size] = e[3]
            elif kind == "init_reshape":
                a = np.resize(a, tuple(e[2]))
            with np.errstate(all="ignore"):
                t.CopyFrom(numpy_helper.from_array(a.astype(numpy_helper.to_array(t).dtype), t.name))
        elif kind == "init_delete":
            del inits[e[1] % len(inits)]
        elif kind == "init_dup":
            inits.append(copy.deepcopy(inits[e[1] % len(inits)]))
        elif kind == "attr":
            n = nodes[e[1] % len(nodes)]
            keep = [a for a in n.attribute if a.name != e[2]]
            del n.attribute[:]
            n.attribute.extend([*keep, helper.make_attribute(e[2], e[3])])
        elif kind == "attr_del":
            n = nodes[e[1] % len(nodes)]
            if n.attribute:
                del n.attribute[e[2] % len(n.attribute)]
        elif kind == "in_shape":
            dims = g.input[0].type.tensor_type.shape.dim if g.input else []
            if dims:
                dims[e[1] % len(dims)].dim_value = e[2]
    return model


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(edit, min_size=1, max_size=4))
def test_mutated_models_lower_or_fail_cleanly(tmp_path_factory, edits):
    """Random node, initializer and attribute edits of the shipped TFC model: hwkit.ir.lower and
    hwkit.verify either succeed or raise an HwkitError subclass, never another exception."""
    import warnings

    import onnx

    from hwkit.errors import HwkitError
    from hwkit.ir import lower
    from hwkit.verify import golden_vs_qonnx

    _ran.append(edits)
    path = tmp_path_factory.mktemp("fuzz") / "m.onnx"
    onnx.save(_mutate(onnx.load(str(TFC)), edits), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graph = lower(path)
            golden_vs_qonnx(path, n=4, graph=graph)
        except HwkitError:
            pass


def test_fuzz_example_count():
    """Runs after the fuzzer (file order): how many mutated models one run tried."""
    print(f"\nmutation fuzzer: {len(_ran)} examples")
    assert len(_ran) >= FUZZ_EXAMPLES // 2
