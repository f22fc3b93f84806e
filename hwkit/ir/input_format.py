"""The input format of a model whose input has no quantizer (QKeras/hls4ml style: float data straight into
the first MatMul or Conv): ``--input-format`` and the model pass that puts a QONNX ``Quant`` in front of
the graph input, so the golden model, the Verilog and hls4ml all see one integer input grid.

Spellings (one grammar, :func:`parse_input_format`):

- ``fixed<W,I>``  signed, W bits in all, I of them integer bits including the sign (as ap_fixed<W,I>):
  step ``2^-(W-I)``, range ``[-2^(I-1), 2^(I-1) - step]``;
- ``ufixed<W,I>`` unsigned (as ap_ufixed<W,I>): range ``[0, 2^I - step]``;
- ``int<B>`` / ``uint<B>`` integers of B bits, optionally times a power of two: ``int<8>*2^-4`` is
  ``fixed<8,4>``; ``uint<8>*2^-8`` is ``ufixed<8,0>`` (the input range [0, 1)).

The quantizer rounds half to even and saturates (QONNX ``Quant``, ``rounding_mode=ROUND``), so data
beyond the range clip to its ends. At most 24 bits: a float32 holds every value of the grid exactly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

from hwkit.errors import ConfigError

MAX_BITS = 24        # float32's mantissa: wider grids are not exact in qonnx's float execution
MAX_EXPONENT = 64    # |log2 step|: beyond this the format is a typo, not a sensor
DEFAULT_BITS = 16    # hls4ml's default ap_fixed<16,6> width
QUANT_NODE = "hwkit_input_quant"
QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")
# ops the translation runs on the host before the first quantizer (hwkit.ir.ops_misc: Pre values)
# (and a few that exports leave before qonnx's cleanup removes them)
HOST_OPS = ("Add", "Sub", "Mul", "Div", "Reshape", "Transpose", "Identity", "Flatten", "Squeeze", "Unsqueeze",
            "Dropout", "Cast")

_SPELLINGS = ("expected fixed<W,I>, ufixed<W,I>, int<B> or uint<B>, the last two optionally times a power of "
              "two (int<8>*2^-4)")
_FIXED = re.compile(r"(u?)fixed<(\d+),([+-]?\d+)>")
_INT = re.compile(r"(u?)int<(\d+)>(?:\*2\^([+-]?\d+))?")


@dataclass(frozen=True)
class InputFormat:
    """``bits``-bit integers (signed or not) times ``2**exponent``: the input quantizer's grid."""

    signed: bool
    bits: int
    exponent: int

    @property
    def scale(self) -> float:
        return 2.0 ** self.exponent

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lo(self) -> float:
        return self.qmin * self.scale

    @property
    def hi(self) -> float:
        return self.qmax * self.scale

    @property
    def int_bits(self) -> int:
        return self.bits + self.exponent

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.bits},{self.int_bits}>"

    def record(self) -> dict:
        return {"format": str(self), "signed": self.signed, "bits": self.bits, "scale": self.scale,
                "min": self.lo, "max": self.hi}


def parse_input_format(text: str, option: str = "--input-format") -> InputFormat:
    """``fixed<W,I>`` | ``ufixed<W,I>`` | ``int<B>`` | ``uint<B>`` [``*2^E``] -> :class:`InputFormat`.
    Anything else is one ConfigError line saying what is expected."""
    s = re.sub(r"\s+", "", str(text)).lower()
    m, n = _FIXED.fullmatch(s), _INT.fullmatch(s)
    if m:
        signed, bits = not m.group(1), int(m.group(2))
        exponent = int(m.group(3)) - bits
    elif n:
        signed, bits, exponent = not n.group(1), int(n.group(2)), int(n.group(3) or 0)
    else:
        raise ConfigError(f"{option} '{text}': {_SPELLINGS}, e.g. fixed<16,6>")
    least = 2 if signed else 1
    if not least <= bits <= MAX_BITS:
        raise ConfigError(f"{option} '{text}': {'signed' if signed else 'unsigned'} formats take {least} to "
                          f"{MAX_BITS} bits (float32 holds {MAX_BITS}-bit grids exactly), got {bits}")
    if abs(exponent) > MAX_EXPONENT:
        raise ConfigError(f"{option} '{text}': the step 2^{exponent} is beyond 2^+-{MAX_EXPONENT}; "
                          f"check the integer bits")
    return InputFormat(signed, bits, exponent)


# ---- the model: does it quantize its input, and the pass that makes it ------------------------------

