"""`hwkit sim` and `hwkit verify`: outputs, one-line errors, exit codes."""
import numpy as np
import pytest

from golden_helpers import qkeras_style_mlp
from hwkit.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return qkeras_style_mlp(d / "q.onnx", float_weight_scale=False, float_bias=False)


def test_sim_writes_outputs_equal_to_api(model, tmp_path, capsys):
    from hwkit.ir import lower, quantize_input
    from hwkit.sim import simulate

    x = np.random.default_rng(0).uniform(-4, 4, (30, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["sim", str(model), "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")]) == 0
    g = lower(model)
    want = simulate(g, quantize_input(g, x)).outputs[g.outputs[0]]
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    assert "simulated 30 inputs" in capsys.readouterr().out


def test_sim_integer_grid_inputs(model, tmp_path):
    q = np.random.default_rng(1).integers(-(1 << 15), 1 << 15, (5, 16))
    np.save(tmp_path / "q.npy", q)
    assert main(["sim", str(model), "--inputs", str(tmp_path / "q.npy"), "--out", str(tmp_path / "y.npy")]) == 0


@pytest.mark.parametrize("bad", ["shape", "missing", "range"])
def test_sim_bad_inputs_one_line_error(model, tmp_path, capsys, bad):
    p = tmp_path / "bad.npy"
    if bad == "shape":
        np.save(p, np.zeros((3, 5), np.float32))
    elif bad == "range":
        np.save(p, np.full((2, 16), 1 << 20))
    rc = main(["sim", str(model), "--inputs", str(p)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "Traceback" not in err


def test_verify_ok_and_unsupported_model(model, tmp_path, capsys):
    assert main(["verify", str(model), "--n", "200"]) == 0
    assert "0 mismatching elements" in capsys.readouterr().out
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper

    node = helper.make_node("Tanh", ["x"], ["y"], name="my_tanh")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    p = tmp_path / "tanh.onnx"
    ModelWrapper(helper.make_model(g)).save(str(p))
    rc = main(["verify", str(p)])
    err = capsys.readouterr().err
    assert rc == 3 and "my_tanh" in err and "Tanh" in err
