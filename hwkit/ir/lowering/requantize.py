"""Requantization passes: each ``match(ctx, site) -> bool`` / ``rewrite(ctx, site) -> Site`` on a
:class:`~hwkit.ir.lowering.site.Site`, run in the order of :data:`SITE_PASSES`.

Together they turn ``quantizer(chain(n))`` into one exact integer layer: a power-of-two shift with
its offset absorbed into the MVU bias (ShiftRound), or else per-channel thresholds (Threshold).
``ctx`` is only used to report an unsupported model (``ctx.fail``)."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from hwkit.ir import requant as rq
from hwkit.ir.graph import ShiftRound, Threshold
from hwkit.ir.lowering.site import Site

SHIFT_MODES = ("ROUND", "HALF_EVEN", "FLOOR")


def _is_pow2(x: Fraction) -> bool:
    return x > 0 and not x.numerator & (x.numerator - 1) and not x.denominator & (x.denominator - 1)


def _relu_tail(site: Site) -> bool:
    return bool(site.chain) and isinstance(site.chain[-1], rq.Max)


class AbsorbScale:
    """The accumulator's real scale divided by the quantizer's scale is one power of two for every
    channel: the scale vanishes into a shift, and what is left is an offset in output steps.
    Only for round-half-even/floor integer quantizers, on one affine piece (optionally followed by
    a ReLU onto a zero-point-free grid, which :class:`FoldRelu` turns into the clip)."""

    name = "absorb_scale"

    def _affine(self, site: Site):
        q, chain = site.quant, site.chain
        if q.bipolar or q.trunc_shift or q.mode.upper() not in SHIFT_MODES:
            return None
        if _relu_tail(site):
            if not all(m == 0 for m in chain[-1].m) or any(z != 0 for z in q.zeropt):
                return None
            chain = chain[:-1]
        if len(chain) != 1 or not isinstance(chain[0], rq.Affine):
            return None
        return chain[0]

    def _alpha(self, site: Site):
        aff = self._affine(site)
        if aff is None:
            return None
        alpha = {aff.a[c] / site.quant.scale[c] for c in range(site.channels)}
        return alpha.pop() if len(alpha) == 1 else None

    def match(self, ctx, site: Site) -> bool:
        alpha = self._alpha(site)
        return site.shift is None and alpha is not None and _is_pow2(alpha)

    def rewrite(self, ctx, site: Site) -> Site:
        alpha, b, q = self._alpha(site), self._affine(site).b, site.quant
        shift = alpha.denominator.bit_length() - alpha.numerator.bit_length()  # alpha = 2**-shift
        return replace(site, shift=shift, offset=tuple(b[c] / q.scale[c] + q.zeropt[c] for c in range(site.channels)))


class AbsorbBias:
    """The offset, scaled to accumulator steps (times 2**shift), is an integer per channel: it
    becomes the producing MVU's bias, so the shift needs no adder of its own. Without a private
    MVU to take it, only a zero offset is absorbed."""

    name = "absorb_bias"

    @staticmethod
    def _ints(site: Site):
        return [x * Fraction(2) ** site.shift for x in site.offset]

    def match(self, ctx, site: Site) -> bool:
        if site.shift is None or site.bias is not None:
            return False
        ints = self._ints(site)
        if any(x.denominator != 1 for x in ints):
            return False
        return not any(ints) or site.mvu is not None

    def rewrite(self, ctx, site: Site) -> Site:
        return replace(site, bias=np.array([int(x) for x in self._ints(site)], dtype=np.int64))


class FoldRelu:
    """A ReLU before a shift requantizer clips at zero: it folds into the clip's lower end (the
    threshold form needs no such pass: the ReLU is part of the chain it pulls back)."""

    name = "fold_relu"

    def match(self, ctx, site: Site) -> bool:
        return site.bias is not None and site.clip_lo is None and _relu_tail(site)

    def rewrite(self, ctx, site: Site) -> Site:
        return replace(site, clip_lo=max(site.quant.qmin, 0))


class RequantizeShift:
    """Scale and offset absorbed: the requantizer is a ShiftRound (a shift, rounding, a clip)."""

    name = "requantize_shift"

    def match(self, ctx, site: Site) -> bool:
        return site.layer is None and site.bias is not None

    def rewrite(self, ctx, site: Site) -> Site:
        q = site.quant
        lo = q.qmin if site.clip_lo is None else site.clip_lo
        rounding = "floor" if q.mode.upper() == "FLOOR" else "half_even"
        return replace(site, layer=ShiftRound(site.name, [site.stream], [], shift=site.shift, rounding=rounding,
                                              lo=lo, hi=q.qmax))


class RequantizeThreshold:
    """Any other monotone chain: exact integer thresholds per channel and level, pulled back through
    the chain in rational arithmetic; decreasing channels are recorded for :class:`FlipRows`."""

    name = "requantize_threshold"

    def match(self, ctx, site: Site) -> bool:
        return site.layer is None

    def rewrite(self, ctx, site: Site) -> Site:
        chain, q = list(site.chain), site.quant
        try:
            T, neg = rq.thresholds(chain, q, site.channels, site.lo, site.hi)
        except ValueError as e:
            ctx.fail(str(e))
        bnd = rq.boundaries(chain, q, site.channels)
        bnd[neg] *= -1
        layer = Threshold(site.name, [site.stream], [], thresholds=T, base=-1 if q.bipolar else q.qmin)
        return replace(site, layer=layer, negate=neg, boundaries=bnd)


class FlipRows:
    """Thresholds compare ``n >= T``: a channel whose map decreases (negative scale) is made
    increasing by negating its MVU row (weights and bias); only a private MVU output allows it."""

    name = "flip_rows"

    def match(self, ctx, site: Site) -> bool:
        return site.sign is None and site.negate is not None and bool(np.any(site.negate))

    def rewrite(self, ctx, site: Site) -> Site:
        if site.mvu is None:
            ctx.fail("decreasing requantization (negative scale) on a stream that is not a private MVU output")
        return replace(site, sign=np.where(site.negate, -1, 1).astype(np.int64))


SITE_PASSES = [AbsorbScale(), AbsorbBias(), FoldRelu(), RequantizeShift(), RequantizeThreshold(), FlipRows()]


def run_site(ctx, site: Site, passes=None) -> Site:
    """Each pass once, in order, where it matches."""
    for p in SITE_PASSES if passes is None else passes:
        if p.match(ctx, site):
            site = p.rewrite(ctx, site)
    return site
