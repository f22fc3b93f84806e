import pytest
import torch

from hwkit.errors import ConfigError
from hwkit.zoo import MODELS, build_model


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("preset", ["pot", "float"])
def test_every_model_builds_and_runs(name, preset):
    shape = (16,) if name == "jet" else (1, 8, 8)
    model = build_model(name, 2, 2, 8, shape, 10, preset).eval()
    assert model(torch.rand(3, *shape)).shape == (3, 10)


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_bit_widths_reach_the_quantizers(bits):
    model = build_model("tfc", wbits=bits, abits=bits, ibits=8)
    qw = model.features[0].quant_weight()
    assert int(qw.bit_width) == bits
    levels = torch.unique(qw.value / qw.scale)
    assert len(levels) <= 2 ** bits


def test_pot_preset_has_power_of_two_scales():
    model = build_model("tfc", 4, 4, 8)
    model(torch.rand(8, 1, 8, 8))
    scale = float(model.features[0].quant_weight().scale)
    assert torch.log2(torch.tensor(scale)) == torch.round(torch.log2(torch.tensor(scale)))


@pytest.mark.parametrize("kwargs,msg", [
    (dict(name="resnet50"), "unknown model 'resnet50'"),
    (dict(name="tfc", wbits=0), "weight bit width must be an integer in 1..8, got 0"),
    (dict(name="tfc", abits=17), "activation bit width must be an integer in 1..8, got 17"),
    (dict(name="tfc", preset="fp8"), "unknown quantizer preset 'fp8'"),
    (dict(name="cnv", in_shape=(64,)), "needs image inputs"),
])
def test_bad_model_arguments_are_config_errors(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        build_model(**kwargs)


@pytest.mark.parametrize("name", ["stable_mlp", "stable_cnv"])
def test_symmetric_block_shares_one_weight_tensor(name):
    model = build_model(name, 4, 4, 8).eval()
    block = model.blocks[0]
    x = block.out_quant(torch.rand(2, *((32,) if name == "stable_mlp" else (8, 8, 8))))
    z = block.act(block.K(x))
    before = block.transpose_op(z).clone()
    with torch.no_grad():
        block.K.weight.mul_(-1.0)  # change K only...
    after = block.transpose_op(z)
    assert torch.allclose(after, -before)  # ...and K^T followed
    assert not any("K2" in n for n, _ in model.named_parameters())


def test_residual_counterpart_has_independent_weight_of_equal_size():
    stable = build_model("stable_mlp", 4, 4, 8)
    residual = build_model("residual_mlp", 4, 4, 8)
    k2 = residual.blocks[0].K2.weight
    assert k2.shape == stable.blocks[0].K.weight.t().shape
    assert not torch.equal(k2, residual.blocks[0].K.weight.t())
