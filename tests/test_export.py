"""Exported QONNX == Brevitas forward, exactly, for every zoo model with the hardware preset."""
import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper

from hwkit.errors import UnsupportedModelError
from hwkit.export import export_qonnx, hardware_friendliness
from hwkit.verify import qonnx_output as run_qonnx
from hwkit.zoo import MODELS, build_model


def briefly_trained(name, x, y, wbits=2, abits=2, preset="pot", steps=20):
    """A few optimizer steps so weights, scales and biases leave their initial values."""
    torch.manual_seed(0)
    model = build_model(name, wbits, abits, 8, x.shape[1:], 10, preset)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for i in range(steps):
        idx = torch.randint(0, len(x), (64,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def inputs_for(name, digits):
    if name == "jet":
        gen = np.random.default_rng(0)
        x = gen.integers(0, 256, (360, 16)) / 256.0
        return torch.tensor(x, dtype=torch.float32), torch.tensor(gen.integers(0, 10, 360))
    return torch.from_numpy(digits.x_test), torch.from_numpy(digits.y_test)


@pytest.mark.parametrize("name", list(MODELS))
def test_qonnx_execution_equals_brevitas_on_whole_test_set(name, digits, tmp_path):
    x, y = inputs_for(name, digits)
    wbits, abits = (4, 4) if "stable" in name or "residual" in name else (2, 2)
    model = briefly_trained(name, x, y, wbits, abits)
    wrapped = export_qonnx(model, tuple(x.shape[1:]), tmp_path / f"{name}.onnx")
    assert hardware_friendliness(wrapped) == []
    with torch.no_grad():
        expected = model(x).numpy()
    got = run_qonnx(wrapped, x.numpy())
    assert got.shape == expected.shape
    assert int((got != expected).sum()) == 0


@pytest.mark.parametrize("name,wbits,abits", [("tfc", 1, 1), ("tfc", 1, 2), ("cnv", 1, 1), ("sfc", 3, 5)])
def test_binary_and_odd_widths_export_exactly(name, wbits, abits, digits, tmp_path):
    x, y = inputs_for(name, digits)
    model = briefly_trained(name, x, y, wbits, abits)
    wrapped = export_qonnx(model, (1, 8, 8), tmp_path / "m.onnx")
    assert hardware_friendliness(wrapped) == []
    if wbits == 1:
        assert "BipolarQuant" in {n.op_type for n in wrapped.graph.node}
    with torch.no_grad():
        expected = model(x).numpy()
    assert int((run_qonnx(wrapped, x.numpy()) != expected).sum()) == 0


@pytest.mark.parametrize("name", ["tfc_w2a2_digits", "stable_w4a4_digits"])
def test_pretrained_models_match_and_reach_recorded_accuracy(name, digits):
    from hwkit import pretrained
    from hwkit.train import evaluate, load_checkpoint

    model, cfg = load_checkpoint(pretrained.checkpoint_path(name))
    accuracy = evaluate(model, digits.x_test, digits.y_test)
    assert accuracy == pytest.approx(pretrained.info(name)["test_accuracy"], abs=1e-9)
    assert accuracy >= 0.95
    with torch.no_grad():
        expected = model(torch.from_numpy(digits.x_test)).numpy()
    got = run_qonnx(ModelWrapper(str(pretrained.qonnx_path(name))), digits.x_test)
    assert int((got != expected).sum()) == 0


def test_float_preset_is_flagged_and_strict_refuses(digits, tmp_path):
    x, y = inputs_for("tfc", digits)
    model = briefly_trained("tfc", x, y, preset="float", steps=5)
    wrapped = export_qonnx(model, (1, 8, 8), tmp_path / "f.onnx")
    issues = hardware_friendliness(wrapped)
    assert any("is not a power of two" in i for i in issues)
    assert any("BatchNormalization" in i for i in issues)
    target = tmp_path / "strict.onnx"
    with pytest.raises(UnsupportedModelError, match="not hardware friendly"):
        export_qonnx(model, (1, 8, 8), target, strict=True)
    assert not target.exists() and list(tmp_path.iterdir()) == [tmp_path / "f.onnx"]


@pytest.mark.parametrize("batch", [None, 7])
def test_batch_size_dynamic_or_explicit(batch, tmp_path):
    model = build_model("cnv", 2, 2, 8).eval()
    wrapped = export_qonnx(model, (1, 8, 8), tmp_path / "m.onnx", batch_size=batch)
    dim = wrapped.graph.input[0].type.tensor_type.shape.dim[0]
    assert (dim.dim_param == "batch") if batch is None else (dim.dim_value == 7)
    x = (torch.randint(0, 256, (7, 1, 8, 8)) / 256.0)
    assert np.array_equal(run_qonnx(wrapped, x.numpy()), model(x).detach().numpy())
