"""Compare executions bit for bit and localize every difference.

``compare`` works on any two dicts of arrays (golden, qonnx, C sim, RTL sim ...): keys are stream
names, arrays are (N, ...) batches. With the golden ``graph`` and its ``trace`` it also says whether
the golden value sits on a rounding tie: for a Threshold output, the exact rational boundary lies
within ``TIE_RTOL`` (relative) of the integer accumulator; for a ShiftRound output, the discarded
bits are exactly one half. ``golden_vs_qonnx`` runs both sides on the same inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwkit.errors import ConfigError
from hwkit.kinds.threshold import TIE_RTOL  # noqa: F401  (the Threshold kind's tie rule, re-exported)


@dataclass
class Mismatch:
    stream: str
    layer: str | None
    input_index: int
    element: tuple
    reference: float
    candidate: float
    tie: bool | None = None

    def __str__(self):
        tie = "" if self.tie is None else (" (at a rounding tie)" if self.tie else " (NOT a tie)")
        return (f"{self.stream} [layer {self.layer}] input {self.input_index} element {self.element}: "
                f"reference {self.reference} candidate {self.candidate}{tie}")


@dataclass
class VerifyReport:
    mismatches: int = 0  # mismatching elements over all compared streams
    compared: int = 0
    inputs: int = 0
    inputs_with_mismatch: int = 0
    per_stream: dict = field(default_factory=dict)
    entries: list = field(default_factory=list)  # first mismatch (earliest stream) of each input
    first_mismatches: int = 0  # elements of the earliest mismatching stream, over inputs
    first_ties: int = 0  # of those, at a rounding tie
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    @property
    def all_first_at_ties(self) -> bool:
        return self.first_mismatches == self.first_ties

    def summary(self) -> str:
        s = (f"{self.mismatches} mismatching elements of {self.compared} over {self.inputs} inputs "
             f"({self.inputs_with_mismatch} inputs affected); first mismatches {self.first_mismatches}, "
             f"at ties {self.first_ties}")
        for k, v in sorted(self.extra.items()):
            s += f"; {k} {v}"
        return s


def _tie(graph, trace, layer_name: str, i: int, elem: tuple) -> bool | None:
    """Whether element ``elem`` of input ``i`` met an exact rounding tie in ``layer_name`` (its kind's
    tie rule on the accumulator it read), None when the trace cannot tell."""
    from hwkit.kinds import kind_of

    if graph is None or trace is None or layer_name is None:
        return None
    layer = graph.layer(layer_name)
    src = graph.producer(layer.inputs[0])
    acc_all = trace.get(layer.inputs[0])  # stream-name keys (the graph input) win over layer names
    if acc_all is None and src is not None:
        acc_all = trace.get(src.name)
    if acc_all is None or not kind_of(layer).HARDWARE:
        return None
    return kind_of(layer).tie(layer, graph, int(acc_all[(i,) + tuple(elem)]), elem)


def compare(reference: dict, candidate: dict, *, graph=None, trace=None, order=None, rtol: float = 0.0,
            atol: float = 0.0, max_entries: int = 50, **extra) -> VerifyReport:
    """Compare common keys of two dicts of (N, ...) arrays. Integers must match exactly; float keys
    within ``rtol``/``atol``. ``order`` (stream names, upstream first) defines the 'first' mismatch
    of an input; ``graph``/``trace`` (golden SimResult.trace) enable tie flags."""
    keys = [k for k in (order or sorted(reference)) if k in reference and k in candidate]
    if not keys:
        raise ConfigError("nothing to compare: the two executions share no stream names")
    rep = VerifyReport(extra=dict(extra))
    first_seen: dict[int, str] = {}
    for k in keys:
        r, c = np.asarray(reference[k]), np.asarray(candidate[k])
        if r.shape != c.shape:
            raise ConfigError(f"stream {k}: shapes differ, reference {r.shape} vs candidate {c.shape}")
        rep.inputs = max(rep.inputs, r.shape[0])
        if r.dtype.kind == "f" or c.dtype.kind == "f":
            bad = ~np.isclose(r.astype(np.float64), c.astype(np.float64), rtol=rtol, atol=atol)
        else:
            bad = r != c
        n_bad = int(bad.sum())
        rep.compared += r.size
        rep.mismatches += n_bad
        rep.per_stream[k] = n_bad
        if not n_bad:
            continue
        layer = None
        if graph is not None:
            p = graph.producer(k)
            layer = p.name if p is not None else None
        for idx in np.argwhere(bad):
            i, elem = int(idx[0]), tuple(int(v) for v in idx[1:])
            if first_seen.setdefault(i, k) != k:
                continue
            tie = _tie(graph, trace, layer, i, elem)
            rep.first_mismatches += 1
            rep.first_ties += int(bool(tie))
            if len(rep.entries) < max_entries:
                rep.entries.append(Mismatch(k, layer, i, elem, r[(i,) + elem].item(), c[(i,) + elem].item(), tie))
    rep.inputs_with_mismatch = len(first_seen)
    return rep


# ---- golden vs qonnx execution ----------------------------------------------------------------

def _strip_prefix(model, graph):
    """A copy of the model whose input is the first quantizer's input (host preprocessing removed)."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper

    prep = graph.input_prep

    m = ModelWrapper(model.model.SerializeToString())
    qin = prep.quant_input
    if qin == m.graph.input[0].name:
        return m
    keep, drop, frontier = [], set(), {m.graph.input[0].name}
    for node in m.graph.node:
        if any(i in frontier for i in node.input) and qin not in node.input:
            drop.add(node.name)
            frontier.update(node.output)
    for node in list(m.graph.node):
        if node.name in drop:
            m.graph.node.remove(node)
    shape = [1] + list(prep.onnx_shape)
    new_in = helper.make_tensor_value_info(qin, TensorProto.FLOAT, shape)
    for vi in list(m.graph.value_info):
        if vi.name == qin:
            m.graph.value_info.remove(vi)
    m.graph.input.remove(m.graph.input[0])
    m.graph.input.insert(0, new_in)
    return m


