"""Per-layer bit widths: zoo -> training -> checkpoint -> QONNX -> HwGraph types -> golden."""
import subprocess
import sys

import pytest
import torch

from hwkit.errors import ConfigError
from hwkit.train import TrainConfig, bit_schedule, load_checkpoint, train_and_save
from hwkit.zoo import MODELS, build_model, layer_widths, load_widths


def _weight_bits(model):
    return [int(m.quant_weight().bit_width) for m in model.modules() if hasattr(m, "quant_weight")]


def test_per_layer_widths_reach_each_quantizer():
    model = build_model("tfc", [2, 4, 3, 8], [4, 2, 3])
    assert _weight_bits(model) == [2, 4, 3, 8]
    acts = [int(m.act_quant.bit_width()) for m in model.features if hasattr(m, "act_quant")]
    assert acts == [4, 2, 3]
    cnv = build_model("cnv", [2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6])
    assert _weight_bits(cnv) == [2, 3, 4, 5, 6, 7]
    assert cnv(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_one_width_is_the_same_as_a_uniform_list():
    assert _weight_bits(build_model("tfc", 3, 2)) == _weight_bits(build_model("tfc", [3] * 4, [2] * 3))
    assert layer_widths("tfc", 3, 2) == ([3, 3, 3, 3], [2, 2, 2])
    assert MODELS["tfc"].layers == (4, 3)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(name="tfc", wbits=[2, 2]), "this model has 4 weight layers, got a list of 2"),
    (dict(name="tfc", abits=[2, 2, 2, 2]), "this model has 3 activation layers, got a list of 4"),
    (dict(name="tfc", wbits=[2, 9, 2, 2]), "weight bit width must be an integer in 1..8, got 9"),
    (dict(name="stable_mlp", wbits=[2, 2]), "takes one weight and one activation width"),
])
def test_bad_per_layer_lists_are_config_errors(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        build_model(**kwargs)


def test_annealing_narrows_each_layer_to_its_own_target():
    sched = bit_schedule(TrainConfig(wbits=[2, 6, 2, 4], abits=[3, 3, 7], epochs=8, anneal_every=1))
    assert sched[0] == ([8, 8, 8, 8], [8, 8, 8])
    assert sched[3] == ([5, 6, 5, 5], [5, 5, 7])
    assert sched[-1] == ([2, 6, 2, 4], [3, 3, 7])


def test_mixed_widths_recorded_in_checkpoint_and_exact_through_golden(tmp_path):
    from hwkit.ir.lower import lower
    from hwkit.verify import golden_vs_qonnx

    cfg = TrainConfig(model="tfc", wbits=(2, 4, 2, 4), abits=(4, 2, 3), epochs=1)
    res = train_and_save(cfg, tmp_path / "m.pt", progress=False)
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    assert blob["config"]["wbits"] == [2, 4, 2, 4] and blob["config"]["abits"] == [4, 2, 3]
    assert res["config"]["wbits"] == [2, 4, 2, 4]
    model, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert _weight_bits(model) == [2, 4, 2, 4]
    graph = lower(tmp_path / "m.onnx")
    mvus = [layer for layer in graph.layers if type(layer).__name__ == "MVU"]
    assert [m.wtype.bits for m in mvus] == [2, 4, 2, 4]
    # each hidden MVU's input stream carries the previous layer's activation width
    assert [graph.streams[m.inputs[0]].dtype.bits for m in mvus[1:]] == [4, 2, 3]
    assert golden_vs_qonnx(tmp_path / "m.onnx", n=200).mismatches == 0


def test_widths_yaml(tmp_path):
    (tmp_path / "b.yaml").write_text("wbits: [2, 4, 2, 4]\nabits: 3\n")
    assert load_widths(tmp_path / "b.yaml") == ([2, 4, 2, 4], 3)
    (tmp_path / "bad.yaml").write_text("wbits: [2, x]\nabits: 3\n")
    with pytest.raises(ConfigError, match="'wbits' must be an int or a list of ints"):
        load_widths(tmp_path / "bad.yaml")


def _hwkit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "hwkit.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_train_takes_per_layer_lists_and_yaml(tmp_path):
    res = _hwkit("train", "tfc", "--wbits", "2,4,2,4", "--abits", "4,2,3", "--epochs", "1",
                 "--out", str(tmp_path / "a.pt"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert torch.load(tmp_path / "a.pt", weights_only=True)["config"]["abits"] == [4, 2, 3]
    (tmp_path / "w.yaml").write_text("wbits: [3, 3, 2, 8]\nabits: [2, 2, 2]\n")
    res = _hwkit("train", "tfc", "--bits", "w.yaml", "--epochs", "1", "--out", "b.pt", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert torch.load(tmp_path / "b.pt", weights_only=True)["config"]["wbits"] == [3, 3, 2, 8]
    res = _hwkit("train", "tfc", "--wbits", "2,2", "--epochs", "1", "--out", "c.pt", cwd=tmp_path)
    assert res.returncode == 2 and "4 weight layers, got a list of 2" in res.stderr
    zoo = _hwkit("zoo", cwd=tmp_path)
    assert zoo.returncode == 0 and "per-layer" in zoo.stdout and "--wbits x4" in zoo.stdout
