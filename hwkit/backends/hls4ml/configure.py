"""Every hls4ml layer's types from the HwGraph layer of the same name (:mod:`.naming`).

hls4ml's ``auto`` precision inference stores float biases and non-power-of-two scales in
fixed<16,6>, which silently changes results. Here the weight, bias, accumulator and result types of
each hls4ml layer are the HwGraph's types of its same-named layer (:mod:`.precision` spells them).
Where hls4ml holds its own view of a type (a quantizer's type from the QONNX, weight and bias
values), it is checked against the HwGraph's and a difference is a
:class:`~hwkit.errors.MismatchError` naming the layer. Glue layers the HwGraph has no layer for
(reshapes, clones, padding, max pooling, a ReLU or a power-of-two scaling that the HwGraph folds into
its neighbours) carry their input's grid through.
"""
from __future__ import annotations

import numpy as np
from hls4ml.model.types import FixedPrecisionType

from hwkit.backends.hls4ml.precision import Grid, ap, grid_of, pot_ok, quant_type, same_type
from hwkit.backends.hls4ml.naming import MVU_CLASSES, VVU_CLASSES
from hwkit.errors import MismatchError, UnsupportedModelError

MAX_FRAC = 24  # more fractional bits than this means the value was not quantized to a power-of-two grid


