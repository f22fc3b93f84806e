"""Hand-built QONNX models for the layout kinds' tests (ArgMax/TopK, Concat, Pad, Resize), written with
onnx.helper and qonnx Quant nodes, plus the checks every kind goes through. No tests here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper


class Net:
    """A tiny graph under construction: ``cur`` is the tensor the next op reads."""

    def __init__(self, in_shape, in_bits=4, in_scale=2.0 ** -2, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.in_shape = tuple(in_shape)
        self.n = 0
        self.cur = self.quant("x", in_scale, in_bits, signed=True)

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def const(self, value, dtype=np.float32, base="c"):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def quant(self, x, scale, bits, signed=True, narrow=False, zeropt=0.0):
        name = self.name("q")
        ins = [x, self.const(scale), self.const(zeropt), self.const(float(bits))]
        self.nodes.append(helper.make_node("Quant", ins, [name + "_out"], domain="qonnx.custom_op.general", name=name,
                                           signed=int(signed), narrow=int(narrow), rounding_mode="ROUND"))
        return name + "_out"

    def op(self, op_type, inputs, n_out=1, **attrs):
        name = self.name(op_type.lower())
        outs = [f"{name}_out{i}" if i else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def weights(self, shape, bits=4, scale=2.0 ** -3):
        hi = (1 << (bits - 1)) - 1
        w = self.rng.integers(-hi, hi + 1, shape).astype(np.float32) * scale
        return self.quant(self.const(w), scale, bits, narrow=True)

    def dense(self, x, k, m, bits=4):
        return self.op("MatMul", [x, self.weights((k, m), bits)])

    def conv(self, x, cin, cout, k=3, pad=1, bits=4):
        return self.op("Conv", [x, self.weights((cout, cin, k, k), bits)], kernel_shape=[k, k], pads=[pad] * 4)

    def act(self, x, bits=3, scale=2.0 ** -2, signed=False):
        return self.quant(self.op("Relu", [x]) if not signed else x, scale, bits, signed=signed)

    def save(self, path, out, out_type=TensorProto.FLOAT) -> Path:
        g = helper.make_graph(self.nodes, "layout_test",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *self.in_shape])],
                              [helper.make_tensor_value_info(out, out_type, None)], self.inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
        ModelWrapper(model).save(str(path))
        return Path(path)


def golden_matches_qonnx(path, n, seed=0):
    """golden == qonnx execution on ``n`` random grid inputs: the report (asserted exact)."""
    from hwkit.verify import golden_vs_qonnx

    rep = golden_vs_qonnx(str(path), n=n, seed=seed)
    assert rep.inputs == n
    assert rep.mismatches == 0, rep.summary()
    return rep


def have_verilator() -> bool:
    try:
        from hwkit.tools import verilator

        verilator.find_verilator()
        return True
    except Exception:  # noqa: BLE001
        return False


def rtl_matches_golden(graph, n, core, seed=0, **gen):
    """Verilator cosim on ``n`` random grid inputs: 0 mismatches and measured II == both cycle models."""
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import random_grid_inputs

    x = random_grid_inputs(graph, n, seed)
    res = cosimulate(graph, x, core, generate_first=True, **gen)
    assert res.mismatches == 0, res.report.summary()
    assert res.ii_measured == res.ii_model == res.extra["ii_cycle_model"], res.as_dict()
    assert res.ii_min == res.ii_max == res.ii_measured
    stalled = cosimulate(graph, x[:150], core, stall_in=30, stall_out=40, seed=seed + 1)
    assert stalled.mismatches == 0
    return res
