"""Model builders for the golden-model tests: real Brevitas exports (bnn_pynq, random small nets)
and hand-built QONNX graphs in the style of QKeras conversions."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper


def export(model: torch.nn.Module, in_shape, path) -> Path:
    from brevitas.export import export_qonnx

    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        export_qonnx(model, args=torch.rand(1, *in_shape), export_path=str(path), dynamo=False)
    return Path(path)


def randomize_bn(model: torch.nn.Module, seed: int = 0):
    """Untrained BatchNorm is the identity; random statistics make thresholds non-trivial."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) * 4 - 2)
            mod.running_var.copy_(torch.rand(n, generator=g) * 2.5 + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            mod.bias.data.copy_(torch.rand(n, generator=g) * 2 - 1)
    return model


def bnn_pynq(name: str, path, seed: int = 0) -> Path:
    """FINN's BNN-PYNQ TFC/SFC/LFC/CNV from brevitas_examples (untrained, random BatchNorm stats)."""
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(seed)
    model, _ = model_with_cfg(name, False)
    randomize_bn(model, seed)
    shape = (3, 32, 32) if name.startswith("cnv") else (1, 28, 28)
    return export(model, shape, path)


def pot_mlp(sizes, wbits, abits, ibits, seed=0, bias=True):
    """A small Brevitas MLP with power-of-two scales and integer biases (hardware exact)."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint

    from hwkit.zoo.quant import InputQuantPoT

    torch.manual_seed(seed)
    layers = [qnn.QuantIdentity(act_quant=InputQuantPoT, bit_width=ibits, max_val=1.0, return_quant_tensor=True)]
    for i in range(len(sizes) - 1):
        layers.append(qnn.QuantLinear(sizes[i], sizes[i + 1], weight_quant=Int8WeightPerTensorFixedPoint,
                                      weight_bit_width=wbits, weight_narrow_range=True, bias=bias,
                                      bias_quant=Int32Bias if bias else None, return_quant_tensor=True))
        if i < len(sizes) - 2:
            layers.append(qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=abits, max_val=2.0,
                                        return_quant_tensor=True))
    model = torch.nn.Sequential(*layers)
    _scramble(model, seed)
    return model


def pot_cnn(channels, wbits, abits, ibits, in_shape=(1, 8, 8), pool="max", seed=0, classes=4):
    """conv3x3 (pad 1) + act, pooling (max or Trunc average), conv, flatten, linear."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint

    from hwkit.zoo.quant import InputQuantPoT

    torch.manual_seed(seed)
    wq = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=wbits, weight_narrow_range=True,
              bias=True, bias_quant=Int32Bias, return_quant_tensor=True)
    act = dict(act_quant=Uint8ActPerTensorFixedPoint, bit_width=abits, max_val=2.0, return_quant_tensor=True)
    c0 = in_shape[0]
    pooling = torch.nn.MaxPool2d(2) if pool == "max" else qnn.TruncAvgPool2d(2, stride=2, bit_width=abits + 2,
                                                                           return_quant_tensor=True)
    h = in_shape[1] // 2 - 2
    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=InputQuantPoT, bit_width=ibits, max_val=1.0, return_quant_tensor=True),
        qnn.QuantConv2d(c0, channels, 3, padding=1, **wq), qnn.QuantReLU(**act), pooling,
        qnn.QuantConv2d(channels, channels, 3, **wq), qnn.QuantReLU(**act),
        torch.nn.Flatten(), qnn.QuantLinear(channels * h * h, classes, **wq))
    _scramble(model, seed)
    return model