def frac_bits(values: np.ndarray) -> int | None:
    """Smallest f >= 0 with every value * 2**f an integer (None if more than MAX_FRAC would be needed)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        return None
    for f in range(0, MAX_FRAC + 1):
        s = v * 2.0**f
        if np.all(s == np.round(s)):
            return f
    return None


def ints(values: np.ndarray, frac: int) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64) * 2.0**frac).astype(np.int64)


class HwPrecision:
    """Sets every hls4ml layer's types from the HwGraph in place; ``grids`` maps each hls4ml output
    variable to its Grid. ``names`` is a :class:`.naming.NameMap`."""

    def __init__(self, model, graph, names, custom: dict | None = None):
        self.model, self.graph, self.names = model, graph, names
        self.custom = custom or {}  # class_name -> fn(self, layer, in_grids)
        self.grids: dict[str, Grid] = {}

    # ---- HwGraph facts -----------------------------------------------------------------------------
    def stream(self, name: str, what: str) -> Grid:
        st = self.graph.streams[name]
        return grid_of(st.dtype, st.scale, what)

    def check(self, layer, what: str, hls, hw, hw_name: str | None = None) -> None:
        if not same_type(hls, hw):
            raise MismatchError(f"hls4ml layer '{layer.name}': {what} is {hls} in hls4ml but {hw} in the HwGraph "
                                f"(layer '{hw_name or self.names.hw_name(layer)}')")

    def set_weight(self, layer, key: str, grid: Grid) -> None:
        """Type a weight array with the HwGraph's grid after checking hls4ml's values lie on it."""
        data = np.asarray(layer.weights[key].data, np.float64)
        q = data * 2.0**grid.frac
        if not np.all(q == np.round(q)) or (q.size and (q.min() < grid.lo or q.max() > grid.hi)):
            raise MismatchError(f"hls4ml layer '{layer.name}': its {key} values do not fit the HwGraph's "
                                f"{grid.fixed()} (layer '{self.names.hw_name(layer)}')")
        layer.weights[key].update_precision(grid.fixed())

    def set_result(self, layer, grid: Grid) -> None:
        layer.get_output_variable().type.precision = grid.fixed()
        self.grids[layer.outputs[0]] = grid

    def set_quantized(self, layer) -> None:
        """The result type of the HwGraph requantization that hls4ml folded into ``layer``."""
        hw = self.names.quantizer_after(layer)
        g = self.stream(hw.outputs[0], f"layer '{hw.name}'")
        p = quant_type(self.graph.streams[hw.outputs[0]].dtype, g)
        self.check(layer, "the quantizer's type", layer.get_output_variable().type.precision, p, hw.name)
        layer.get_output_variable().type.precision = p
        self.grids[layer.outputs[0]] = g

    # ---- the walk ----------------------------------------------------------------------------------
    def run(self):
        for layer in self.model.get_layers():
            ins = [self.grids.get(i) for i in layer.inputs]
            cls = layer.class_name
            if cls in self.custom:
                self.custom[cls](self, layer, ins)
            elif cls in ("Input", "InputLayer"):
                self.grids[layer.outputs[0]] = None  # typed by the first quantizer that reads it
            elif cls in ("Reshape", "Transpose", "Repack"):
                self._passthrough(layer, ins[0])
            elif cls == "Activation":
                self._activation(layer, ins[0])
            elif cls in MVU_CLASSES:
                self._mvu(layer, ins[0])
            elif cls in VVU_CLASSES:
                self._mvu(layer, ins[0], ("VVU",))
            elif cls in ("Pooling1D", "Pooling2D") and "max" in layer.get_attr("pool_op", "max").lower():
                self._passthrough(layer, ins[0])
            elif cls == "Clone":  # io_stream fan-out: every copy carries the input's values
                # hls4ml gives the copies the input's type name and clone_stream one type for all
                # three streams: the copies need the input's exact precision, rounding mode included
                p = layer.get_input_variable().type.precision
                for out in layer.outputs:
                    layer.get_output_variable(out).type.precision = p
                    self.grids[out] = ins[0]
            elif cls in ("ApplyAlpha", "BatchNormalization"):
                self._scale(layer, ins[0])
            elif cls in ("ZeroPadding1D", "ZeroPadding2D"):
                g = ins[0]
                self.set_result(layer, Grid(min(g.lo, 0), max(g.hi, 0), g.frac))
            elif cls == "Merge" and layer.get_attr("op", "").lower() in ("add", "subtract"):
                self._add(layer, ins)
            elif cls == "Concatenate":
                self._concat(layer, ins)
            else:
                raise UnsupportedModelError(
                    f"hls4ml backend cannot represent layer '{layer.name}' ({cls}) exactly: no HwGraph mapping "
                    "for this hls4ml layer class")
        self._unshare_type_names()
        return self

    def _unshare_type_names(self):
        """defines.h holds one typedef per C++ type name, the first one written. hls4ml names every
        weight it has no layer config for ``model_default_t`` (a Conv's zero bias, an ApplyAlpha's
        scale), so the exact types set above would all collapse into whichever came first (a zero
        bias ufixed<1,-8> turned the conv residual's Mul by 0.5 into a Mul by 0): give every type
        whose name is already taken by a different precision a name of its own."""
        seen: dict[str, str] = {}
        renamed = False
        for layer in self.model.get_layers():
            named = [*layer.types.items(), *((f"{k}_t", w.type) for k, w in layer.weights.items())]
            for key, t in named:
                spec = str(t.precision)
                if seen.setdefault(t.name, spec) == spec:
                    continue
                base, k = f"{key[:-2] if key.endswith('_t') else key}{layer.index}", 0
                while f"{base}_{k}_t" in seen:
                    k += 1
                t.name = f"{base}_{k}_t"
                seen[t.name] = spec
                renamed = True
        if renamed:  # conversion already wrote the type names into the layers' C++ text: write it again
            flows = [f for group in self.model._applied_flows for f in group if f.endswith(":apply_templates")]
            for flow in dict.fromkeys(flows):
                self.model.apply_flow(flow)

    def _passthrough(self, layer, g):
        if g is None:  # still the raw model input: keep deferred
            self.grids[layer.outputs[0]] = None
            return
        # the input's own type, rounding and saturation included: an io_parallel Reshape is an alias of
        # its input (``auto& out = in``) sharing its type, and a fresh grid type (truncating) set here
        # would overwrite the quantizer's rounding on the layer before (a Flatten right after a Conv1D's
        # ReLU+Quant: thousands of mismatches in 2,000 inputs)
        layer.get_output_variable().type.precision = layer.get_input_variable().type.precision
        self.grids[layer.outputs[0]] = g

    def _activation(self, layer, g):
        act = str(layer.get_attr("activation", "")).lower()
        p = layer.get_output_variable().type.precision
        if act not in ("linear", "relu"):
            raise UnsupportedModelError(f"hls4ml backend cannot represent layer '{layer.name}' exactly: "
                                        f"activation '{act}' is not exact in fixed point")
        if g is None:  # the input quantizer: its type is the HwGraph's input stream
            name = self.graph.inputs[0]
            grid = self.stream(name, f"input stream '{name}'")
            want = quant_type(self.graph.streams[name].dtype, grid)
            if act != "linear" or layer.get_attr("quantizer") is None:
                raise UnsupportedModelError(
                    f"hls4ml backend: the model input must be quantized first (layer '{layer.name}' reads it)")
            self.check(layer, "the input quantizer's type", p, want)
            self._retype_inputs(layer, want)
            self.grids[layer.outputs[0]] = grid
            return
        if layer.get_attr("quantizer") is not None or pot_ok(p):
            self.set_quantized(layer)
            return
        if act == "relu":
            self.set_result(layer, Grid(max(g.lo, 0), max(g.hi, 0), g.frac))
        else:
            self.set_result(layer, g)

    def _retype_inputs(self, layer, p):
        """Walk back through reshapes to the model input and give all of them the quantizer's type
        without its rounding (inputs arrive on the grid)."""
        name = layer.inputs[0]
        while True:
            src = next(lay for lay in self.model.get_layers() if name in lay.outputs)
            src.get_output_variable().type.precision = ap(FixedPrecisionType(p.width, p.integer, p.signed))
            self.grids[name] = Grid.of_type(p)
            if src.class_name in ("Input", "InputLayer"):
                return
            name = src.inputs[0]

    def _mvu(self, layer, g, kinds=("MVU",)):
        if g is None:
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' reads the unquantized model input")
        mvu = self.names.layer(layer, kinds)
        acc = self.stream(mvu.outputs[0], f"layer '{mvu.name}'")
        wgrid = grid_of(mvu.wtype, 2.0 ** -(acc.frac - g.frac), f"layer '{mvu.name}'")
        self.set_weight(layer, "weight", wgrid)
        mvu = self._with_tail_bias(mvu, acc.frac)
        if "bias" in layer.weights and layer.weights["bias"] is not None:
            b = mvu.bias if mvu.bias is not None else np.zeros(1, np.int64)
            self.set_weight(layer, "bias", Grid(int(min(b.min(), 0)), int(max(b.max(), 0)), acc.frac))
        acc = Grid(int(mvu.acc.min), int(mvu.acc.max), acc.frac)
        layer.types["accum_t"].precision = acc.fixed()
        self._result_or_fused_quant(layer, acc)

    def _with_tail_bias(self, mvu, frac: int):
        """The HwGraph moves the last MVU's bias into the host-side FloatTail; hls4ml adds it in the
        accumulator: the MVU with the tail's offset (on the accumulator grid) as its bias, typed by the
        HwGraph's own type rule."""
        from dataclasses import replace

        from hwkit.ir.typing import infer_layer

        tail = next((t for t in self.graph.consumers(mvu.outputs[0]) if t.kind == "FloatTail"), None)
        if tail is None or not np.any(tail.offset):
            return mvu
        off = np.broadcast_to(np.asarray(tail.offset, np.float64).ravel(), (mvu.mh,)) * 2.0**frac
        if tail.softmax or tail.ops or np.asarray(tail.offset).size not in (1, mvu.mh) or \
                not np.all(off == np.round(off)):
            raise UnsupportedModelError(f"hls4ml backend cannot represent layer '{mvu.name}' exactly: its output "
                                        "offset is not on the accumulator grid (float bias: quantize it, e.g. "
                                        "Brevitas Int32Bias)")
        bias = (mvu.bias if mvu.bias is not None else 0) + off.astype(np.int64)
        new = replace(mvu, bias=bias)
        return replace(new, acc=infer_layer(new, dict(self.graph.streams), 62))

    def _result_or_fused_quant(self, layer, exact: Grid):
        """hls4ml folds a Quant that directly follows a layer into that layer's result type (the cast
        from accum_t then rounds and saturates like Quant): that type is the HwGraph requantization's."""
        if pot_ok(layer.get_output_variable().type.precision):
            self.set_quantized(layer)
        else:
            self.set_result(layer, exact)

    def _scale(self, layer, g):
        """``x * scale + bias`` per channel (a Mul by h, a folded batch norm): no HwGraph layer of its own
        (the HwGraph folds it into the next requantization or add), exact when both sit on a
        power-of-two grid; the C++ forms the full-precision product and sum before the cast."""
        if g is None:
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' scales the unquantized model input")
        sc = np.asarray(layer.weights["scale"].data, np.float64).ravel()
        b = np.asarray(layer.weights["bias"].data, np.float64).ravel() if "bias" in layer.weights else np.zeros(1)
        sf, bf = frac_bits(sc), frac_bits(b)
        if sf is None or bf is None:
            raise UnsupportedModelError(f"hls4ml backend cannot represent layer '{layer.name}' exactly: scale or "
                                        "offset is not on a power-of-two grid (float scale)")
        f = max(g.frac + sf, bf)
        si, bi = ints(sc, sf), ints(b, f)
        layer.weights["scale"].update_precision(Grid(int(min(si.min(), 0)), int(max(si.max(), 0)), sf).fixed())
        if "bias" in layer.weights:
            layer.weights["bias"].update_precision(Grid(int(min(bi.min(), 0)), int(max(bi.max(), 0)), f).fixed())
        shift = f - g.frac - sf
        lo = np.minimum(si * g.lo, si * g.hi) * (1 << shift) + bi
        hi = np.maximum(si * g.lo, si * g.hi) * (1 << shift) + bi
        self._result_or_fused_quant(layer, Grid(int(min(lo.min(), 0)), int(max(hi.max(), 0)), f))

    def _add(self, layer, ins):
        add = self.names.layer(layer, ("Add",))
        a, b = ins
        if a is None or b is None:
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' adds the unquantized model input")
        f = max(a.frac, b.frac)
        subtract = layer.get_attr("op").lower() == "subtract"
        if (a.frac + add.shifts[0], b.frac + add.shifts[1]) != (f, f) or (add.signs[1] < 0) != subtract:
            raise MismatchError(f"hls4ml layer '{layer.name}' ({'-' if subtract else '+'} on grids 2^-{a.frac}, "
                                f"2^-{b.frac}) does not align its inputs as the HwGraph's '{add.name}' (shifts "
                                f"{tuple(add.shifts)}, signs {tuple(add.signs)})")
        t = self.graph.streams[add.outputs[0]].dtype
        self._result_or_fused_quant(layer, Grid(int(t.min), int(t.max), f))

    def _concat(self, layer, ins):
        """Channel Concat: hls4ml copies each input into the result type, exact when that type is the
        HwGraph's output grid and each input's grid, shifted as the HwGraph aligns it, lands on it."""
        cat = self.names.layer(layer, ("Concat",))
        if any(g is None for g in ins):
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' concatenates the unquantized model input")
        out = self.stream(cat.outputs[0], f"layer '{cat.name}'")
        if [g.frac + s for g, s in zip(ins, cat.shifts)] != [out.frac] * len(ins):
            raise MismatchError(f"hls4ml layer '{layer.name}' (inputs on grids {', '.join(f'2^-{g.frac}' for g in ins)}) "
                                f"does not align them as the HwGraph's '{cat.name}' (shifts {tuple(cat.shifts)}, "
                                f"output on 2^-{out.frac})")
        self.set_result(layer, out)
