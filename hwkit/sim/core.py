"""The golden simulator: exact integer execution of an HwGraph, batched and vectorized.

MVUs run as float32 matrix products when every partial sum provably stays below 2**24, float64
below 2**53 (integers are exact there, in any summation order), else as int64 products; a graph
whose streams and sums all fit 24 bits runs entirely on float32 values that are integers.
Thresholds run as one ``searchsorted`` over all channels. Without a trace, hwkit.sim.schedule
fuses neighbours whose intermediate stream nobody else reads (a convolution never materializes
its im2col: hwkit.sim.conv); with ``trace=True`` every layer runs on its own."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwkit.errors import ConfigError
from hwkit.ir.graph import MVU, Add, FloatTail, HwGraph, Pool, Reshape, ShiftRound, SlidingWindow, Threshold, derived
from hwkit.sim.conv import Arena, conv, pack_shift
from hwkit.sim.schedule import Schedule, schedule

EXACT_F64 = 1 << 53
EXACT_F32 = 1 << 24


@dataclass
class SimResult:
    outputs: dict  # integer output stream -> int64 array (N, *shape)
    trace: dict | None = None  # layer name -> its output array
    float_outputs: dict = field(default_factory=dict)  # FloatTail output name -> float64 array


def _float_lane(graph: HwGraph) -> bool:
    """True when the whole graph can run on float32 values that are integers: every stream fits
    24 bits and every MVU's partial sums stay below 2**24 (float32 is exact on those integers;
    scaling by powers of two, comparisons, max and round/floor are then exact too)."""
    cache = derived(graph)  # the graph is frozen: computed once per graph object
    if "float_lane" in cache:
        return cache["float_lane"]
    ok = all(st.dtype.bits <= 24 for st in graph.streams.values())
    for layer in graph.layers:
        if isinstance(layer, MVU):
            ok = ok and _mvu_plan(layer, graph.streams[layer.inputs[0]].dtype)["dtype"] == np.float32
        if isinstance(layer, Threshold):
            ok = ok and int(np.abs(layer.thresholds).max(initial=0)) < EXACT_F32 // 4
        if isinstance(layer, Pool) and layer.mode == "avg":  # the sum before the shift must fit too
            k = layer.kernel[0] * layer.kernel[1]
            ok = ok and graph.streams[layer.inputs[0]].dtype.bits + (k - 1).bit_length() <= 24
        if isinstance(layer, ShiftRound):  # 2**-shift must stay a normal float32
            t = graph.streams[layer.inputs[0]].dtype
            ok = ok and abs(layer.shift) <= 100
            if layer.rounding == "half_up" and layer.shift > 0:  # floor(x * 2**-s + 0.5) adds a half
                ok = ok and max(abs(t.min), abs(t.max)) + (1 << (layer.shift - 1)) < EXACT_F32
    cache["float_lane"] = ok
    return ok


def _mvu_plan(layer: MVU, in_type) -> dict:
    """Pick the cheapest exact arithmetic: float32 if every partial sum stays below 2**24, float64
    below 2**53 (integers are exact there, in any summation order), else int64. Kept on the frozen
    layer, per input type (the input stream is the graph's, not the layer's)."""
    cache = derived(layer).get(in_type)
    if cache is None:
        cache = derived(layer)[in_type] = {}
        w = layer.weights
        bound = int(np.abs(w).sum(axis=1).max(initial=0)) * max(abs(in_type.min), abs(in_type.max))
        if layer.bias is not None:
            bound += int(np.abs(layer.bias).max(initial=0))
        dt = np.float32 if bound < EXACT_F32 else np.float64 if bound < EXACT_F64 else np.int64
        cache["wt"] = np.ascontiguousarray(w.T.astype(dt))
        cache["dtype"] = dt
        cache["bias"] = None if layer.bias is None else layer.bias.astype(dt)
    return cache


def _mvu(layer: MVU, x: np.ndarray, in_type, win: SlidingWindow | None = None, shift: int = 0,
         arena: Arena | None = None) -> np.ndarray:
    """``win`` set: x is the window's input map and the two layers run fused (hwkit.sim.conv).
    ``shift`` > 0 (float32 lane only): the result comes multiplied by 2**-shift, exactly, because
    the weights and bias carry the power-of-two factor (see hwkit.sim.schedule)."""
    plan = _mvu_plan(layer, in_type)
    wt, bias = plan["wt"], plan["bias"]
    if shift:
        if plan.get("shift") != shift:
            plan["shift"], plan["wt_s"] = shift, wt * np.float32(2.0 ** -shift)
            plan["bias_s"] = None if bias is None else bias * np.float32(2.0 ** -shift)
        wt, bias = plan["wt_s"], plan["bias_s"]
    if win is not None:
        if "pack" not in plan:
            in_bound = max(abs(in_type.min), abs(in_type.max))
            acc_bound = int(np.abs(layer.weights).sum(axis=1).max(initial=0)) * in_bound
            if layer.bias is not None:
                acc_bound += int(np.abs(layer.bias).max(initial=0))
            plan["pack"] = pack_shift(plan["wt"], acc_bound, in_bound)
        acc = conv(win, x, wt, bias, plan["pack"], 2.0 ** -shift, arena)  # bias included
        return acc.astype(np.int64) if x.dtype != np.float32 else acc
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    acc = (x2 if x2.dtype == plan["dtype"] else x2.astype(plan["dtype"])) @ wt
    if x.dtype != np.float32:  # int64 lane: back to integers
        acc = acc.astype(np.int64)
        if layer.bias is not None:
            acc += layer.bias
    elif bias is not None:
        acc += bias
    return acc.reshape(lead + (wt.shape[1],))


def _window(layer: SlidingWindow, x: np.ndarray) -> np.ndarray:
    """im2col into (N, OH, OW, KH*KW*C), last axis ordered (kh, kw, c): one strided copy per kernel
    row, each moving runs of KW*C contiguous values (much faster than a 6-D strided view)."""
    t, l, b, r = layer.pad
    n, H, W, C = x.shape
    if any(layer.pad):
        xp = np.full((n, H + t + b, W + l + r, C), layer.pad_value, dtype=x.dtype)
        xp[:, t:t + H, l:l + W] = x
        x = xp
    H, W = x.shape[1:3]
    kh, kw = layer.kernel
    sh, sw = layer.stride
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    x = np.ascontiguousarray(x)
    out = np.empty((n, oh, ow, kh, kw * C), dtype=x.dtype)
    s = x.strides
    for i in range(kh):
        # the kw*C values of one kernel row are contiguous in an (H, W, C) map: copy them as one run
        row = np.lib.stride_tricks.as_strided(x[:, i:], (n, oh, ow, kw * C), (s[0], s[1] * sh, s[2] * sw, s[3]))
        out[:, :, :, i] = row
    return out.reshape(n, oh, ow, kh * kw * C)


def _threshold(layer: Threshold, x: np.ndarray, bipolar: bool) -> np.ndarray:
    T = layer.thresholds
    C = x.shape[-1]
    cache = derived(layer).setdefault(C, {})
    if T.shape[0] == 1 and C > 1:
        T = np.repeat(T, C, axis=0)
    N = T.shape[1]
    if N <= 4:
        Tx = T.astype(x.dtype)
        cnt = np.zeros(x.shape, dtype=x.dtype)
        for k in range(N):
            cnt += x >= Tx[:, k]
    else:
        if "flat" not in cache:
            lo = min(int(T.min()), 0) - 1
            span = int(T.max()) - lo + 2
            cache["lo"], cache["span"] = lo, span
            cache["flat"] = (T - lo + np.arange(C)[:, None] * span).ravel()
            cache["off"] = np.arange(C, dtype=np.int64) * span
            cache["offN"] = np.arange(C, dtype=np.int64) * N
        lo, span = cache["lo"], cache["span"]
        xi = x.astype(np.int64) if x.dtype != np.int64 else x
        xs = np.clip(xi - lo, 0, span - 1) + cache["off"]
        cnt = np.searchsorted(cache["flat"], xs, side="right") - cache["offN"]
        if x.dtype != np.int64:
            cnt = cnt.astype(x.dtype)
    return 2 * cnt - 1 if bipolar else cnt + layer.base


def _shift_round(layer: ShiftRound, x: np.ndarray, prescaled: bool = False, inplace: bool = False) -> np.ndarray:
    """``prescaled``: x already holds x * 2**-shift (float lane); ``inplace``: x may be overwritten."""
    s = layer.shift
    if x.dtype.kind == "f":  # exact: x is an integer below 2**24, scaling by 2**-s is exact
        if prescaled:
            y = x if inplace else x.copy()
        else:
            y = np.multiply(x, x.dtype.type(2.0 ** -s), out=x if inplace else None)
        if s > 0:
            if layer.rounding == "half_even":
                np.rint(y, out=y)
            else:
                if layer.rounding != "floor":
                    y += 0.5  # exact: _float_lane checks |x| + 2**(s-1) < 2**24
                np.floor(y, out=y)
        return np.clip(y, layer.lo, layer.hi, out=y)  # one pass; np.maximum+np.minimum were 3x slower
    if s <= 0:
        y = x << (-s)
    else:
        if layer.rounding == "floor":
            y = x >> s
        else:
            half = 1 << (s - 1)
            if layer.rounding == "half_even":
                # floor((x + half - 1 + lsb(x >> s)) / 2**s): ties go to the even neighbour
                y = (x + (half - 1) + ((x >> s) & 1)) >> s
            else:
                y = (x + half) >> s
    return np.clip(y, layer.lo, layer.hi)


def _pool(layer: Pool, x: np.ndarray, in_type) -> np.ndarray:
    """Max or sum over the kh*kw strided slices of x (each moving runs of C contiguous values)."""
    t, l, b, r = layer.pad
    if any(layer.pad):
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=in_type.min)
    n, H, W, C = x.shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    op = np.maximum if layer.mode == "max" else np.add
    y = None
    for i in range(kh):
        for j in range(kw):
            sl = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            y = sl.copy() if y is None else op(y, sl, out=y)
    if layer.mode == "max":
        return y
    if x.dtype.kind == "f":  # the sum is below 2**24 (checked by _float_lane): exact
        y *= 2.0 ** -layer.shift
        return np.floor(y, out=y)
    y >>= layer.shift
    return y


def _tail(layer: FloatTail, x: np.ndarray) -> np.ndarray:
    y = x.astype(np.float64) * np.asarray(layer.scale, dtype=np.float64) + np.asarray(layer.offset, dtype=np.float64)
    ops = list(layer.ops) or (["softmax"] if layer.softmax else [])
    for op in ops:
        if op == "softmax":
            y = np.exp(y - y.max(axis=-1, keepdims=True))
            y = y / y.sum(axis=-1, keepdims=True)
        elif op == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-y))
        else:
            raise ConfigError(f"float tail op '{op}' of layer '{layer.name}' is unknown to the simulator")
    return y


def simulate(graph: HwGraph, x_int, trace: bool = False) -> SimResult:
    """Run ``graph`` on integer inputs ``x_int`` (N, *input_stream_shape), channels-last."""
    x = np.asarray(x_int)
    src = graph.streams[graph.inputs[0]]
    if x.shape[1:] != tuple(src.shape):
        if x.shape == tuple(src.shape):
            x = x[None]
        else:
            raise ConfigError(f"inputs of shape {x.shape} do not match input stream {graph.inputs[0]} "
                              f"(N, {', '.join(map(str, src.shape))})")
    if x.dtype.kind not in "iu":
        if not np.all(x == np.round(x)):
            raise ConfigError("golden inputs must be integers on the input grid (use hwkit.ir.quantize_input)")
    x = x.astype(np.int64)
    if not src.dtype.contains(x):
        raise ConfigError(f"inputs outside the input type {src.dtype} [{src.dtype.min}, {src.dtype.max}]")
    if _float_lane(graph):
        x = x.astype(np.float32)
    vals = {graph.inputs[0]: x}
    tr = {} if trace else None
    floats = {}
    sch = Schedule() if trace else schedule(graph, x.dtype == np.float32)  # a trace shows every stream
    arena = derived(graph).get("arena")
    if arena is None:
        arena = derived(graph)["arena"] = Arena()
    for layer in graph.layers:
        ins = [vals[s] for s in layer.inputs]
        t_in = graph.streams[layer.inputs[0]].dtype
        if layer.name in sch.through:  # its work is done by a neighbour (hwkit.sim.schedule)
            y = ins[0]
        elif isinstance(layer, MVU):
            y = _mvu(layer, ins[0], t_in, sch.fused.get(layer.name), sch.prescale.get(layer.name, 0), arena)
        elif isinstance(layer, SlidingWindow):
            y = _window(layer, ins[0])
        elif isinstance(layer, Threshold):
            y = _threshold(layer, ins[0], graph.streams[layer.outputs[0]].dtype.bipolar)
        elif isinstance(layer, ShiftRound):
            pool = sch.pool_first.get(layer.name)
            x0 = ins[0] if pool is None else _pool(pool, ins[0], t_in)
            y = _shift_round(layer, x0, layer.name in sch.prescaled, layer.name in sch.inplace)
        elif isinstance(layer, Pool):
            y = _pool(layer, ins[0], t_in)
        elif isinstance(layer, Add):
            (a, b), (sa, sb), (ga, gb) = ins, layer.shifts, layer.signs
            if a.dtype.kind == "f":  # two passes; power-of-two factors and the bounded sum are exact
                y = np.multiply(a, a.dtype.type(ga * 2.0 ** sa))
                fb = gb * 2.0 ** sb
                if fb == 1:
                    y += b
                elif fb == -1:
                    y -= b
                else:
                    y += b * b.dtype.type(fb)
            else:
                y = ga * (a << sa) + gb * (b << sb)
        elif isinstance(layer, Reshape):
            n = ins[0].shape[0]
            y = ins[0] if layer.perm is None else ins[0].transpose((0,) + tuple(p + 1 for p in layer.perm))
            y = np.ascontiguousarray(y).reshape((n,) + tuple(layer.shape))
        elif isinstance(layer, FloatTail):
            floats[layer.outputs[0]] = _tail(layer, ins[0])
            continue
        else:
            raise ConfigError(f"simulator has no rule for layer kind {layer.kind} ('{layer.name}')")
        vals[layer.outputs[0]] = y
        if trace:
            tr[layer.name] = y.astype(np.int64) if y.dtype != np.int64 else y
    return SimResult({o: vals[o].astype(np.int64) for o in graph.outputs}, tr, floats)