def _scramble(model, seed):
    """Spread weights over the whole quantizer grid (default init uses only a few levels)."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 0.6)
            else:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 0.5)


# ---- hand-built QONNX (QKeras -> QONNX converter style) -----------------------------------------

def _quant(name, x, scale, bits, signed=True, narrow=False, out=None, mode="ROUND"):
    inits = [numpy_helper.from_array(np.asarray(scale, np.float32), f"{name}_s"),
             numpy_helper.from_array(np.zeros((), np.float32), f"{name}_z"),
             numpy_helper.from_array(np.asarray(float(bits), np.float32), f"{name}_b")]
    node = helper.make_node("Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out or f"{name}_out"],
                            domain="qonnx.custom_op.general", name=name, signed=int(signed), narrow=int(narrow),
                            rounding_mode=mode)
    return node, inits


def qkeras_style_mlp(path, sizes=(16, 32, 16, 5), in_bits=16, in_int=6, wbits=6, abits=6, seed=0,
                     float_weight_scale=True, float_bias=True, softmax=True):
    """Jet-tagger-like QONNX: input Quant (fixed<16,6>), per layer Quant(weights, float scale
    per output) -> MatMul -> Add(float bias) -> Relu -> Quant(unsigned, PoT); last layer bias +
    Softmax. This is what qonnx's QKeras converter emits (weights as Quant on initializers)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    n, ii = _quant("qin", "x", 2.0 ** -(in_bits - in_int), in_bits)
    nodes.append(n), inits.extend(ii)
    cur = "qin_out"
    for i in range(len(sizes) - 1):
        k, m = sizes[i], sizes[i + 1]
        w = rng.normal(0, 0.5, (k, m)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        wscale = (rng.uniform(0.5, 1.5, (1, m)) * 2.0 ** -(wbits - 2)).astype(np.float32) if float_weight_scale \
            else np.full((1, m), 2.0 ** -(wbits - 2), np.float32)
        n, ii = _quant(f"qw{i}", f"w{i}", wscale, wbits, narrow=True)
        nodes.append(n), inits.extend(ii)
        nodes.append(helper.make_node("MatMul", [cur, f"qw{i}_out"], [f"mm{i}"], name=f"mm{i}"))
        b = rng.normal(0, 0.3, (m,)).astype(np.float32)
        if not float_bias:
            b = np.round(b * 64) / 64
        inits.append(numpy_helper.from_array(b, f"b{i}"))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"], name=f"add{i}"))
        cur = f"add{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [cur], [f"relu{i}"], name=f"relu{i}"))
            n, ii = _quant(f"qa{i}", f"relu{i}", 2.0 ** -(abits - 2), abits, signed=False)
            nodes.append(n), inits.extend(ii)
            cur = f"qa{i}_out"
    if softmax:
        nodes.append(helper.make_node("Softmax", [cur], ["y"], name="softmax", axis=-1))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["y"], name="ident"))
    graph = helper.make_graph(nodes, "qkeras_style", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                       [1, sizes[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, sizes[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    mw = ModelWrapper(model)
    mw.save(str(path))
    return Path(path)


def cybsec_style_mlp(path, in_features=60, hidden=16, seed=0) -> Path:
    """FINN's cybersecurity example shape: bipolar input declared by a datatype annotation (no
    Quant node), ``(x + 1) / 2`` in the graph, 2-bit weights/activations with float scales,
    BatchNorm, float bias, and a bipolar output quantizer."""
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst
    from qonnx.core.datatype import DataType

    torch.manual_seed(seed)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                qnn.QuantLinear(in_features, hidden, bias=True, weight_bit_width=2),
                torch.nn.BatchNorm1d(hidden), torch.nn.Dropout(0.5), qnn.QuantReLU(bit_width=2),
                qnn.QuantLinear(hidden, 1, bias=True, weight_bit_width=2))
            self.out = qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)

        def forward(self, x):
            return self.out(self.body((x + torch.tensor([1.0])) / 2.0))

    net = Net()
    randomize_bn(net, seed)
    export(net, (in_features,), path)
    m = ModelWrapper(str(path))
    m.set_tensor_datatype(m.graph.input[0].name, DataType["BIPOLAR"])
    m.save(str(path))
    return Path(path)


def activate_stable_blocks(model: torch.nn.Module, gain: float = 8.0) -> torch.nn.Module:
    """Scale every symmetric block's K so its K^T path changes the stream.

    At random initialisation and 2 bits, ``h * K^T z`` stays below half an LSB of ``x`` and the output
    requantizer rounds it away: the block is the identity, and a wrong K^T (unflipped taps, a
    transposed index) would give the very same outputs. Tests that check K^T must use active blocks;
    :func:`stable_block_activity` measures it."""
    from hwkit.zoo.stable import SymmetricConvBlock, SymmetricLinearBlock

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (SymmetricConvBlock, SymmetricLinearBlock)):
                mod.K.weight.mul_(gain)
    return model


def stable_block_activity(onnx_path, n: int = 200, seed: int = 0) -> list[float]:
    """Per residual add of the golden graph: the fraction of stream elements the block changed
    (requantized output != block input), over ``n`` random grid inputs."""
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.ir.graph import Add, ShiftRound
    from hwkit.sim import simulate

    g = lower(str(onnx_path))
    res = simulate(g, random_grid_inputs(g, n, seed), trace=True)
    producer = {t: lay for lay in g.layers for t in lay.outputs}
    out = []
    for add in (lay for lay in g.layers if isinstance(lay, Add)):
        x = next(producer[t] for t in add.inputs if isinstance(producer.get(t), ShiftRound))
        requant = next(lay for lay in g.layers if lay.inputs and lay.inputs[0] == add.outputs[0])
        out.append(float(np.mean(res.trace[x.name] != res.trace[requant.name])))
    return out
