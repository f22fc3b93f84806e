"""A float-input MLP as QKeras/hls4ml users have them: no input quantizer, float features straight into
MatMul, weights through a QONNX ``Quant`` (signed, narrow, power-of-two scale), ``Add`` of a bias on a fine
power-of-two grid, ``Relu`` then an unsigned activation ``Quant``; the last layer's logits are the output.
Shape 16-64-32-32-5 like the hls4ml jet tagger, briefly trained on a synthetic jet-like set (no jet data
ships in a package here): five classes of 16 features on scales from 0.5 to 8, so max|x| is in the tens
and an input format needs integer bits (fixed<16,6> covers +-32).

``float_input_mlp(path)`` writes the .onnx; ``jet_like_data(n)`` gives ``(x, y)``; the pair is what
``hwkit build MODEL.onnx --input-format fixed<16,6> --data DATA.npz`` takes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

SIZES = (16, 64, 32, 32, 5)
BIAS_STEP = 2.0 ** -8  # biases on a fine power-of-two grid: float32-exact, like a quantized bias


def jet_like_data(n: int, seed: int = 0, features: int = 16, classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples (float32 (n, features), int64 labels): Gaussian classes, one fixed set of class means and
    feature scales (``seed`` only draws the samples)."""
    fixed = np.random.default_rng(12345)
    means = fixed.normal(0.0, 1.0, (classes, features))
    scales = 2.0 ** fixed.uniform(-1, 2.5, features)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (means[y] + rng.normal(0.0, 1.0, (n, features))) * scales
    return x.astype(np.float32), y.astype(np.int64)


def _pot_scale(max_abs: float, levels: int) -> float:
    """The smallest power of two that puts ``max_abs`` within ``levels`` steps."""
    return float(2.0 ** np.ceil(np.log2(max(max_abs, 1e-12) / levels)))


def _train(sizes, seed: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A float MLP fitted briefly (Adam, full batch) on jet_like_data; returns [(W (in, out), b)]."""
    import torch

    torch.manual_seed(seed)
    x, y = jet_like_data(4000, seed=seed + 1, features=sizes[0], classes=sizes[-1])
    mu, sd = x.mean(0), x.std(0)  # train on standardized features, fold the standardization into layer 0
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    net = torch.nn.Sequential(*[m for l in layers for m in (l, torch.nn.ReLU())][:-1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.tensor((x - mu) / sd), torch.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    params = [(l.weight.detach().numpy().T.astype(np.float64), l.bias.detach().numpy().astype(np.float64))
              for l in layers]
    w0, b0 = params[0]
    params[0] = (w0 / sd[:, None], b0 - (mu / sd) @ w0)
    return params


def float_input_mlp(path, sizes=SIZES, wbits: int = 8, abits: int = 8, seed: int = 0, steps: int = 200) -> Path:
    """Write the float-input QONNX MLP to ``path`` (weights and activations quantized, the input not)."""
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper

    params = _train(tuple(sizes), seed, steps)
    x, _ = jet_like_data(2000, seed=seed + 2, features=sizes[0], classes=sizes[-1])
    nodes, inits = [], []

    def quant(name, src, scale, bits, signed, narrow):
        for suffix, v in (("s", scale), ("z", 0.0), ("b", float(bits))):
            inits.append(numpy_helper.from_array(np.asarray(v, np.float32), f"{name}_{suffix}"))
        nodes.append(helper.make_node("Quant", [src, f"{name}_s", f"{name}_z", f"{name}_b"], [f"{name}_out"],
                                      name=name, domain="qonnx.custom_op.general", signed=int(signed),
                                      narrow=int(narrow), rounding_mode="ROUND"))
        return f"{name}_out"

    def fake_quant(v, scale, lo, hi):  # what the Quant does, to set the next scale from quantized activations
        return np.clip(np.round(v / scale), lo, hi) * scale

    cur, act = "x", x.astype(np.float64)
    for i, (w, b) in enumerate(params):
        wmax = (1 << (wbits - 1)) - 1
        wscale = _pot_scale(float(np.abs(w).max()), wmax)
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        qw = quant(f"qw{i}", f"w{i}", wscale, wbits, True, True)
        nodes.append(helper.make_node("MatMul", [cur, qw], [f"mm{i}"], name=f"mm{i}"))
        b = np.round(b / BIAS_STEP) * BIAS_STEP
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"b{i}"))
        last = i == len(params) - 1
        cur = "y" if last else f"add{i}"  # the logits are the graph output (hls4ml drops an Identity, and the output)
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [cur], name=f"add{i}"))
        act = act @ fake_quant(w, wscale, -wmax, wmax) + b
        if not last:
            nodes.append(helper.make_node("Relu", [cur], [f"relu{i}"], name=f"relu{i}"))
            act = np.maximum(act, 0)
            amax = (1 << abits) - 1
            ascale = _pot_scale(float(np.percentile(act, 99.9)), amax)
            cur = quant(f"qa{i}", f"relu{i}", ascale, abits, False, False)
            act = fake_quant(act, ascale, 0, amax)
    graph = helper.make_graph(nodes, "float_input_mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, sizes[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ModelWrapper(model).save(str(path))
    return path


def write_data(path, n: int = 2000, seed: int = 7) -> Path:
    """A labelled test set for the model as ``--data`` takes it (arrays x, y)."""
    x, y = jet_like_data(n, seed=seed)
    path = Path(path)
    np.savez(path, x=x, y=y)
    return path


if __name__ == "__main__":  # python -m hwkit.zoo.float_input MODEL.onnx DATA.npz
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m hwkit.zoo.float_input MODEL.onnx DATA.npz")
    print(float_input_mlp(sys.argv[1]), write_data(sys.argv[2]))