def _batched(model, batch):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    m = ModelWrapper(model.model.SerializeToString())
    _rebatch_resize_sizes(m, batch)
    return m.transform(ChangeBatchSize(batch)).transform(InferShapes())


def _rebatch_resize_sizes(m, batch: int) -> None:
    """A Resize given output ``sizes`` names the batch too (1 in the file): that entry is the batch."""
    from onnx import numpy_helper

    for node in m.graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        sizes = m.get_initializer(node.input[3])
        if sizes is None or sizes.ndim != 1 or not len(sizes):
            continue
        new = np.asarray(sizes).astype(np.int64).copy()
        new[0] = batch
        name = f"{node.input[3]}_batch{batch}_{node.name}"  # its own copy: another Resize may share it
        m.graph.initializer.append(numpy_helper.from_array(new, name))
        node.input[3] = name


def run_qonnx(model, feed: np.ndarray, batch: int = 256, full: bool = True, keep=None, cache=None) -> dict:
    """execute_onnx over a batch axis in chunks of ``batch`` (zero-padded). Returns tensor -> (N, ...)
    for every tensor (or only those named in ``keep``). ``cache`` (a dict the caller keeps) holds the
    re-batched model between calls on the same model."""
    from qonnx.core.onnx_exec import execute_onnx

    n = feed.shape[0]
    b = min(batch, n)
    cache = {} if cache is None else cache
    mb = cache.get(b)
    if mb is None:
        mb = cache[b] = _batched(model, b)
    iname = mb.graph.input[0].name
    out: dict[str, list] = {}
    for s in range(0, n, b):
        chunk = feed[s:s + b]
        pad = b - chunk.shape[0]
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
        ctx = execute_onnx(mb, {iname: chunk.astype(np.float32)}, return_full_exec_context=full)
        for k, v in ctx.items():
            if keep is not None and k not in keep:
                continue
            v = np.asarray(v)
            if v.ndim and v.shape[0] == b:
                out.setdefault(k, []).append(v[: b - pad] if pad else v)
    return {k: np.concatenate(v) for k, v in out.items()}


