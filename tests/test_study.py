"""The stability study's pieces: deviation metric, forward-stability bound, TV smoothing export."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwkit.study.deviation import block_deviation, float_block, relative_deviation, traces
from hwkit.zoo import build_model
from hwkit.zoo.stability import enforce, operator_norm, stability_report


def test_relative_deviation_by_hand():
    xf = np.array([[3.0, 4.0], [1.0, 0.0]])
    xq = np.array([[3.0, 5.0], [1.0, 0.0]])
    assert relative_deviation(xq, xf).tolist() == [0.2, 0.0]  # ||(0,1)|| / ||(3,4)|| = 1/5


def _tiny(name="stable_mlp", bits=4):
    torch.manual_seed(0)
    model = build_model(name, bits, bits, 8, (2,), 2, arch={"depth": 1, "width": 2, "hidden": 2})
    with torch.no_grad():
        model.blocks[0].K.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, -0.5]]))
        for _ in range(40):
            model(torch.rand(8, 2))
    return model.eval()


def test_float_block_is_the_formula_by_hand():
    block = _tiny().blocks[0]
    x = torch.tensor([[1.0, -2.0]])
    # K x = (0.5, 1.0); relu keeps both; K^T of that = (0.25, -0.5); x - 0.5 * it = (0.875, -1.75)
    assert torch.equal(float_block(block, x, float_weights=True), torch.tensor([[0.875, -1.75]]))
    kq = block.K.quant_weight().value  # the default float network uses the quantized weights
    assert torch.equal(float_block(block, x), x - 0.5 * F.relu(x @ kq.T) @ kq)


def test_traces_quantized_side_is_the_model_and_float_side_unrounded():
    model = _tiny()
    x = torch.rand(16, 2)
    tq, tf, lq, lf = traces(model, x)
    with torch.no_grad():
        assert torch.equal(lq, model(x))
    assert len(tq) == len(tf) == 2
    step = tq[0][tq[0] != 0].abs().min()  # the quantized stream lies on its grid, the float one need not
    assert torch.equal(torch.round(tq[1] / step) * step, tq[1])
    dev = block_deviation(model, x.numpy())["deviation"]
    assert dev == pytest.approx([relative_deviation(a, b).mean() for a, b in zip(tq, tf)])


def test_deviation_shrinks_with_more_activation_bits():
    x = torch.rand(64, 2)
    devs = [block_deviation(_tiny(bits=b), x.numpy())["deviation"][-1] for b in (2, 8)]
    assert devs[1] < devs[0]


@pytest.mark.parametrize("name", ["stable_mlp", "stable_cnv"])
def test_enforce_bounds_the_reported_quantity(name):
    torch.manual_seed(1)
    shape = (1, 6, 6)
    model = build_model(name, 4, 4, 8, shape, arch={"depth": 2, "width": 4, "hidden": 8})
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, *shape))
        for b in model.blocks:
            b.K.weight.mul_(8.0)
    assert max(r["stability_quant"] for r in stability_report(model)) > 2.0
    enforce(model, 2.0, quantized=True, iters=100)
    rows = stability_report(model)
    assert all(r["stability_quant"] <= 2.0 and r["stability_float"] <= 2.0 for r in rows)
    assert max(r["stability_quant"] for r in rows) > 1.0  # clipped to the bound, not collapsed


def test_conv_operator_norm_matches_the_dense_operator():
    model = build_model("stable_cnv", 4, 4, 8, (1, 4, 4), arch={"depth": 1, "width": 2, "hidden": 3})
    block = model.blocks[0]
    block.spatial = (4, 4)
    w = block.K.quant_weight().value.detach()
    basis = torch.eye(2 * 16).reshape(-1, 2, 4, 4)
    dense = F.conv2d(basis, w, padding=1).reshape(32, -1).T  # column j = K e_j
    exact = float(torch.linalg.matrix_norm(dense, 2))
    assert operator_norm(block, True, 300) == pytest.approx(exact, rel=1e-3)  # power iteration, from below


def test_training_with_the_bound_keeps_it():
    from hwkit.train import TrainConfig, train

    cfg = TrainConfig(model="stable_mlp", epochs=1, wbits=4, abits=4, arch={"depth": 2, "width": 8, "hidden": 16},
                      stability_bound=1.0)
    model, ckpt, _ = train(cfg, progress=False)
    assert ckpt["arch"]["hidden"] == 16 and ckpt["stability_bound"] == 1.0
    assert all(r["stability_quant"] <= 1.0 for r in stability_report(model))


def test_tv_step_keeps_constant_interior_and_exports_to_standard_ops(tmp_path):
    from hwkit.export import export_qonnx
    from hwkit.verify import qonnx_output

    model = build_model("stable_cnv", 3, 3, 8, (1, 8, 8), arch={"tv": True, "depth": 1, "width": 4, "hidden": 4})
    tv = model.blocks[1]
    flat = torch.full((1, 4, 8, 8), 0.75)
    assert torch.equal(tv.float_forward(flat)[..., 2:-2, 2:-2], flat[..., 2:-2, 2:-2])
    x = torch.rand(32, 1, 8, 8)
    with torch.no_grad():
        for _ in range(40):
            model(x)
        ref = model.eval()(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mw = export_qonnx(model, (1, 8, 8), tmp_path / "tv.onnx")
    ops = {n.op_type for n in mw.graph.node}
    assert {"Conv", "ConvTranspose", "Sqrt", "Quant"} <= ops
    assert ops <= {"Quant", "Conv", "ConvTranspose", "Relu", "Mul", "Add", "Sub", "Pow", "Sqrt", "Reciprocal", "Div",
                   "MaxPool", "Flatten", "Gemm", "Reshape"}
    assert np.array_equal(qonnx_output(mw, x.numpy(), batch=32), ref.numpy())


def test_outlier_ratio_by_hand():
    from hwkit.zoo.tv import outlier_ratio

    a = np.concatenate([np.ones(999), [10.0]])
    assert outlier_ratio(a) == pytest.approx(10.0)


def test_study_rejects_unknown_kinds(tmp_path):
    from hwkit.errors import ConfigError
    from hwkit.study.stability import run

    with pytest.raises(ConfigError, match="unknown study kind 'plain'"):
        run(tmp_path, kinds=("plain",))


def test_study_summary_and_table_from_runs():
    from hwkit.study.stability import markdown, summarize

    rows = [{"dataset": "d", "kind": "stable", "depth": 2, "bits": 4, "seed": s, "params": 10, "block_params": 4,
             "test_accuracy": a, "float_net_accuracy": 0.9, "deviation": [0.1, 0.2, 0.3], "stability_quant_max": 1.5}
            for s, a in ((0, 0.8), (1, 0.6))]
    (s,) = summarize(rows)
    assert s["accuracy_mean"] == pytest.approx(0.7) and s["accuracy_std"] == pytest.approx(0.1)
    assert s["growth_mean"] == pytest.approx(3.0) and s["final_deviation_mean"] == pytest.approx(0.3)
    assert "| d | 4 | 2 | stable | 10 (4) | 70.0 ± 10.0 |" in markdown([s])


def test_conv_form_rejects_a_1d_dataset_before_training(tmp_path):
    from hwkit.errors import ConfigError
    from hwkit.study.stability import run

    with pytest.raises(ConfigError, match="conv form needs an image dataset .*got 'mnist1d'"):
        run(tmp_path, datasets=("digits", "mnist1d"), form="conv")
    assert not (tmp_path / "runs.jsonl").exists()


@pytest.mark.parametrize("form", ["mlp", "conv"])
def test_study_kinds_have_equal_block_parameter_budgets(form):
    from hwkit.study.stability import arch_for

    counts = {}
    for kind in ("stable", "residual"):
        name, arch, _ = arch_for(kind, 2, form)
        model = build_model(name, 4, 4, 8, (1, 8, 8), arch=arch)
        counts[kind] = sum(p.numel() for n, p in model.blocks.named_parameters() if n.endswith("weight"))
    assert counts["stable"] == counts["residual"] > 0


def test_conv_traces_quantized_side_is_the_model():
    torch.manual_seed(0)
    model = build_model("residual_cnv", 3, 3, 8, (1, 6, 6), arch={"depth": 2, "width": 2, "hidden": 2})
    x = torch.rand(8, 1, 6, 6)
    with torch.no_grad():
        for _ in range(10):
            model(x)
    tq, tf, lq, _ = traces(model.eval(), x)
    with torch.no_grad():
        assert torch.equal(lq, model(x))
    assert len(tq) == len(tf) == 3 and tq[-1].shape == tf[-1].shape == (8, 2, 6, 6)


def test_summary_keeps_forms_apart_and_labels_conv():
    from hwkit.study.stability import markdown, summarize

    base = {"dataset": "digits", "kind": "stable", "depth": 2, "bits": 4, "seed": 0, "params": 10, "block_params": 4,
            "test_accuracy": 0.5, "float_net_accuracy": 0.5, "deviation": [0.1, 0.2], "stability_quant_max": 1.0}
    rows = [base, {**base, "form": "conv", "test_accuracy": 0.9}]  # a record without a form is an MLP run
    summary = summarize(rows)
    assert [(s["form"], s["accuracy_mean"]) for s in summary] == [("conv", 0.9), ("mlp", 0.5)]
    table = markdown(summary)
    assert "| digits (conv) | 4 | 2 | stable |" in table and "| digits | 4 | 2 | stable |" in table


def test_yosys_points_are_parsed_and_checked():
    from hwkit.errors import ConfigError
    from hwkit.study.synth import markdown, parse_point

    assert parse_point("mnist:stable:4:4") == {"dataset": "mnist", "kind": "stable", "depth": 4, "bits": 4, "form": "mlp"}
    assert parse_point("digits:residual:2:4:conv")["form"] == "conv"
    for bad in ("mnist:stable:4", "mnist:plain:4:4", "mnist:stable:x:4", "digits:stable:2:4:rnn"):
        with pytest.raises(ConfigError, match="study point"):
            parse_point(bad)
    row = {**parse_point("mnist:stable:4:4"), "test_accuracy": 0.9, "estimate": {"lut": 110, "ff": 5, "bram": 1, "dsp": 0},
           "yosys": {"lut": 100, "ff": 5, "bram": 1, "dsp": 0, "lutram": 3}}
    assert "| mnist stable d4 W4A4 | 90.0 | 110 / 100 (+10 %) | 5 / 5 (+0 %) | 1 / 1 | 0 / 0 | 3 |" in markdown([row])


def test_compare_table_puts_kinds_side_by_side():
    from hwkit.study.stability import compare_markdown, summarize

    base = {"dataset": "d", "depth": 2, "bits": 4, "params": 10, "block_params": 4, "float_net_accuracy": 0.9,
            "stability_quant_max": 1.0}
    rows = [{**base, "kind": "stable", "seed": s, "test_accuracy": a, "deviation": [0.1, d]}
            for s, a, d in ((0, 0.8, 0.2), (1, 0.6, 0.4))]
    rows.append({**base, "kind": "residual", "seed": 0, "test_accuracy": 0.5, "deviation": [0.1, 0.5],
                 "hardware": {"lut": 90}})
    rows[0]["hardware"] = {"lut": 100}
    table = compare_markdown(summarize(rows))
    assert table.splitlines()[0] == "| dataset | bits | depth | stable: dev last (acc %) | residual: dev last (acc %) | LUT stable / residual |"
    assert "| d | W4A4 | 2 | 0.300 ± 0.100 (70.0 ± 10.0) | 0.500 ± 0.000 (50.0 ± 0.0) | 100 / 90 |" in table
