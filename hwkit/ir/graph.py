"""HwGraph: hwkit's integer dataflow IR.

A DAG of hardware layers connected by typed integer streams. Everything a backend needs to build
the accelerator, and everything the golden simulator needs to compute its exact outputs, lives
here: integer parameters, stream types, scales, folding. Layers refer to nothing outside the graph;
the graph's records of where its streams sit in the source model (``input_prep``, ``probes``) are
tensor names and index arrays, not a model object.

Everything is frozen: layers, streams and the graph are immutable dataclasses whose arrays are
read-only private copies; a pass builds a changed copy with ``dataclasses.replace`` (and
``HwGraph.replace_layers``). So data derived from an object (simulator plans, schedules) can live on
that object (:func:`derived`) and never go stale.

Conventions shared by the simulator and every backend:
- A stream carries, per sample, an integer tensor of ``shape`` in *channels-last* order
  ((C,) for vectors, (H, W, C) for feature maps). Its real value is ``int * scale``; ``scale`` is
  a scalar or a per-channel vector (length C).
- Layers are kept in topological order in ``HwGraph.layers``.
- Integer arrays are ``np.int64``; a value that would overflow 62 bits is rejected by lowering.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from types import MappingProxyType
from typing import Mapping, Optional

import numpy as np

from hwkit.ir.types import IntType


def frozen_array(a) -> np.ndarray:
    """A read-only array that nobody else can write: a private copy unless ``a`` already is one."""
    a = np.asarray(a)
    if a.flags.writeable or a.base is not None:
        a = a.copy()
    a.setflags(write=False)
    return a


def _freeze(v):
    if isinstance(v, np.ndarray):
        return frozen_array(v)
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, (dict, MappingProxyType)):
        return MappingProxyType({k: _freeze(x) for k, x in v.items()})
    return v


def same(a, b) -> bool:
    """Structural equality over the IR's values: arrays by dtype, shape and content (NaN equal to
    NaN), mappings by keys and values, dataclasses field by field."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and \
            bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return isinstance(a, str) == isinstance(b, str) and bool(a == b)


def derived(obj) -> dict:
    """Data derived from one frozen IR object (simulator plans, schedules), kept on the object. It
    cannot go stale: the object and its arrays never change, and ``replace`` makes a new object
    that starts with an empty dict. Copies and pickles drop it (see :meth:`_Frozen.__reduce__`)."""
    try:
        return obj._derived
    except AttributeError:
        d: dict = {}
        object.__setattr__(obj, "_derived", d)
        return d


def _rebuild(cls, values: dict):
    return cls(**values)


class _Frozen:
    """Shared behaviour of the frozen IR dataclasses: lists become tuples, dicts read-only
    mappings, arrays read-only private copies; equality is structural."""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            fv = _freeze(v)
            if fv is not v:
                object.__setattr__(self, f.name, fv)

    def __eq__(self, other):
        return self is other or same(self, other)

    def __hash__(self):
        return hash((type(self).__name__, getattr(self, "name", None)))

    def __reduce__(self):  # copy/deepcopy/pickle rebuild through __init__: frozen again, no derived data
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return _rebuild, (type(self), {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in values.items()})


@dataclass(frozen=True, eq=False)
class Stream(_Frozen):
    name: str
    shape: tuple[int, ...]
    dtype: IntType
    scale: np.ndarray | float = 1.0

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def pixels(self) -> int:
        """Positions per sample: every axis but the channels (1 for a vector)."""
        return int(np.prod(self.shape[:-1])) if len(self.shape) > 1 else 1


@dataclass(frozen=True, eq=False)
class Layer(_Frozen):
    """Base of every hardware layer: named, reads ``inputs`` and writes ``outputs`` (stream names).
    Frozen: a pass makes a changed copy with :func:`dataclasses.replace`."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Folding:
    """How many output channels (PE) and input elements (SIMD) a layer handles per cycle."""

    pe: int = 1
    simd: int = 1


class WeightMatrix:
    """MH x MW = (outputs, inputs), the shape of a matrix unit's ``weights``."""

    @property
    def mh(self) -> int:
        return int(self.weights.shape[0])

    @property
    def mw(self) -> int:
        return int(self.weights.shape[1])