def qonnx_output(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The model's (first) output for every input, through :func:`run_qonnx` (the one batched qonnx
    runner); ``model`` is a ModelWrapper or a path."""
    from qonnx.core.modelwrapper import ModelWrapper

    model = model if isinstance(model, ModelWrapper) else ModelWrapper(str(model))
    oname = model.graph.output[0].name
    return run_qonnx(model, np.asarray(x), batch, full=False, keep={oname})[oname]


def qonnx_to_streams(graph, ctx: dict) -> dict:
    """qonnx tensors at quantizer outputs -> integer streams in the golden layout (where probed)."""

    out = {}
    for stream, pr in graph.probes.items():
        if pr.onnx not in ctx:
            continue
        v = ctx[pr.onnx]
        n = v.shape[0]
        st = graph.streams[stream]
        flat = np.empty((n, int(np.prod(st.shape))), dtype=np.float64)
        flat[:, pr.index.ravel()] = v.reshape(n, -1)
        arr = flat.reshape((n,) + tuple(st.shape))
        q = arr / pr.scale + pr.zeropt
        out[stream] = np.round(q).astype(np.int64)
    return out


def index_output(graph) -> bool:
    """Whether the model's output is already a class index: an ArgMax/TopK layer (through its
    FloatTail) produces it, one index per input."""
    from hwkit.ir.graph import FloatTail

    prod = {o: lay for lay in graph.layers for o in lay.outputs}
    lay = prod.get(graph.outputs[0])
    if isinstance(lay, FloatTail):
        lay = prod.get(lay.inputs[0])
    if lay is None or lay.kind != "ArgMax":
        return False
    return int(np.prod(graph.streams[lay.outputs[0]].shape)) == 1


def class_predictions(graph, scores: np.ndarray) -> np.ndarray:
    """One class per input: the index itself when the model outputs one (:func:`index_output`),
    else the argmax of the output scores."""
    scores = np.asarray(scores)
    flat = scores.reshape(len(scores), int(np.prod(scores.shape[1:])))  # no test data: 0 rows
    if index_output(graph) and flat.shape[1] == 1:
        return np.round(flat[:, 0]).astype(np.int64)
    return flat.argmax(axis=1)


def argmax_agreement(golden: np.ndarray, other: np.ndarray) -> dict:
    """Share of inputs with the same predicted class; 'tie-aware' also accepts the other's class
    when golden scores it equal to its maximum (untrained nets often have tied logits)."""
    g_arg, o_arg = golden.argmax(1), other.argmax(1)
    gmax = golden.max(1)
    tied = np.isclose(golden[np.arange(len(o_arg)), o_arg], gmax, rtol=1e-6, atol=1e-9)
    return {"argmax_agreement": float(np.mean(g_arg == o_arg)),
            "argmax_agreement_tie_aware": float(np.mean((g_arg == o_arg) | tied))}


def merge(reports: list, offsets: list) -> VerifyReport:
    """Combine reports of consecutive input chunks (input indices shifted by ``offsets``)."""
    out = VerifyReport()
    weights = []
    for rep, off in zip(reports, offsets):
        out.mismatches += rep.mismatches
        out.compared += rep.compared
        out.inputs += rep.inputs
        out.inputs_with_mismatch += rep.inputs_with_mismatch
        out.first_mismatches += rep.first_mismatches
        out.first_ties += rep.first_ties
        for k, v in rep.per_stream.items():
            out.per_stream[k] = out.per_stream.get(k, 0) + v
        for e in rep.entries:
            if len(out.entries) < 50:
                e.input_index += off
                out.entries.append(e)
        weights.append(rep.inputs)
    for key in {k for r in reports for k in r.extra}:
        vals = [(r.extra[key], w) for r, w in zip(reports, weights) if key in r.extra]
        out.extra[key] = sum(v * w for v, w in vals) / max(1, sum(w for _, w in vals))
    return out


MEMORY_BUDGET = 512 << 20  # bytes one verify chunk may hold (golden trace + qonnx tensors), whatever N is


def bytes_per_input(graph, model) -> int:
    """What one input costs in a verify chunk: every golden stream traced as int64 (and converted once
    more for the comparison), and every batched tensor of qonnx's execution context as float32 (the
    model has batch 1: a tensor whose first axis is 1 grows with the batch, weights do not)."""
    golden = sum(int(np.prod(st.shape)) for st in graph.streams.values())
    onnx = 0
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        shape = model.get_tensor_shape(vi.name) or []
        if shape and shape[0] == 1:
            onnx += int(np.prod([d if isinstance(d, int) and d > 0 else 1 for d in shape]))
    return 24 * golden + 4 * onnx


def chunk_size(graph, model, budget: int = MEMORY_BUDGET, most: int = 4096) -> int:
    """Inputs per chunk so that a chunk stays within ``budget`` bytes (at least 1, at most ``most``)."""
    return int(max(1, min(most, budget // max(1, bytes_per_input(graph, model)))))


def golden_vs_qonnx(model_or_path, n: int = 1000, *, x_int=None, x_float=None, seed: int = 0, batch: int = 256,
                    graph=None, max_entries: int = 50, chunk: int | None = None) -> VerifyReport:
    """Golden simulation vs qonnx ``execute_onnx`` on ``n`` random grid inputs (or given ``x_int``
    on the input grid, or float ``x_float`` model inputs). Compares every quantizer output stream
    and the float outputs; reports ties and argmax agreement of the first output.

    Inputs run in chunks (``chunk``, default: as many as :data:`MEMORY_BUDGET` holds for this model) and
    random inputs are drawn chunk by chunk, so memory stays bounded for any ``n``: chunk 0 draws with
    ``seed`` (the inputs of ``random_grid_inputs(graph, n, seed)`` when one chunk holds them all),
    chunk k with ``[seed, k]``."""
    from hwkit.ir import random_grid_inputs
    from hwkit.ir.lower import clean_model, lower_with_model

    if graph is None:
        graph, model = lower_with_model(model_or_path)
    else:
        model = clean_model(model_or_path)  # what lower translated: the same model passes, same result
    chunk = chunk or chunk_size(graph, model)
    batch = max(1, min(batch, chunk))
    prepared: dict = {}  # the qonnx model each kind of input runs on, re-batched once, not per chunk
    data = x_float if x_float is not None else x_int
    total = len(data) if data is not None else int(n)
    reports, offsets = [], []
    for k, s in enumerate(range(0, total, chunk)):
        if data is None:
            part = random_grid_inputs(graph, min(chunk, total - s), seed if k == 0 else [seed, k])
            kw = {"x_int": part}
        else:
            kw = {"x_float" if x_float is not None else "x_int": data[s:s + chunk]}
        reports.append(_golden_vs_qonnx_chunk(graph, model, batch=batch, max_entries=max_entries,
                                              prepared=prepared, **kw))
        offsets.append(s)
    return merge(reports, offsets) if len(reports) != 1 else reports[0]


def _golden_vs_qonnx_chunk(graph, model, *, x_int=None, x_float=None, batch: int = 256,
                           max_entries: int = 50, prepared: dict | None = None) -> VerifyReport:
    from hwkit.ir import quantize_input
    from hwkit.ir.inputs import grid_to_float
    from hwkit.sim import simulate

    if x_float is not None:
        x_float = np.asarray(x_float, dtype=np.float32)
        x_int = quantize_input(graph, x_float)
        kind, feed = "float", x_float.reshape((x_float.shape[0],) + tuple(model.get_tensor_shape(
            model.graph.input[0].name)[1:]))
    else:
        kind, feed = "grid", grid_to_float(graph, x_int)
    prepared = {} if prepared is None else prepared
    if kind not in prepared:
        prepared[kind] = (model if kind == "float" else _strip_prefix(model, graph), {})
    m, batched = prepared[kind]
    res = simulate(graph, x_int, trace=True)
    wanted = {pr.onnx for pr in graph.probes.values()}
    wanted |= {fo.onnx for fo in graph.float_outputs.values()}
    ctx = run_qonnx(m, feed, batch, keep=wanted, cache=batched)
    cand = qonnx_to_streams(graph, ctx)
    ref_streams = {graph.inputs[0]: x_int}
    for layer in graph.hardware_layers():
        ref_streams[layer.outputs[0]] = res.trace[layer.name]
    trace = dict(res.trace)
    trace[graph.inputs[0]] = x_int
    order = [graph.inputs[0]] + [l.outputs[0] for l in graph.hardware_layers()]
    extra = {}
    for stream, fo in graph.float_outputs.items():
        g, q = res.float_outputs[fo.name], ctx[fo.onnx].reshape(res.float_outputs[fo.name].shape)
        ref_streams[fo.name], cand[fo.name] = g, q
        order.append(fo.name)
        if g.ndim == 2:
            extra.update(argmax_agreement(g, q))
    return compare(ref_streams, cand, graph=graph, trace=trace, order=order, rtol=1e-5, atol=1e-5,
                   max_entries=max_entries, **extra)


# ---- `hwkit verify` ---------------------------------------------------------------------------

def run_verify(model, n: int, data: str | None = None, strict: bool = False, *, chunk: int | None = None,
               input_format: str = "") -> str:
    """`hwkit verify`: golden vs qonnx on ``n`` random grid inputs and on the test data
    (:func:`hwkit.data.choose_data`: ``data`` = a bundled name or a .npz; by default the dataset
    recorded with the model or the bundled one that fits its input, none if nothing fits). Streams
    in chunks (memory bounded for any N); MismatchError on a mismatch that is not at a rounding tie
    (any mismatch with ``strict``). A model whose input has no quantizer is verified with the one
    ``input_format`` names (or the default from the data), and its input-quantization error reported
    (hwkit.ir.input_format)."""
    from hwkit.data import choose_data
    from hwkit.errors import MismatchError
    from hwkit.ir.lower import lower_with_model

    if n < 0:
        raise ConfigError(f"--n must be >= 0, got {n}")
    from hwkit.input_choice import for_data
    from hwkit.ir.input_format import error_line, input_quantization_error
    from hwkit.ir.passes import load

    _, choice, _ = for_data(load(model), input_format, data or "", model)
    graph, cleaned = lower_with_model(model, input_format=str(choice.format) if choice else "")
    samples = choose_data(data or "", graph.input_prep.model_input_shape, model_path=model)
    lines, reports = [choice.line()] if choice else [], []
    if n:
        r = golden_vs_qonnx(cleaned, n=n, graph=graph, chunk=chunk)
        reports.append(r)
        lines.append(f"grid inputs ({n}): {r.summary()}")
    if samples.x is not None:
        r = golden_vs_qonnx(cleaned, x_float=samples.x, graph=graph, chunk=chunk)
        reports.append(r)
        lines.append(f"{samples.name} ({samples.count}, {samples.why}): {r.summary()}")
    if not reports:
        raise ConfigError(f"nothing to verify: --n 0 and {samples.why}")
    if choice is not None:
        from hwkit.ir.lower import clean_model

        err = (input_quantization_error(qonnx_output(clean_model(model), samples.x), qonnx_output(cleaned, samples.x),
                                        samples.y) if samples.x is not None else {"samples": 0})
        lines.append(error_line(err))
    for r in reports:
        bad = r.mismatches if strict else r.first_mismatches - r.first_ties
        if bad:
            first = r.entries[0] if r.entries else None
            raise MismatchError(f"golden != qonnx: {r.summary()}; first: {first}")
    return "\n".join(lines)
