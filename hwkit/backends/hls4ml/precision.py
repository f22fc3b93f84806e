"""Exact precisions for an hls4ml ModelGraph.

hls4ml's ``auto`` precision inference stores float biases and non-power-of-two scales in
fixed<16,6>, which silently changes results. This pass walks the converted graph in order and
gives every stream, weight, bias and accumulator the narrowest fixed-point type that holds its
exact value set, so the C++ computes the same numbers as the integer golden model. A value set is
``Grid(lo, hi, frac)``: the integers lo..hi times 2**-frac. Whatever cannot be put on such a
grid (float scales, float biases, unknown layers) is refused, naming the layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hls4ml.backends.fpga.fpga_types import APTypeConverter
from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

from hwkit.errors import UnsupportedModelError

MAX_FRAC = 24  # more fractional bits than this means the value was not quantized to a power-of-two grid


@dataclass(frozen=True)
class Grid:
    lo: int
    hi: int
    frac: int

    def fixed(self, rounding=None, saturation=None) -> FixedPrecisionType:
        lo, hi = min(self.lo, 0), max(self.hi, 0)
        if lo >= 0:
            bits, signed = max(1, hi.bit_length()), False
        else:
            bits, signed = max((-lo - 1).bit_length(), hi.bit_length()) + 1, True
        return ap(FixedPrecisionType(bits, bits - self.frac, signed, rounding, saturation))

    def at(self, frac: int) -> "Grid":
        s = frac - self.frac
        assert s >= 0
        return Grid(self.lo << s, self.hi << s, frac)

    @staticmethod
    def of_type(p) -> "Grid":
        if not isinstance(p, FixedPrecisionType):
            raise UnsupportedModelError(f"hls4ml type {p} is not a fixed-point type")
        frac = p.width - p.integer
        if p.signed:
            lo, hi = -(1 << (p.width - 1)), (1 << (p.width - 1)) - 1
            if p.saturation_mode == SaturationMode.SAT_SYM:
                lo += 1
        else:
            lo, hi = 0, (1 << p.width) - 1
        return Grid(lo, hi, frac)


def ap(p):
    """Vitis/Vivado write ap_fixed definitions: give a fresh type their C++ spelling."""
    return APTypeConverter().convert(p)


def frac_bits(values: np.ndarray) -> int | None:
    """Smallest f with every value * 2**f an integer (None if more than MAX_FRAC would be needed)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        return None
    for f in range(-8, MAX_FRAC + 1):
        s = v * 2.0**f
        if np.all(s == np.round(s)):
            return max(f, 0)
    return None


def ints(values: np.ndarray, frac: int) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64) * 2.0**frac).astype(np.int64)


def _pot_ok(p) -> bool:
    """Quantizer output types must round half to even and saturate, as QONNX Quant does."""
    return (isinstance(p, FixedPrecisionType) and p.rounding_mode == RoundingMode.RND_CONV
            and p.saturation_mode in (SaturationMode.SAT, SaturationMode.SAT_SYM))