@dataclass(frozen=True, eq=False)
class MVU(WeightMatrix, Layer):
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


def adjoint_taps(k: np.ndarray, kt: np.ndarray) -> int | None:
    """T when ``kt`` is the adjoint of ``k`` over T window taps, else None. K is (O, T*C) in im2col
    order (tap-major, channel fastest); its adjoint (conv_transpose) is (C, T*O) with
    kt[c, t*O + o] = k[o, (T-1-t)*C + c]: taps flipped, channels swapped. T=1 is the plain transpose."""
    o, kw = k.shape
    c, ktw = kt.shape
    if kw % c or ktw != (kw // c) * o:
        return None
    t = kw // c
    adj = k.reshape(o, t, c)[:, ::-1, :].transpose(2, 1, 0).reshape(c, t * o)
    return t if np.array_equal(adj, kt) else None


@dataclass(frozen=True, eq=False)
class SlidingWindow(Layer):
    """im2col of an (H, W, C) stream into (OH, OW, KH*KW*C), padding with ``pad_value``."""

    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    pad_value: int = 0
    dilation: tuple[int, int] = (1, 1)  # tap spacing: tap (i, j) reads (oy*SH + i*DH, ox*SW + j*DW)


@dataclass(frozen=True, eq=False)
class Threshold(Layer):
    """Multi-threshold activation (FINN's convention): ``y = base + sum_k (x >= T[c, k])``.

    ``thresholds`` is (C, N) or (1, N), each row sorted ascending; N = number of output levels - 1.
    Any monotone requantization (BatchNorm, float scales, Relu, rounding) folds into it exactly.
    If the output stream is bipolar (N = 1), the output is ``2 * sum - 1`` in {-1, +1} (``base``
    is -1 then); its stored bit is ``sum``. Exact rational boundaries per (channel, level) are in
    ``HwGraph.boundaries[name]`` (used to flag rounding ties).
    """

    thresholds: np.ndarray = None
    base: int = 0
    folding: Folding = field(default_factory=Folding)


@dataclass(frozen=True, eq=False)
class ShiftRound(Layer):
    """Power-of-two requantization: ``y = clip(round(x * 2**-shift), lo, hi)``.

    ``shift`` > 0 divides (with ``rounding`` 'half_even' as ONNX/qonnx ROUND, 'half_up', or
    'floor'), ``shift`` <= 0 multiplies exactly. ``lo``/``hi`` clip (a Relu folds into lo = 0).
    """

    shift: int = 0
    rounding: str = "half_even"
    lo: int = 0
    hi: int = 0


@dataclass(frozen=True, eq=False)
class Pool(Layer):
    """Max or average pooling over (H, W). Average pooling is ``floor(sum / 2**shift)`` as QONNX
    Trunc after a sum (``mode='avg'``, ``shift`` set); max pooling is exact on integers."""

    mode: str = "max"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    shift: int = 0


@dataclass(frozen=True, eq=False)
class Add(Layer):
    """Elementwise add of two streams aligned to a common scale: ``y = (a << sa) + (b << sb)``."""

    shifts: tuple[int, int] = (0, 0)
    signs: tuple[int, int] = (1, 1)


@dataclass(frozen=True, eq=False)
class Reshape(Layer):
    """Stream re-ordering: ``y = x.transpose(perm).reshape(shape)`` per sample (flatten etc.)."""

    perm: Optional[tuple[int, ...]] = None
    shape: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class FloatTail(Layer):
    """What is not hardware, kept explicit: ``y = x * scale + offset``, then optional softmax/argmax.

    The integer input is what the accelerator emits; the tail runs on the host in float64.
    """

    scale: np.ndarray | float = 1.0
    offset: np.ndarray | float = 0.0
    softmax: bool = False
    ops: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class PrepOp(_Frozen):
    """One host-side float op between the model input and its first quantizer, applied in float32:
    ``Reshape``/``Transpose`` (``arg`` the ONNX shape or perm) or ``Add``/``Sub``/``Mul``/``Div`` with a
    constant (``const``; ``swapped``: the constant is the left operand)."""

    kind: str
    arg: tuple[int, ...] = ()
    const: Optional[np.ndarray] = None
    swapped: bool = False


@dataclass(frozen=True, eq=False)
class InputPrep(_Frozen):
    """How float model inputs become the integer input stream: the host ops, then the first
    quantizer ``clip(round(x / scale + zeropt), qmin, qmax)`` (``mode`` as qonnx's rounding mode),
    then ``index`` (ONNX element -> flat position in the channels-last ``stream``)."""

    stream: str
    ops: tuple[PrepOp, ...]
    onnx_input: str
    quant_input: str
    onnx_shape: tuple[int, ...]
    model_input_shape: tuple[int, ...]
    scale: np.ndarray
    zeropt: np.ndarray
    qmin: int
    qmax: int
    mode: str
    bipolar: bool
    index: np.ndarray


@dataclass(frozen=True, eq=False)
class Probe(_Frozen):
    """Where an integer stream appears in the ONNX model: ``onnx`` tensor = (stream at ``index`` -
    ``zeropt``) * ``scale`` (per stream channel)."""

    onnx: str
    index: np.ndarray
    scale: np.ndarray
    zeropt: np.ndarray


@dataclass(frozen=True, eq=False)
class FloatOutput(_Frozen):
    """The FloatTail output ``name`` of an integer output stream, and the ONNX tensor it equals."""

    name: str
    onnx: str


@dataclass(frozen=True, eq=False)
class HwGraph(_Frozen):
    """The whole graph, frozen. Besides layers and streams it records what ties it to the ONNX
    model it came from: ``input_prep`` (float inputs -> integer input stream), ``probes`` (stream ->
    ONNX tensor, for comparisons), ``boundaries`` (Threshold name -> exact real boundaries per
    channel and level, for tie flags), ``float_outputs`` (output stream -> its FloatTail) and
    ``constant_outputs`` (ONNX outputs that are not data, e.g. quant-tensor metadata)."""

    name: str
    streams: Mapping[str, Stream]
    layers: tuple[Layer, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    input_prep: Optional[InputPrep] = None
    probes: Mapping[str, Probe] = field(default_factory=dict)
    boundaries: Mapping[str, np.ndarray] = field(default_factory=dict)
    float_outputs: Mapping[str, FloatOutput] = field(default_factory=dict)
    constant_outputs: tuple[str, ...] = ()

    def _index(self) -> dict:
        d = derived(self)
        if "by_name" not in d:
            d["by_name"] = {l.name: l for l in self.layers}
            prod: dict = {}
            cons: dict = {}
            for l in self.layers:
                for s in l.outputs:
                    prod.setdefault(s, l)
                for s in l.inputs:
                    cons.setdefault(s, []).append(l)
            d["producer"], d["consumers"] = prod, cons
        return d

    def layer(self, name: str) -> Layer:
        try:
            return self._index()["by_name"][name]
        except KeyError:
            raise KeyError(name) from None

    def producer(self, stream: str) -> Optional[Layer]:
        return self._index()["producer"].get(stream)

    def consumers(self, stream: str) -> list[Layer]:
        return list(self._index()["consumers"].get(stream, ()))

    def hardware_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if not isinstance(layer, FloatTail)]

    def replace_layers(self, *new: Layer) -> "HwGraph":
        """A graph with each named layer swapped for its new version (same name, same place)."""
        by = {l.name: l for l in new}
        missing = set(by) - {l.name for l in self.layers}
        if missing:
            raise KeyError(f"no layer named {sorted(missing)[0]!r} in graph {self.name!r}")
        return replace(self, layers=tuple(by.get(l.name, l) for l in self.layers))

    def replace_streams(self, *new: Stream) -> "HwGraph":
        streams = dict(self.streams)
        for st in new:
            streams[st.name] = st
        return replace(self, streams=streams)
