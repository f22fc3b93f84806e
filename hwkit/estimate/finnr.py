"""FINN-R style analytic estimate for the HLS backends (hls4ml, FINN), whose hardware hwkit does not
generate itself.

The matrix-vector unit follows FINN's cost model (finn/custom_op/fpgadataflow/matrixvectoractivation.py
``bram_estimation``/``get_exp_cycles`` and hls/matrixvectoractivation_hls.py ``lut_estimation``/
``dsp_estimation``, finn-plus 1.6.1, BSD-3), which comes from FINN-R (Blott et al., ACM TRETS 2018):

    LUT  = c0 + c1 * PE * (mult + addertree + acc + thr + comp) + c2
    mult = SIMD * (2 * ceil((W + A) / k) - 1) * (W + A)         (k = LUT inputs; FINN uses k = 6)
    addertree = (W + A) * (2 * SIMD - 1),  acc = accumulator bits
    cycles = MH / PE * MW / SIMD * pixels

hwkit's changes: ``k`` follows the family (4 for ECP5/iCE40), block RAM counts use the family's own
block shapes instead of Xilinx RAMB18 only, weight memories go to LUTs when they have at most 64 words
(FINN's internal_embedded rule is <= 128 words); LUT4 parts hold only 16 bits per LUT RAM, 1-bit
layers count an XNOR per product, and FF counts (FINN has none) are the registers of the datapath.
hwkit's own RTL backend is estimated from its generated plan instead (:mod:`hwkit.estimate.rtl`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hwkit.estimate.memory import bram_blocks, family_key

LUTRAM_MAX_WORDS = 64


def _in_luts(depth: int, width: int, backend: str) -> bool:
    return depth <= LUTRAM_MAX_WORDS


@dataclass
class LayerEstimate:
    name: str
    kind: str
    pe: int = 1
    simd: int = 1
    wbits: int = 0
    abits: int = 0
    obits: int = 0
    cycles: int = 0
    lut: int = 0
    ff: int = 0
    bram: float = 0.0  # in the board's own block units (Xilinx: 36 Kb blocks, so halves appear)
    dsp: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _to_board_units(blocks: int, family: str) -> float:
    return blocks / 2 if family_key(family) == "xilinx" else float(blocks)  # RAMB18 -> RAMB36 blocks


def _pixels(shape) -> int:
    return int(math.prod(shape[:-1])) if len(shape) > 1 else 1


def estimate_mvu(layer, in_stream, out_stream, *, lut_inputs: int, family: str, backend: str,
                 use_dsp: bool) -> LayerEstimate:
    pe, simd = layer.folding.pe, layer.folding.simd
    mh, mw = layer.mh, layer.mw
    w = layer.wtype.bits
    a = in_stream.dtype.bits
    acc = layer.acc.bits if layer.acc is not None else out_stream.dtype.bits
    binary = getattr(layer.wtype, "bipolar", False) and getattr(in_stream.dtype, "bipolar", False)
    k = lut_inputs
    if binary:
        mult = simd  # one XNOR per product, popcount in the adder tree
        adder = 2 * simd
    else:
        mult = 0 if use_dsp else simd * (2 * math.ceil((w + a) / k) - 1) * (w + a)
        adder = (w + a) * (2 * simd - 1)
    depth = (mh * mw) // (pe * simd) if layer.transposed_of is None else 0
    width = pe * simd * w
    if _in_luts(depth, width, backend):
        mem_luts, blocks = width * math.ceil(depth / (64 if k >= 6 else 16)), 0
    else:
        mem_luts, blocks = 0, bram_blocks(depth, width, family)
    c0 = 300
    lut = int(c0 + 1.1 * pe * (mult + adder + acc) + mem_luts)
    fold = max(1, (mh // pe) * (mw // simd))
    ff = simd * a + pe * acc + pe * out_stream.dtype.bits + 2 * math.ceil(math.log2(fold + 1)) + 4
    dsp = pe * simd * math.ceil((w + a) / 48) if use_dsp and not binary else 0
    cycles = (mh // pe) * (mw // simd) * _pixels(in_stream.shape)
    return LayerEstimate(layer.name, "MVU", pe, simd, w, a, out_stream.dtype.bits, cycles, lut, ff,
                         _to_board_units(blocks, family), dsp)


def estimate_threshold(layer, in_stream, out_stream, *, lut_inputs: int, family: str,
                       backend: str = "hls4ml") -> LayerEstimate:
    pe = layer.folding.pe
    a = in_stream.dtype.bits
    ch = in_stream.channels
    n = layer.thresholds.shape[1]
    depth = max(1, ch // pe) if layer.thresholds.shape[0] > 1 else 1
    width = pe * n * a
    comparators = pe * n * a // 2 if lut_inputs <= 4 else pe * n * a // 3  # carry-chain compares, 2-3 bits/LUT
    if _in_luts(depth, width, backend):
        mem_luts, blocks = (width * math.ceil(depth / (64 if lut_inputs >= 6 else 16)) if depth > 1 else 0), 0
    else:
        mem_luts, blocks = 0, bram_blocks(depth, width, family)
    obits = out_stream.dtype.bits
    lut = comparators + mem_luts + pe * n  # + the adder summing comparator outputs
    ff = pe * (a + obits) + math.ceil(math.log2(depth + 1)) + 2
    return LayerEstimate(layer.name, "Threshold", pe, 1, 0, a, obits, depth * _pixels(in_stream.shape),
                         lut, ff, _to_board_units(blocks, family), 0)


def estimate_simple(layer, in_stream, out_stream, *, family: str) -> LayerEstimate:
    """Streaming helpers (requantizers, reshapes, pools, adds, window buffers): width-proportional."""
    a = in_stream.dtype.bits
    obits = out_stream.dtype.bits
    ch = in_stream.channels
    kind = layer.kind
    lut = ff = blocks = 0
    if kind == "ShiftRound":
        lut, ff = 2 * a, obits
    elif kind == "Add":
        lut, ff = 2 * obits, obits
    elif kind == "Pool":
        kh, kw = layer.kernel
        lut, ff = ch * a * 2, ch * a * (kw + 1)
    elif kind == "SlidingWindow":
        kh, kw = layer.kernel
        width = in_stream.shape[1] if len(in_stream.shape) == 3 else 1
        depth = kh * width  # line buffer of KH rows
        w = ch * a
        blocks = bram_blocks(depth, w, family) if depth * w > 1024 else 0
        lut, ff = 40 + w, 2 * w + 20
    elif kind == "Reshape":
        lut, ff = 10, ch * a
    cycles = _pixels(out_stream.shape)
    return LayerEstimate(layer.name, kind, 1, 1, 0, a, obits, cycles, lut, ff, _to_board_units(blocks, family), 0)