class ExactPrecision:
    """Applies the exact types in place; ``grids`` maps each hls4ml output variable to its Grid."""

    def __init__(self, model, approximate: bool = False, custom: dict | None = None):
        self.model = model
        self.approximate = approximate
        self.custom = custom or {}  # class_name -> fn(self, layer, in_grids) -> Grid
        self.grids: dict[str, Grid] = {}
        self.notes: list[str] = []

    def refuse(self, layer, why: str):
        if self.approximate:
            self.notes.append(f"{layer.name}: {why} (kept hls4ml's type, results may differ)")
            return
        raise UnsupportedModelError(
            f"hls4ml backend cannot represent layer '{layer.name}' ({layer.class_name}) exactly: {why}; "
            "use power-of-two scales and integer bias (preset 'pot'), or pass approximate=True")

    def set_result(self, layer, grid: Grid, rounding=None, saturation=None):
        layer.get_output_variable().type.precision = grid.fixed(rounding, saturation)
        self.grids[layer.outputs[0]] = grid
        return grid

    def run(self):
        for layer in self.model.get_layers():
            ins = [self.grids.get(i) for i in layer.inputs]
            cls = layer.class_name
            if cls in self.custom:
                self.custom[cls](self, layer, ins)
            elif cls in ("Input", "InputLayer"):
                self.grids[layer.outputs[0]] = None  # set by the first quantizer that reads it
            elif cls in ("Reshape", "Transpose", "Repack"):
                self._passthrough(layer, ins[0])
            elif cls == "Activation":
                self._activation(layer, ins[0])
            elif cls in ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D"):
                self._mvu(layer, ins[0])
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
                self._add(layer, ins, layer.get_attr("op").lower() == "subtract")
            else:
                self.refuse(layer, f"no exact hwkit mapping for hls4ml layer class {cls}")
            if self.approximate and self.grids.get(layer.outputs[0]) is None and cls not in ("Input", "InputLayer"):
                try:  # approximate mode: carry on with hls4ml's own type
                    self.grids[layer.outputs[0]] = Grid.of_type(layer.get_output_variable().type.precision)
                except UnsupportedModelError:
                    pass
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

    def integer_weights(self, layer):
        """(integer weights, fractional bits) of ``layer``'s weight, typed exactly; None (refused or
        noted) when the weights are not on a power-of-two grid."""
        w = layer.weights["weight"].data
        wf = frac_bits(w)
        if wf is None:
            return self.refuse(layer, "weights are not on a power-of-two grid (float weights or float scale)")
        wi = ints(w, wf)
        layer.weights["weight"].update_precision(Grid(int(wi.min()), int(wi.max()), wf).fixed())
        return wi, wf

    def _passthrough(self, layer, g):
        if g is None:  # still the raw model input: keep deferred
            self.grids[layer.outputs[0]] = None
            return
        self.set_result(layer, g)

    def _activation(self, layer, g):
        act = str(layer.get_attr("activation", "")).lower()
        p = layer.get_output_variable().type.precision
        quantized = layer.get_attr("quantizer") is not None
        if act not in ("linear", "relu"):
            return self.refuse(layer, f"activation '{act}' is not exact in fixed point")
        if g is None:
            if not (quantized and act == "linear" and _pot_ok(p)):
                raise UnsupportedModelError(
                    f"hls4ml backend: the model input must be quantized first (layer '{layer.name}' reads it)")
            self._retype_inputs(layer, p)
            self.grids[layer.outputs[0]] = Grid.of_type(p)
            return
        if quantized:
            if not _pot_ok(p):
                return self.refuse(layer, f"quantizer type {p} does not round half-even with saturation")
            out = Grid.of_type(p)
            if act == "relu":
                out = Grid(max(out.lo, 0), out.hi, out.frac)
            self.grids[layer.outputs[0]] = out
            return
        out = Grid(max(g.lo, 0) if act == "relu" else g.lo, max(g.hi, 0) if act == "relu" else g.hi, g.frac)
        self.set_result(layer, out)

    def _retype_inputs(self, layer, p):
        """Walk back through reshapes to the model input and give all of them the quantizer's type."""
        name = layer.inputs[0]
        while True:
            src = next(lay for lay in self.model.get_layers() if name in lay.outputs)
            src.get_output_variable().type.precision = ap(FixedPrecisionType(p.width, p.integer, p.signed))
            self.grids[name] = Grid.of_type(p)
            if src.class_name in ("Input", "InputLayer"):
                return
            name = src.inputs[0]

    def _mvu(self, layer, g):
        if g is None:
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' reads the unquantized model input")
        found = self.integer_weights(layer)
        if found is None:
            return None
        wi, wf = found
        af = g.frac + wf
        # weight layout: Dense (n_in, n_out); Conv (kh, kw, cin, cout) -> contract all but the last axis
        if layer.get_attr("_weights_transposed", False):  # Resource strategy stores outputs first
            wi = np.moveaxis(wi, 0, -1)
        wi2 = wi.reshape(-1, wi.shape[-1])
        hi = np.maximum(wi2 * g.hi, wi2 * g.lo).sum(axis=0)
        lo = np.minimum(wi2 * g.hi, wi2 * g.lo).sum(axis=0)
        if "bias" in layer.weights and layer.weights["bias"] is not None:
            b = layer.weights["bias"].data
            bf = frac_bits(b)
            if bf is None or bf > af:
                return self.refuse(layer, "bias is not on the accumulator grid (float bias: quantize it, "
                                          "e.g. Brevitas Int32Bias)")
            bi = ints(b, af).ravel()
            layer.weights["bias"].update_precision(
                Grid(int(min(bi.min(), 0)), int(max(bi.max(), 0)), af).fixed())
            hi, lo = hi + bi, lo + bi
        acc = Grid(int(min(lo.min(), 0)), int(max(hi.max(), 0)), af)
        # products are formed in accum_t too: it must also hold every single product
        prod = Grid(int(min((wi2 * g.lo).min(), (wi2 * g.hi).min())), int(max((wi2 * g.lo).max(), (wi2 * g.hi).max())), af)
        acc = Grid(min(acc.lo, prod.lo), max(acc.hi, prod.hi), af)
        layer.types["accum_t"].precision = acc.fixed()
        self._result_or_fused_quant(layer, acc)

    def _result_or_fused_quant(self, layer, exact: Grid):
        """hls4ml folds a Quant that directly follows a layer into that layer's result type (the cast
        from accum_t then rounds and saturates like Quant): keep such a type, else use the exact one."""
        p = layer.get_output_variable().type.precision
        if _pot_ok(p):
            self.grids[layer.outputs[0]] = Grid.of_type(p)
        else:
            self.set_result(layer, exact)

    def _scale(self, layer, g):
        """``x * scale + bias`` per channel (a Mul by h, a folded batch norm): exact when both sit on a
        power-of-two grid; the C++ forms the full-precision product and sum before the cast."""
        if g is None:
            return self.refuse(layer, "it scales the unquantized model input")
        sc = np.asarray(layer.weights["scale"].data, np.float64).ravel()
        b = np.asarray(layer.weights["bias"].data, np.float64).ravel() if "bias" in layer.weights else np.zeros(1)
        sf, bf = frac_bits(sc), frac_bits(b)
        if sf is None or bf is None:
            return self.refuse(layer, "scale or offset is not on a power-of-two grid (float scale)")
        f = max(g.frac + sf, bf)
        si, bi = ints(sc, sf), ints(b, f)
        layer.weights["scale"].update_precision(Grid(int(min(si.min(), 0)), int(max(si.max(), 0)), sf).fixed())
        if "bias" in layer.weights:
            layer.weights["bias"].update_precision(Grid(int(min(bi.min(), 0)), int(max(bi.max(), 0)), f).fixed())
        shift = f - g.frac - sf
        lo = np.minimum(si * g.lo, si * g.hi) * (1 << shift) + bi
        hi = np.maximum(si * g.lo, si * g.hi) * (1 << shift) + bi
        self._result_or_fused_quant(layer, Grid(int(min(lo.min(), 0)), int(max(hi.max(), 0)), f))

    def _add(self, layer, ins, subtract: bool):
        a, b = ins
        if a is None or b is None:
            raise UnsupportedModelError(f"hls4ml backend: layer '{layer.name}' adds the unquantized model input")
        f = max(a.frac, b.frac)
        a, b = a.at(f), b.at(f)
        if subtract:
            out = Grid(a.lo - b.hi, a.hi - b.lo, f)
        else:
            out = Grid(a.lo + b.lo, a.hi + b.hi, f)
        self._result_or_fused_quant(layer, out)
