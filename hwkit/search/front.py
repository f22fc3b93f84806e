"""Pareto fronts of a search and the comparison of mixed against uniform widths."""
from __future__ import annotations

import statistics

from hwkit.dse import widths_text
from hwkit.search.space import is_uniform

AXES = {"lut": ("estimated LUTs", "min"), "bram": ("estimated BRAM blocks", "min"),
        "fps": ("throughput (samples/s, clock / II)", "max")}


def _fps_suffix(target) -> str:
    return "" if target is None else " @max" if target == "max" else f" @{target:g}/s"


def rows(points: dict) -> list[dict]:
    """One row per trained width list (seed 0) and throughput target, with accuracy over all seeds."""
    seeds: dict[tuple, dict] = {}
    for rec in points.values():
        if rec.get("phase") in ("sensitivity", "candidate", "seed") and rec.get("test_accuracy") is not None:
            seeds.setdefault((tuple(rec["wbits"]), tuple(rec["abits"])), {})[rec["seed"]] = rec["test_accuracy"]
    out = []
    for rec in points.values():
        if rec.get("phase") not in ("sensitivity", "candidate"):
            continue
        wa = (tuple(rec["wbits"]), tuple(rec["abits"]))
        accs = [a for _, a in sorted(seeds.get(wa, {}).items())]
        for v in rec.get("variants", []):
            if v.get("status") != "ok":
                continue
            out.append({
                "id": f"W{widths_text(wa[0])} A{widths_text(wa[1])}" + _fps_suffix(v.get("target_fps")),
                "wbits": list(wa[0]), "abits": list(wa[1]), "uniform": is_uniform(*wa), "target_fps": v.get("target_fps"),
                "lut": v["lut"], "ff": v["ff"], "bram": v["bram"], "dsp": v["dsp"], "fps": v["fps"], "ii_cycles": v["ii_cycles"],
                "accuracy": statistics.fmean(accs), "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else None,
                "seeds": len(accs), "accuracy_seed0": rec["test_accuracy"],
            })
    # one row per distinct design (a sensitivity point can reappear as a candidate)
    unique = {(tuple(r["wbits"]), tuple(r["abits"]), r["target_fps"]): r for r in out}
    return sorted(unique.values(), key=lambda r: (r["lut"], -r["accuracy"], r["id"]))


def pareto(items: list[dict], axis: str, acc: str = "accuracy") -> list[dict]:
    """Points no other point beats on both accuracy (higher) and ``axis`` (AXES says which way)."""
    sign = 1 if AXES[axis][1] == "min" else -1
    # ties broken by name: the same points give the same front whatever order they finished in
    ordered = sorted(items, key=lambda r: (sign * r[axis], -r[acc], r.get("id", "")))
    front, best = [], float("-inf")
    for r in ordered:
        if r[acc] > best:
            front.append(r)
            best = r[acc]
    return front


def mixed_vs_uniform(items: list[dict]) -> list[dict]:
    """For every mixed point on the LUT front: the best uniform point at no more LUTs, and by how much
    the mixed one is more accurate (in accuracy and in standard deviations of the two)."""
    uniform = [r for r in items if r["uniform"]]
    out = []
    for r in pareto(items, "lut"):
        if r["uniform"]:
            continue
        rivals = [u for u in uniform if u["lut"] <= r["lut"]]
        best = max(rivals, key=lambda u: u["accuracy"], default=None)
        row = {"mixed": r["id"], "lut": r["lut"], "accuracy": r["accuracy"], "std": r["accuracy_std"],
               "seeds": r["seeds"], "uniform": best["id"] if best else None,
               "uniform_lut": best["lut"] if best else None, "uniform_accuracy": best["accuracy"] if best else None,
               "uniform_std": best["accuracy_std"] if best else None}
        row["margin"] = r["accuracy"] - best["accuracy"] if best else None
        spread = max((r["accuracy_std"] or 0.0), (best["accuracy_std"] or 0.0) if best else 0.0)
        row["beats"] = best is None or row["margin"] > 0
        row["beats_by_more_than_std"] = best is None or (row["margin"] > spread and r["seeds"] >= 2)
        out.append(row)
    return out


def front_plot(items: list[dict], synth: list[dict] | None = None) -> bytes:
    """Accuracy against LUTs, BRAM and throughput: every design, the uniform ones apart, each front a
    staircase line; error bars where several seeds were trained."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), dpi=100)
    for ax, (axis, (label, way)) in zip(axes, AXES.items()):
        for uniform, marker, color, name in ((False, "o", "#6c8ebf", "mixed per layer"), (True, "s", "#d79b00", "uniform")):
            sel = [r for r in items if r["uniform"] == uniform]
            ax.scatter([r[axis] for r in sel], [r["accuracy"] for r in sel], marker=marker, s=18, color=color,
                       alpha=0.55, label=name)
        for subset, color, name in ((items, "#b42318", "front (all)"), ([r for r in items if r["uniform"]], "#d79b00",
                                                                          "front (uniform only)")):
            front = pareto(subset, axis)
            if front:
                ax.step([r[axis] for r in front], [r["accuracy"] for r in front], where="post" if way == "min" else "pre",
                        color=color, lw=1.6, label=name)
                errs = [r for r in front if r["accuracy_std"] is not None]
                ax.errorbar([r[axis] for r in errs], [r["accuracy"] for r in errs],
                            yerr=[r["accuracy_std"] for r in errs], fmt="none", ecolor=color, capsize=3)
        if axis == "lut" and synth:
            ok = [s for s in synth if s.get("synth")]
            ax.scatter([s["synth"]["lut"] for s in ok], [s["accuracy"] for s in ok], marker="x", color="k",
                       label="Yosys LUTs of front points")
        values = [r[axis] for r in items if r[axis]]
        if axis == "fps" or (axis == "lut" and max(values) > 8 * min(values)):  # fastest-that-fits designs sit 10x out
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
