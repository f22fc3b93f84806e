"""Quantizer presets: one place that decides how every zoo model quantizes.

``pot`` (the default) is *hardware friendly*: every scale is a power of two and every bias an
integer on the accumulator's grid. Why that makes hardware bit-exact:

- A tensor quantized with scale ``2**-k`` is exactly ``q * 2**-k`` with integer ``q``; float32
  represents it without error, so Brevitas (float), qonnx execution (float) and hardware
  (integers) agree on the value of every weight and activation.
- A dot product of such tensors is an integer times ``2**-(k_w + k_x)``. As long as the integer
  fits the float32 mantissa, float accumulation is exact in any order, so software sums equal
  the hardware accumulator.
- The bias (``Int32Bias``) is quantized with scale ``s_w * s_x``: it is an integer added to that
  accumulator, not a float that would need rounding.
- Requantizing to the next layer's power-of-two scale multiplies by ``2**n``: a shift and a
  rounding step in hardware, which float performs exactly too, so even rounding ties resolve
  identically.

``float`` uses Brevitas' default learned float scales (FINN's BNN-PYNQ style, with BatchNorm in
the MLPs). Software and hardware then differ where float rounding lands on a tie; the golden
model reports those elements.
"""
from __future__ import annotations

from dataclasses import dataclass

from brevitas.core.scaling import ScalingImplType
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Int32Bias,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)

from hwkit.errors import ConfigError

PRESETS = ("pot", "float")


class BinaryWeightPoT(SignedBinaryWeightPerTensorConst):
    """Bipolar weights of scale 2**-3: Brevitas' default constant 0.1 is not a power of two, and
    the nearest one keeps pre-activations in the range the 0.1 default was chosen for (a scale
    of 1 saturates the following activation quantizers and training stalls at chance)."""

    scaling_const = 0.125


class InputQuantPoT(Uint8ActPerTensorFixedPoint):
    """Inputs in [0, 1] on a fixed grid of 2**-bits: the integer input is the raw pixel code."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 1.0


class InputQuantFloat(Uint8ActPerTensorFloat):
    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 1.0


@dataclass(frozen=True)
class QuantSpec:
    """Keyword arguments for Brevitas layers, per role."""

    preset: str

    def _check(self, bits: int, what: str) -> int:
        if not isinstance(bits, int) or not 1 <= bits <= 8:
            raise ConfigError(f"{what} bit width must be an integer in 1..8, got {bits}")
        return bits

    def weight(self, bits: int) -> dict:
        self._check(bits, "weight")
        if bits == 1:
            return dict(weight_quant=BinaryWeightPoT if self.preset == "pot" else SignedBinaryWeightPerTensorConst)
        quant = Int8WeightPerTensorFixedPoint if self.preset == "pot" else Int8WeightPerTensorFloat
        # narrow range: a 2-bit weight is ternary {-1, 0, 1}, symmetric like the hardware MAC
        return dict(weight_quant=quant, weight_bit_width=bits, weight_narrow_range=True)

    def bias(self) -> dict:
        if self.preset == "pot":
            return dict(bias=True, bias_quant=Int32Bias)
        return dict(bias=False)

    def relu(self, bits: int) -> dict:
        """Unsigned activation after a ReLU (1 bit: the sign activation of BNNs)."""
        self._check(bits, "activation")
        if bits == 1:
            return dict(act_quant=SignedBinaryActPerTensorConst)
        quant = Uint8ActPerTensorFixedPoint if self.preset == "pot" else Uint8ActPerTensorFloat
        return dict(act_quant=quant, bit_width=bits, max_val=2.0)

    def signed_act(self, bits: int, max_val: float = 2.0) -> dict:
        """Signed activation for residual streams (and the 1-bit sign activation)."""
        self._check(bits, "activation")
        if bits == 1:
            return dict(act_quant=SignedBinaryActPerTensorConst)
        quant = Int8ActPerTensorFixedPoint if self.preset == "pot" else Int8ActPerTensorFloat
        return dict(act_quant=quant, bit_width=bits, max_val=max_val)

    def input(self, bits: int) -> dict:
        self._check(bits, "input")
        quant = InputQuantPoT if self.preset == "pot" else InputQuantFloat
        return dict(act_quant=quant, bit_width=bits, max_val=1.0, return_quant_tensor=True)


def per_layer(bits, n: int, what: str) -> list[int]:
    """One width for every layer (an int) or one per layer (a list of ``n``): always a list of ``n``."""
    if isinstance(bits, (list, tuple)):
        if len(bits) != n:
            raise ConfigError(f"{what} bit widths: this model has {n} {what} layers, got a list of {len(bits)} "
                              f"({','.join(map(str, bits))})")
        return [int(b) if isinstance(b, int) and not isinstance(b, bool) else b for b in bits]
    return [bits] * n


def quant_spec(preset: str) -> QuantSpec:
    if preset not in PRESETS:
        raise ConfigError(f"unknown quantizer preset '{preset}': choose one of {', '.join(PRESETS)}")
    return QuantSpec(preset)