def input_quantizer(model) -> Optional[str]:
    """The node that quantizes the graph input (through host ops, as the translation allows), or the
    input's integer datatype annotation; None for a float-input model."""
    inp = model.graph.input[0].name
    dt = model.get_tensor_datatype(inp)
    if dt is not None and dt.is_integer():
        return f"datatype {dt.name} of input '{inp}'"
    frontier, seen = [inp], set()
    while frontier:
        t = frontier.pop()
        for node in model.find_consumers(t) or []:
            key = tuple(node.output)  # protobuf hands out new wrapper objects: their id() is no identity
            if node.input[0] != t or key in seen:
                continue
            seen.add(key)
            if node.op_type in QUANT_OPS:
                return node.name or node.op_type
            if node.op_type in HOST_OPS:
                frontier.extend(node.output)
    return None


def quantizes_input(model) -> Optional[str]:
    """:func:`input_quantizer` of the model as given or, when that finds none, after qonnx's clean-up (which
    folds what exports leave between the input and its quantizer): a model hwkit lowers today is never
    given a second input quantizer."""
    found = input_quantizer(model)
    if found is None:
        from hwkit.ir.passes import cleanup, load

        try:
            found = input_quantizer(cleanup(load(model)))
        except Exception:  # noqa: BLE001 - a model qonnx cannot clean: the lowering names its problem
            found = None
    return found


def insert_input_quant(model, fmt: InputFormat):
    """The model pass: a copy of ``model`` (ModelWrapper) with a QONNX Quant of ``fmt`` between the graph
    input and every node that read it."""
    from onnx import helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper

    m = ModelWrapper(model.model.SerializeToString())
    inp = m.graph.input[0].name
    names = {t for n in m.graph.node for t in (*n.input, *n.output)} | {i.name for i in m.graph.initializer}
    out = _fresh(f"{inp}_quant", names)
    params = [_fresh(f"{QUANT_NODE}_{p}", names) for p in ("scale", "zeropt", "bitwidth")]
    for name, value in zip(params, (fmt.scale, 0.0, float(fmt.bits))):
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    for node in m.graph.node:
        node.input[:] = [out if i == inp else i for i in node.input]
    for o in m.graph.output:
        if o.name == inp:
            raise ConfigError(f"graph input '{inp}' is also a graph output: nothing to quantize in front of")
    node = helper.make_node("Quant", [inp, *params], [out], name=_fresh(QUANT_NODE, {n.name for n in m.graph.node}),
                            domain="qonnx.custom_op.general", signed=int(fmt.signed), narrow=0, rounding_mode="ROUND")
    m.graph.node.insert(0, node)
    from qonnx.transformation.infer_shapes import InferShapes

    return m.transform(InferShapes())  # the new tensor gets its shape, as qonnx's executor wants


