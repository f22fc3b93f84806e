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


def _block_weights(model):
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith("blocks.") and n.endswith("weight"))


@pytest.mark.parametrize("name,shape", [("stable_mlp", (1, 8, 8)), ("stable_cnv", (1, 8, 8)),
                                        ("residual_mlp", (1, 8, 8)), ("residual_cnv", (1, 6, 6))])
def test_arch_sets_depth_width_hidden_and_h(name, shape):
    model = build_model(name, 3, 3, 8, shape, arch={"depth": 3, "width": 4, "hidden": 6, "h": 0.25}).eval()
    assert len(model.blocks) == 3 and all(b.h == 0.25 for b in model.blocks)
    k = model.blocks[0].K.weight
    assert k.shape[:2] == (6, 4)
    assert model(torch.rand(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("form", ["mlp", "cnv"])
def test_equal_budget_stable_has_twice_the_hidden_width(form):
    stable = build_model(f"stable_{form}", 4, 4, 8, arch={"depth": 4, "width": 8, "hidden": 16})
    residual = build_model(f"residual_{form}", 4, 4, 8, arch={"depth": 4, "width": 8, "hidden": 8})
    per_block = 8 * 16 * (9 if form == "cnv" else 1)
    assert _block_weights(stable) == _block_weights(residual) == 4 * per_block


def test_share_off_gives_an_independent_second_operator():
    off = build_model("stable_mlp", 4, 4, 8, arch={"share": False, "width": 8, "hidden": 8}).eval()
    on = build_model("residual_mlp", 4, 4, 8, arch={"share": True, "width": 8, "hidden": 8}).eval()
    assert hasattr(off.blocks[0], "K2") and not hasattr(on.blocks[0], "K2")
    for model, follows in ((off, False), (on, True)):
        block = model.blocks[0]
        z = block.act(block.K(block.out_quant(torch.rand(2, 8))))
        before = block.transpose_op(z).clone()
        with torch.no_grad():
            block.K.weight.mul_(-1.0)
        assert torch.allclose(block.transpose_op(z), -before) == follows


def test_default_arch_is_the_shipped_model():
    torch.manual_seed(0)
    a = build_model("stable_mlp", 4, 4, 8)
    torch.manual_seed(0)
    b = build_model("stable_mlp", 4, 4, 8, arch={"depth": 2, "width": 32, "hidden": 32, "h": 0.5, "share": True})
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tv_and_hardtanh_options_build_and_run():
    model = build_model("stable_cnv", 3, 3, 8, arch={"tv": True, "activation": "hardtanh"}).eval()
    assert [type(m).__name__ for m in model.blocks] == ["SymmetricConvBlock", "TVSmoothing"] * 2
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name,arch,msg", [
    ("tfc", {"depth": 3}, "takes no architecture keywords"),
    ("stable_mlp", {"h": 0.3}, "power of two"),
    ("stable_mlp", {"depth": 0}, "positive integer"),
    ("stable_mlp", {"activation": "gelu"}, "unknown activation 'gelu'"),
    ("stable_mlp", {"tv": True}, "unknown architecture key 'tv'"),
    ("stable_cnv", {"share": 1}, "true or false"),
])
def test_bad_arch_is_a_config_error(name, arch, msg):
    with pytest.raises(ConfigError, match=msg):
        build_model(name, arch=arch)


def test_arch_survives_a_checkpoint(tmp_path):
    from hwkit.train import load_checkpoint, save_checkpoint

    cfg = {"model": "residual_cnv", "wbits": 3, "abits": 3, "ibits": 8, "in_shape": [1, 8, 8], "num_classes": 10,
           "preset": "pot", "arch": {"depth": 3, "width": 4, "hidden": 4, "h": 0.25}}
    model = build_model("residual_cnv", 3, 3, 8, arch=cfg["arch"])
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        for _ in range(40):  # past Brevitas' statistics phase, so the scales are parameters
            model(x)
        want = model.eval()(x)
    again, _ = load_checkpoint(save_checkpoint(model, cfg, tmp_path / "m.pt"))
    with torch.no_grad():
        assert torch.equal(again(x), want)
    assert len(again.blocks) == 3 and again.blocks[0].h == 0.25
