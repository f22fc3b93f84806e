import json

import pytest
import torch

from hwkit.errors import ConfigError
from hwkit.train import TrainConfig, bit_schedule, load_checkpoint, train, train_and_save


def test_training_is_deterministic_and_learns():
    cfg = TrainConfig(model="tfc", epochs=3)
    m1, _, r1 = train(cfg, progress=False)
    m2, _, r2 = train(cfg, progress=False)
    assert r1["test_accuracy"] == r2["test_accuracy"] > 0.7
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_bit_annealing_schedule_narrows_to_target():
    sched = bit_schedule(TrainConfig(wbits=2, abits=3, epochs=16, anneal_every=2))
    assert sched[0] == (8, 8) and sched[-1] == (2, 3)
    assert all(a >= b for a, b in zip([s[0] for s in sched], [s[0] for s in sched[1:]]))


def test_checkpoint_roundtrip_with_weights_only(tmp_path):
    res = train_and_save(TrainConfig(model="tfc", epochs=1, anneal_every=0), tmp_path / "m.pt", progress=False)
    model, cfg = load_checkpoint(tmp_path / "m.pt")
    assert cfg["model"] == "tfc" and cfg["in_shape"] == [1, 8, 8]
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(blob) == {"config", "state_dict"}
    assert json.loads((tmp_path / "m.json").read_text())["test_accuracy"] == res["test_accuracy"]
    assert (tmp_path / "m.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx", "m.pt"]


def test_annealed_training_ends_at_target_bits():
    model, cfg, _ = train(TrainConfig(model="tfc", wbits=3, abits=3, epochs=2, anneal_every=1), progress=False)
    assert int(model.features[0].quant_weight().bit_width) == 7  # 8 -> 7 after one epoch, floor at 3
    model, _, _ = train(TrainConfig(model="tfc", wbits=6, abits=6, epochs=4, anneal_every=1), progress=False)
    assert int(model.features[0].quant_weight().bit_width) == 6


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04garbage"])
def test_unreadable_checkpoint_is_a_config_error(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match="not a readable hwkit checkpoint"):
        load_checkpoint(bad)


def test_missing_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
