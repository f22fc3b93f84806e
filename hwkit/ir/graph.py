"""HwGraph: hwkit's integer dataflow IR.

A DAG of hardware layers connected by typed integer streams. Everything a backend needs to build
the accelerator, and everything the golden simulator needs to compute its exact outputs, lives
here: integer parameters, stream types, scales, folding. Nothing refers back to ONNX.

Conventions shared by the simulator and every backend:
- A stream carries, per sample, an integer tensor of ``shape`` in *channels-last* order
  ((C,) for vectors, (H, W, C) for feature maps). Its real value is ``int * scale``; ``scale`` is
  a scalar or a per-channel vector (length C).
- Layers are kept in topological order in ``HwGraph.layers``.
- Integer arrays are ``np.int64``; a value that would overflow 62 bits is rejected by lowering.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hwkit.ir.types import IntType


@dataclass
class Stream:
    name: str
    shape: tuple[int, ...]
    dtype: IntType
    scale: np.ndarray | float = 1.0

    @property
    def channels(self) -> int:
        return self.shape[-1]


@dataclass
class Layer:
    """Base of every hardware layer: named, reads ``inputs`` and writes ``outputs`` (stream names)."""

    name: str
    inputs: list[str]
    outputs: list[str]

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass
class Folding:
    """How many output channels (PE) and input elements (SIMD) a layer handles per cycle."""

    pe: int = 1
    simd: int = 1


@dataclass
class MVU(Layer):
    """Matrix-vector unit: ``acc[o] = sum_i W[o, i] * x[i] + bias[o]`` for each pixel of the input.

    ``weights`` is (MH, MW) = (outputs, inputs). For a convolution, the input comes from a
    :class:`SlidingWindow` whose last axis is ordered (kh, kw, c) and MW = KH*KW*C.
    ``transposed_of`` names another MVU whose weight memory this one reads transposed (the stable
    symmetric block's K^T): then ``weights`` equals that layer's weights transposed, kept for the
    simulator, and backends must not store it twice.
    """

    weights: np.ndarray = None
    wtype: IntType = None
    bias: Optional[np.ndarray] = None
    acc: IntType = None
    folding: Folding = field(default_factory=Folding)
    transposed_of: Optional[str] = None

    @property
    def mh(self) -> int:
        return int(self.weights.shape[0])

    @property
    def mw(self) -> int:
        return int(self.weights.shape[1])


@dataclass
class SlidingWindow(Layer):
    """im2col of an (H, W, C) stream into (OH, OW, KH*KW*C), padding with ``pad_value``."""

    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    pad_value: int = 0


@dataclass
class Threshold(Layer):
    """Multi-threshold activation (FINN's convention): ``y = base + sum_k (x >= T[c, k])``.

    ``thresholds`` is (C, N) or (1, N), each row sorted ascending; N = number of output levels - 1.
    Any monotone requantization (BatchNorm, float scales, Relu, rounding) folds into it exactly.
    If the output stream is bipolar (N = 1), the output is ``2 * sum - 1`` in {-1, +1} (``base``
    is -1 then); its stored bit is ``sum``. Exact rational boundaries per (channel, level) are in
    ``HwGraph.meta['boundaries'][name]`` (used to flag rounding ties).
    """

    thresholds: np.ndarray = None
    base: int = 0
    folding: Folding = field(default_factory=Folding)


@dataclass
class ShiftRound(Layer):
    """Power-of-two requantization: ``y = clip(round(x * 2**-shift), lo, hi)``.

    ``shift`` > 0 divides (with ``rounding`` 'half_even' as ONNX/qonnx ROUND, 'half_up', or
    'floor'), ``shift`` <= 0 multiplies exactly. ``lo``/``hi`` clip (a Relu folds into lo = 0).
    """

    shift: int = 0
    rounding: str = "half_even"
    lo: int = 0
    hi: int = 0


@dataclass
class Pool(Layer):
    """Max or average pooling over (H, W). Average pooling is ``floor(sum / 2**shift)`` as QONNX
    Trunc after a sum (``mode='avg'``, ``shift`` set); max pooling is exact on integers."""

    mode: str = "max"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    shift: int = 0


@dataclass
class Add(Layer):
    """Elementwise add of two streams aligned to a common scale: ``y = (a << sa) + (b << sb)``."""

    shifts: tuple[int, int] = (0, 0)
    signs: tuple[int, int] = (1, 1)


@dataclass
class Reshape(Layer):
    """Stream re-ordering: ``y = x.transpose(perm).reshape(shape)`` per sample (flatten etc.)."""

    perm: Optional[tuple[int, ...]] = None
    shape: tuple[int, ...] = ()


@dataclass
class SymmetricBlock(Layer):
    """Stable PDE block: ``y = Q_out(x - h * K^T Q_mid(s(K x)))`` with one weight memory K.

    The parts are ordinary layers held in ``body`` (K as MVU, the inner requantization, K^T as an
    MVU with ``transposed_of`` set to K's name, the residual :class:`Add`, the output
    requantization), run in order; the block exists so backends can see they share K.
    """

    body: list[Layer] = field(default_factory=list)
    streams: dict[str, Stream] = field(default_factory=dict)


@dataclass
class FloatTail(Layer):
    """What is not hardware, kept explicit: ``y = x * scale + offset``, then optional softmax/argmax.

    The integer input is what the accelerator emits; the tail runs on the host in float64.
    """

    scale: np.ndarray | float = 1.0
    offset: np.ndarray | float = 0.0
    softmax: bool = False
    ops: list[str] = field(default_factory=list)


@dataclass
class HwGraph:
    name: str
    streams: dict[str, Stream]
    layers: list[Layer]
    inputs: list[str]
    outputs: list[str]
    meta: dict = field(default_factory=dict)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def producer(self, stream: str) -> Optional[Layer]:
        for layer in self.layers:
            if stream in layer.outputs:
                return layer
        return None

    def consumers(self, stream: str) -> list[Layer]:
        return [layer for layer in self.layers if stream in layer.inputs]

    def hardware_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if not isinstance(layer, FloatTail)]
