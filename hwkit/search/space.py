"""The search space: per-layer width lists, the sensitivity pass that prunes them, the candidates."""
from __future__ import annotations

import itertools
import random

from hwkit.dse import SweepPoint
from hwkit.zoo import MODELS


def layers(model: str) -> tuple[int, int]:
    n = MODELS[model].layers
    if n is None:
        from hwkit.errors import ConfigError

        raise ConfigError(f"model '{model}' takes no per-layer widths: search one of "
                          f"{', '.join(k for k, e in MODELS.items() if e.layers)}")
    return n


def point(cfg, wbits, abits, seed: int = 0, target_fps=None) -> SweepPoint:
    return SweepPoint(model=cfg.model, wbits=tuple(wbits), abits=tuple(abits), ibits=cfg.ibits, dataset=cfg.dataset,
                      epochs=cfg.epochs, board=cfg.board, target_fps=target_fps, seed=seed)


def sensitivity_widths(cfg) -> list[tuple[str, tuple, tuple]]:
    """(label, wbits, abits): everything at the widest width, then each layer alone at the narrowest."""
    nw, na = layers(cfg.model)
    hw, lw, ha, la = max(cfg.wmenu), min(cfg.wmenu), max(cfg.amenu), min(cfg.amenu)
    out = [("base", (hw,) * nw, (ha,) * na)]
    out += [(f"w{i}", tuple(lw if j == i else hw for j in range(nw)), (ha,) * na) for i in range(nw)]
    out += [(f"a{i}", (hw,) * nw, tuple(la if j == i else ha for j in range(na))) for i in range(na)]
    return out


def drops(cfg, accuracy: dict) -> dict:
    """Accuracy drop per layer label (w0.., a0..) against the base, from ``accuracy[label]``."""
    base = accuracy.get("base")
    return {k: (None if base is None or v is None else round(base - v, 6)) for k, v in accuracy.items() if k != "base"}


def allowed(drop, menu, tol: float) -> tuple:
    """Widths a layer may take: insensitive layers the two narrowest, sensitive ones wider pairs."""
    m = sorted(menu)
    if drop is None or len(m) <= 2:
        return tuple(m)
    if drop <= tol:
        return tuple(m[:2])
    if drop <= 3 * tol:
        return tuple(m[1:3])
    return tuple(m[-2:])


def candidates(cfg, drop: dict) -> list[tuple[tuple, tuple]]:
    """The uniform grid (one W, one A for every layer) and up to ``max_candidates`` mixed lists from
    the pruned space, sampled with a fixed seed: the same inputs give the same candidates."""
    nw, na = layers(cfg.model)
    uniform = [((w,) * nw, (a,) * na) for w in sorted(cfg.wmenu) for a in sorted(cfg.amenu)]
    wchoice = [allowed(drop.get(f"w{i}"), cfg.wmenu, cfg.tol) for i in range(nw)]
    achoice = [allowed(drop.get(f"a{i}"), cfg.amenu, cfg.tol) for i in range(na)]
    mixed = [(w, a) for w in itertools.product(*wchoice) for a in itertools.product(*achoice)
             if (w, a) not in uniform and not (len(set(w)) == 1 and len(set(a)) == 1)]
    if len(mixed) > cfg.max_candidates:
        mixed = sorted(random.Random(0).sample(mixed, cfg.max_candidates))
    return uniform + mixed


def is_uniform(wbits, abits) -> bool:
    return len(set(wbits)) == 1 and len(set(abits)) == 1
