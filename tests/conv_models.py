"""Small Brevitas models with the convolutions hwkit lowers beyond plain 2-D: depthwise-separable,
grouped, dilated and 1-D (power-of-two scales, so golden == qonnx exactly)."""
from __future__ import annotations

import torch

import golden_helpers as gh


def _q(wbits, abits):
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint

    wq = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=wbits, weight_narrow_range=True,
              bias=True, bias_quant=Int32Bias, return_quant_tensor=True)
    act = dict(act_quant=Uint8ActPerTensorFixedPoint, bit_width=abits, max_val=2.0, return_quant_tensor=True)
    return wq, act


def _input(ibits):
    import brevitas.nn as qnn

    from hwkit.zoo.quant import InputQuantPoT

    return qnn.QuantIdentity(act_quant=InputQuantPoT, bit_width=ibits, max_val=1.0, return_quant_tensor=True)


def dw_separable(c=4, out=6, hw=6, k=3, dilation=1, groups=None, wbits=3, abits=3, ibits=4, seed=0, classes=3):
    """Depthwise (groups=c; or ``groups``) kxk conv (pad 1, dilated) + act, pointwise 1x1 + act, linear."""
    import brevitas.nn as qnn

    torch.manual_seed(seed)
    wq, act = _q(wbits, abits)
    g = c if groups is None else groups
    pad = dilation * (k - 1) // 2
    oh = hw + 2 * pad - dilation * (k - 1)
    model = torch.nn.Sequential(
        _input(ibits),
        qnn.QuantConv2d(c, c if groups is None else out, k, padding=pad, dilation=dilation, groups=g, **wq),
        qnn.QuantReLU(**act),
        qnn.QuantConv2d(c if groups is None else out, out, 1, **wq), qnn.QuantReLU(**act),
        torch.nn.Flatten(), qnn.QuantLinear(out * oh * oh, classes, **wq))
    gh._scramble(model, seed)
    return model, (c, hw, hw)


def conv1d(cin=2, ch=4, length=12, k=3, dilation=1, depthwise=True, stride=1, wbits=3, abits=3, ibits=4, seed=0,
           classes=3):
    """Conv1d (pad 1) + act, [depthwise Conv1d + act], linear."""
    import brevitas.nn as qnn

    torch.manual_seed(seed)
    wq, act = _q(wbits, abits)
    pad = dilation * (k - 1) // 2
    l1 = (length + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    layers = [_input(ibits), qnn.QuantConv1d(cin, ch, k, padding=pad, dilation=dilation, stride=stride, **wq),
              qnn.QuantReLU(**act)]
    if depthwise:
        layers += [qnn.QuantConv1d(ch, ch, 3, padding=1, groups=ch, **wq), qnn.QuantReLU(**act)]
    layers += [torch.nn.Flatten(), qnn.QuantLinear(ch * l1, classes, **wq)]
    model = torch.nn.Sequential(*layers)
    gh._scramble(model, seed)
    return model, (cin, length)


def dw_batchnorm(c=4, out=5, hw=6, seed=0, classes=3):
    """Brevitas' default float-scale quantizers (signed 4-bit input), depthwise conv + BatchNorm + ReLU,
    pointwise + BatchNorm + ReLU, linear: requantization by thresholds after the VVU."""
    import brevitas.nn as qnn

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=4, return_quant_tensor=True),
        qnn.QuantConv2d(c, c, 3, groups=c, padding=1, weight_bit_width=3, bias=False), torch.nn.BatchNorm2d(c),
        qnn.QuantReLU(bit_width=3, return_quant_tensor=True),
        qnn.QuantConv2d(c, out, 1, weight_bit_width=3, bias=False), torch.nn.BatchNorm2d(out),
        qnn.QuantReLU(bit_width=3, return_quant_tensor=True),
        torch.nn.Flatten(), qnn.QuantLinear(out * hw * hw, classes, bias=False, weight_bit_width=3))
    gh.randomize_bn(model, seed)
    return model, (c, hw, hw)


def export(builder, path, **kw):
    model, shape = builder(**kw)
    return gh.export(model, shape, path)