def _fresh(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    return name


# ---- the default: cover the data, keep the first layer's accumulator within bounds ------------------

def _first_layer(model) -> Optional[tuple[int, int, str]]:
    """(largest sum of |integer weights| over one output, fan-in, node name) of the first MatMul/Gemm/Conv
    the input reaches, when its weights are a constant through a Quant: what bounds its accumulator."""
    frontier = [model.graph.input[0].name]
    while frontier:
        t = frontier.pop()
        for node in model.find_consumers(t) or []:
            if node.op_type in HOST_OPS:
                frontier.extend(node.output)
            elif node.op_type in ("MatMul", "Gemm", "Conv") and len(node.input) > 1:
                wq = model.find_producer(node.input[1])
                if wq is None or wq.op_type != "Quant":
                    return None
                w, s = model.get_initializer(wq.input[0]), model.get_initializer(wq.input[1])
                if w is None or s is None or np.any(s <= 0):
                    return None
                q = np.abs(np.round(w / s))
                trans_b = any(a.name == "transB" and a.i for a in node.attribute)
                if node.op_type == "Conv" or trans_b:  # (outputs, inputs...) -> (inputs, outputs)
                    q = q.reshape(q.shape[0], -1).T
                q = q.reshape(q.shape[0], -1)
                return int(q.sum(axis=0).max()), int(q.shape[0]), node.name or node.op_type
    return None


def default_input_format(x, model=None, max_acc_bits: int = 32) -> tuple[InputFormat, str]:
    """(format, why): 16-bit fixed point with the integer bits that cover the data ``x`` (unsigned when
    no value is negative), fewer bits when the first layer's accumulator would pass ``max_acc_bits``;
    fixed<16,6> (hls4ml's default) when there is no data."""
    x = None if x is None or np.asarray(x).size == 0 else np.asarray(x, dtype=np.float64)
    signed = x is None or float(x.min()) < 0
    bits, why_bits = DEFAULT_BITS, ""
    first = _first_layer(model) if model is not None else None
    if first is not None:
        l1, fan_in, name = first
        # |acc| <= l1 * 2^magnitude bits, with one bit for the sign and one for the bias
        room = max_acc_bits - 2 - math.ceil(math.log2(l1 + 1)) + int(signed)
        if room < bits:
            bits = max(2, room)
            why_bits = (f", {bits} bits so that '{name}' ({fan_in} inputs) accumulates within {max_acc_bits} bits")
    if x is None:
        return (InputFormat(True, bits, 6 - bits),
                f"no data to measure the input range: hls4ml's default fixed<16,6>{why_bits}")
    lo, hi = float(x.min()), float(x.max())
    fmt = None
    for int_bits in range(1, MAX_EXPONENT):
        fmt = InputFormat(signed, bits, int_bits - bits)
        if fmt.lo <= lo and hi <= fmt.hi:
            break
    return fmt, f"covers the data's range [{lo:.4g}, {hi:.4g}]{why_bits}"


@dataclass(frozen=True)
class InputChoice:
    """What the build did about the input: the format, where it came from, and why."""

    format: InputFormat
    source: str  # '--input-format' | 'default'
    why: str = ""

    def line(self) -> str:
        if self.source == "default":
            return (f"input: the model has no input quantizer; hwkit picked {self.format} ({self.why}); "
                    f"give --input-format to choose")
        return f"input: quantized as {self.format} (--input-format)"

    def record(self) -> dict:
        return self.format.record() | {"source": self.source, "why": self.why}


def choose_input_format(model, requested: str = "", x=None, max_acc_bits: int = 32) -> Optional[InputChoice]:
    """The input format for ``model`` (a ModelWrapper): ``requested`` when given, else a default from the
    data ``x``; None when the model already quantizes its input. A model that already has an input
    quantizer AND a requested format is refused: two quantizers in a row are not what the user meant,
    and silently dropping either would build something other than what was asked for."""
    have = quantizes_input(model)
    if have is not None:
        if requested:
            raise ConfigError(f"--input-format {requested}: the model already quantizes its input ({have}); "
                              f"drop --input-format, or remove that quantizer from the model")
        return None
    if requested:
        return InputChoice(parse_input_format(requested), "--input-format")
    fmt, why = default_input_format(x, model, max_acc_bits)
    return InputChoice(fmt, "default", why)


def quantized_model(model, requested: str = "", x=None):
    """``(model with its input quantized, InputChoice or None)``; the model unchanged when it has an input
    quantizer."""
    choice = choose_input_format(model, requested, x)
    return (model, None) if choice is None else (insert_input_quant(model, choice.format), choice)


def model_input_shape(model) -> tuple[int, ...]:
    """The graph input's shape without the batch axis (for choosing data before lowering)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(int(d.dim_value) for d in dims[1:])


# ---- the input-quantization error: quantized-input outputs vs the original model's float outputs ----

def input_quantization_error(float_out, quant_out, y=None) -> dict:
    """Max and mean absolute deviation of the outputs, argmax agreement and (with labels ``y``, -1 =
    none) the accuracy of each side, over the same inputs."""
    a = np.asarray(float_out, dtype=np.float64)
    b = np.asarray(quant_out, dtype=np.float64)
    n = len(a)
    a, b = a.reshape(n, -1), b.reshape(n, -1)
    if a.shape != b.shape:
        raise ConfigError(f"outputs differ in shape: float {a.shape} vs quantized-input {b.shape}")
    d = np.abs(a - b)
    rec = {"samples": int(n), "max_abs_deviation": float(d.max()) if n else None,
           "mean_abs_deviation": float(d.mean()) if n else None,
           "argmax_agreement": float(np.mean(a.argmax(1) == b.argmax(1))) if n else None,
           "accuracy_float_input": None, "accuracy_quantized_input": None}
    if y is not None and n and int(np.min(y)) >= 0:
        rec["accuracy_float_input"] = float(np.mean(a.argmax(1) == y))
        rec["accuracy_quantized_input"] = float(np.mean(b.argmax(1) == y))
    return rec


def error_line(err: dict) -> str:
    if not err.get("samples"):
        return "input-quantization error not measured (no data)"
    s = (f"input quantization error ({err['samples']} samples): |dev| max {err['max_abs_deviation']:.3g} "
         f"mean {err['mean_abs_deviation']:.3g}, argmax {100 * err['argmax_agreement']:.1f}%")
    if err.get("accuracy_float_input") is not None:
        s += f", accuracy {err['accuracy_float_input']:.4f} -> {err['accuracy_quantized_input']:.4f}"
    return s


def is_float_input_file(path) -> bool:
    """Whether the .onnx at ``path`` has no input quantizer (cached by path, size and modification time: the
    build asks before every run)."""
    from pathlib import Path

    p = Path(path)
    if p.suffix != ".onnx" or not p.is_file():
        return False
    st = p.stat()
    return _float_input_file(str(p.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _float_input_file(path: str, size: int, mtime_ns: int) -> bool:
    from hwkit.ir.passes import load

    try:
        return quantizes_input(load(path)) is None
    except Exception:  # noqa: BLE001 - an unreadable file: the export stage names the problem
        return False
