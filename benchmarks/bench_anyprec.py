"""Any-precision MLP benchmark (issue 15): accuracy per precision of the jointly trained model against
separately trained fixed-precision models of the same shape (same epochs, same seeds); golden model
vs each precision's QONNX on the digits test set; Verilator cosim at each precision and with the
precision switching per sample; cycles per sample vs hk_mvu_bp's model; Yosys synth_ecp5 counts of
the any-precision core against the three fixed-precision cores (hwkit's normal MVU, same folding).

    OMP_NUM_THREADS=1 python benchmarks/bench_anyprec.py --part accuracy [--epochs 30] [--seeds 0,1,2]
    OMP_NUM_THREADS=1 python benchmarks/bench_anyprec.py --part hardware [--epochs 30] [--seeds 0]
                                                         [--pe 8 --simd 8] [--no-synth]
    OMP_NUM_THREADS=1 python benchmarks/bench_anyprec.py --part blocks [--pe 8 --simd 8]   (after hardware)
    OMP_NUM_THREADS=1 python benchmarks/bench_anyprec.py --part cores [--pe 8 --simd 8] [--only anyprec,w2]
                                                         (after hardware; whole cores, synth_ecp5)
Both take [--out build/bench_anyprec]; they write accuracy.json / hardware.json there and print the
Markdown tables of benchmarks/results_anyprec.md.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]


def accuracies(epochs: int, seeds: list[int]) -> dict:
    """{'joint' | 'separate' | 'zoo': {seed: {k: acc}}}: the jointly trained any-precision model, the
    same model and quantizer trained at one precision, and hwkit's ordinary zoo TFC (64-64-64-10,
    Brevitas round-to-nearest quantizers) at W{k}A4 through hwkit.train (same epochs, seed, lr, batch)."""
    from hwkit.train import TrainConfig, train
    from hwkit.zoo.anyprec import ABITS, PRECISIONS, train_anyprec

    out: dict = {"joint": {}, "separate": {}, "zoo": {}, "seconds": {}}
    for seed in seeds:
        t0 = time.monotonic()
        out["joint"][seed] = train_anyprec(PRECISIONS, epochs=epochs, seed=seed)[1]
        out["seconds"][f"joint_{seed}"] = round(time.monotonic() - t0, 1)
        out["separate"][seed], out["zoo"][seed] = {}, {}
        for k in PRECISIONS:
            t0 = time.monotonic()
            out["separate"][seed][k] = train_anyprec((k,), epochs=epochs, seed=seed)[1][k]
            out["seconds"][f"w{k}_{seed}"] = round(time.monotonic() - t0, 1)
            t0 = time.monotonic()
            cfg = TrainConfig(model="tfc", dataset="digits", wbits=k, abits=ABITS, epochs=epochs, seed=seed)
            out["zoo"][seed][k] = train(cfg, progress=False)[2]["test_accuracy"]
            out["seconds"][f"zoo_w{k}_{seed}"] = round(time.monotonic() - t0, 1)
        print(json.dumps(out), flush=True)
    return out


def hardware(model, work: Path, pe: int, simd: int, synth: bool) -> dict:
    import numpy as np

    from hwkit.backends.rtl.generate import generate
    from hwkit.backends.rtl.precision import cosimulate_precisions
    from hwkit.data import load_dataset
    from hwkit.ir import quantize_input
    from hwkit.ir.anyprec import fold_anyprec, merge_precisions
    from hwkit.ir.folding import apply_folding
    from hwkit.ir.lower import lower
    from hwkit.kinds.mvu_bp_rtl import hw_cycles
    from hwkit.sim import simulate
    from hwkit.zoo.anyprec import PRECISIONS, export_precision

    d = load_dataset("digits")
    graphs = {k: lower(export_precision(model, k, work / f"anyprec_w{k}.onnx")) for k in PRECISIONS}
    merged = fold_anyprec(merge_precisions(graphs), pe, simd)
    x = quantize_input(graphs[8], d.x_test)
    out = merged.outputs[0]
    res: dict = {"golden": {}, "cosim": {}, "synth": {}}
    for k in PRECISIONS:
        ref = simulate(graphs[k], x).outputs[out]
        got = simulate(merged, x, precision=k).outputs[out]
        res["golden"][str(k)] = {"mismatches": int((ref != got).sum()), "n": len(x),
                            "accuracy": float((got.argmax(1) == d.y_test).mean())}
    core = work / "core_anyprec"
    generate(merged, core)
    bp = [l for l in merged.layers if l.kind == "BitPlaneMVU"]
    for k in PRECISIONS:
        t0 = time.monotonic()
        r = cosimulate_precisions(merged, x, k, core)
        res["cosim"][str(k)] = {"mismatches": r["mismatches"], "n": len(x), "ii_measured": r["ii"],
                           "ii_model": max(hw_cycles(l, k) for l in bp), "seconds": round(time.monotonic() - t0, 1)}
    ks = np.random.default_rng(0).choice(PRECISIONS, len(x))
    r = cosimulate_precisions(merged, x, ks, core)
    res["cosim"]["switching"] = {"mismatches": r["mismatches"], "n": len(x),
                                 "switches": int((ks[1:] != ks[:-1]).sum())}
    if synth:
        from hwkit.tools.yosys import synthesize

        def synth_core(d: Path) -> dict:
            desc = json.loads((d / "core.json").read_text())
            t0 = time.monotonic()
            s = synthesize([d / f for f in desc["files"]["verilog"]], "hwkit_core", d, "ecp5", json_netlist=False)
            return {"lut": s.lut, "ff": s.ff, "bram": s.bram, "dsp": s.dsp, "lutram": s.lutram,
                    "ii_cycles": desc["ii_cycles"], "seconds": round(time.monotonic() - t0, 1)}

        res["synth"]["anyprec"] = synth_core(core)
        for k in PRECISIONS:
            g = apply_folding(graphs[k], {l.name: (l.folding.pe, l.folding.simd) for l in bp})
            d_k = work / f"core_w{k}"
            generate(g, d_k)
            res["synth"][f"w{k}"] = synth_core(d_k)
    return res


def blocks(work: Path, pe: int, simd: int) -> dict:
    """One hidden layer (64x64, 4-bit inputs) alone, synth_ecp5: hk_mvu_bp (8-bit ROM, any k) against
    hk_mvu at 2, 4 and 8 bits with the same folding; parameters and weight images from the cores that
    ``--part hardware`` generated (run it first)."""
    import shutil

    from hwkit.backends.rtl.plan import build_plan
    from hwkit.backends.rtl.stream import RTL_DIR
    from hwkit.ir.anyprec import fold_anyprec, merge_precisions
    from hwkit.ir.folding import apply_folding
    from hwkit.ir.lower import lower
    from hwkit.tools.base import run_tool
    from hwkit.tools.yosys import count_cells, yosys_path
    from hwkit.zoo.anyprec import PRECISIONS

    graphs = {k: lower(work / f"anyprec_w{k}.onnx") for k in PRECISIONS}
    merged = fold_anyprec(merge_precisions(graphs), pe, simd)
    fold = {l.name: (l.folding.pe, l.folding.simd) for l in merged.layers if l.kind == "BitPlaneMVU"}
    layer = [l.name for l in merged.layers if l.kind == "BitPlaneMVU"][1]      # a 64x64 hidden layer
    designs = {"anyprec (hk_mvu_bp, 8-bit ROM)": merged}
    designs.update({f"w{k} (hk_mvu)": apply_folding(graphs[k], fold) for k in PRECISIONS})
    out = {}
    for name, g in designs.items():
        plan = build_plan(g)
        inst = next(i for i in plan.insts if i.name == f"u_{layer}")
        d = work / "blocks" / inst.module / name.split()[0]
        d.mkdir(parents=True, exist_ok=True)
        for f in ("hk_rom.v", "hk_addtree.v"):
            shutil.copyfile(RTL_DIR / f, d / f)
        params = dict(inst.params)
        text = (RTL_DIR / f"{inst.module}.v").read_text()   # file names as defaults: chparam takes numbers
        for k in ("WFILE", "BFILE"):
            text = text.replace(f'parameter {k} = "{k[0].lower()}.mem"', f'parameter {k} = "{params[k]}"') \
                if k in params else text
        (d / params["WFILE"]).write_text(plan.mems[params["WFILE"]])
        if params.get("HAS_BIAS"):
            (d / params["BFILE"]).write_text(plan.mems[params["BFILE"]])
        (d / f"{inst.module}.v").write_text(text)
        chp = " ".join(f"-chparam {k} {int(v)}" for k, v in params.items() if not isinstance(v, str))
        (d / "blk.ys").write_text(f"read_verilog -defer hk_rom.v hk_addtree.v {inst.module}.v\n"
                                  f"hierarchy -top {inst.module} {chp}\nsynth_ecp5 -top {inst.module}\n"
                                  f"tee -q -o blk.stat.json stat -json\n")
        t0 = time.monotonic()
        run_tool([yosys_path(), "-q", "-s", "blk.ys"], cwd=d, log=d / "yosys.log", timeout=3600, stage="yosys block")
        stat = json.loads((d / "blk.stat.json").read_text())
        cells = stat["design"]["num_cells_by_type"] if "num_cells_by_type" in stat.get("design", {}) else {}
        out[name] = {**count_cells(cells, "ecp5"), "cycles": next(li.cycles for li in plan.layers if li.name == layer),
                     "params": {k: v for k, v in params.items() if not isinstance(v, str)},
                     "seconds": round(time.monotonic() - t0, 1)}
        print(name, out[name], flush=True)
    return out


def cores(work: Path, pe: int, simd: int, only: list[str]) -> dict:
    """The whole any-precision core and the three fixed-precision cores of the same shape and folding
    (hwkit's normal MVU + ShiftRound), each generated and synthesized flat with synth_ecp5 (as a ULX3S
    build does: DSP blocks allowed) one after another, from the QONNX files ``--part hardware`` wrote.
    Each result is saved as soon as it is measured (cores.json), so a stopped run keeps what finished."""
    from hwkit.backends.rtl.generate import generate
    from hwkit.boards import load_board
    from hwkit.backends import estimate_graph
    from hwkit.ir.anyprec import fold_anyprec, merge_precisions
    from hwkit.ir.folding import apply_folding
    from hwkit.ir.lower import lower
    from hwkit.tools.yosys import synthesize, version
    from hwkit.zoo.anyprec import PRECISIONS

    graphs = {k: lower(work / f"anyprec_w{k}.onnx") for k in PRECISIONS}
    merged = fold_anyprec(merge_precisions(graphs), pe, simd)
    fold = {l.name: (l.folding.pe, l.folding.simd) for l in merged.layers if l.kind == "BitPlaneMVU"}
    designs = {"anyprec": merged, **{f"w{k}": apply_folding(graphs[k], fold) for k in PRECISIONS}}
    path = work / "cores.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    board = load_board("ulx3s")
    for name, g in designs.items():
        if only and name not in only:
            continue
        d = work / f"wholecore_{name}"
        generate(g, d)
        desc = json.loads((d / "core.json").read_text())
        est = estimate_graph(g, board, "rtl")
        t0 = time.monotonic()
        syn = synthesize([d / f for f in desc["files"]["verilog"]], "hwkit_core", d, "ecp5", json_netlist=name == "anyprec",
                         timeout=3600)
        core_est = {k: sum(r[k] for r in est["layers"]) + est["wrapper"][k] - (board_top_cost(g, board)[k])
                    for k in ("lut", "ff", "bram", "lutram")}
        out[name] = {"lut": syn.lut, "ff": syn.ff, "bram": syn.bram, "dsp": syn.dsp, "lutram": syn.lutram,
                     "ii_cycles": desc["ii_cycles"], "seconds": round(time.monotonic() - t0, 1),
                     "estimate_core": core_est, "yosys": version().split(" (")[0]}
        print(name, out[name], flush=True)
        path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return out


def board_top_cost(graph, board) -> dict:
    """The UART board top's share of an rtl estimate (the cores above are synthesized without it)."""
    from hwkit.estimate.blocks import board_top
    from hwkit.estimate.rtl import _board_units, plan_for, wrapper_params

    return _board_units(board_top(wrapper_params(plan_for(graph, board.family), board.clock_mhz), board.family),
                        board.family)


def cores_table(res: dict) -> str:
    lines = ["| core (ECP5, synth_ecp5) | LUT4 (CCU2C = 2) | FF | DP16KD | LUTRAM | DSP | cycles/sample | synth s |",
             "|---|---|---|---|---|---|---|---|"]
    tot = {"lut": 0, "ff": 0, "bram": 0, "lutram": 0, "dsp": 0}
    for name, r in res.items():
        ii = "152 / 280 / 536 (k = 2 / 4 / 8)" if name == "anyprec" else str(r["ii_cycles"])
        lines.append(f"| {name} | {r['lut']:,.0f} | {r['ff']:,} | {r['bram']:.0f} | {r['lutram']} | {r['dsp']} | {ii} | "
                     f"{r['seconds']:.0f} |")
        if name != "anyprec":
            for key in tot:
                tot[key] += r[key]
    if all(f"w{k}" in res for k in (2, 4, 8)):
        lines.append(f"| w2 + w4 + w8 (three cores) | {tot['lut']:,.0f} | {tot['ff']:,} | {tot['bram']:.0f} | "
                     f"{tot['lutram']} | {tot['dsp']} | | |")
    return "\n".join(lines)


def acc_table(acc: dict, seeds: list[int]) -> str:
    import numpy as np

    def cell(name, k):
        v = [100 * acc[name][s][k] for s in seeds]
        return f"{np.mean(v):.1f} +- {np.std(v):.1f} ({', '.join(f'{x:.1f}' for x in v)})"

    lines = [f"| precision | joint any-precision (one 8-bit weight set) | same quantizer, trained alone | "
             f"zoo TFC W{{k}}A4 (hwkit train) |", "|---|---|---|---|"]
    for k in sorted(acc["joint"][seeds[0]]):
        lines.append(f"| W{k}A4 | {cell('joint', k)} | {cell('separate', k)} | {cell('zoo', k)} |")
    return "\n".join(lines)


def hw_table(hw: dict) -> str:
    lines = ["| precision | golden vs that precision's QONNX (mismatches / values) | golden accuracy | "
              "Verilator mismatches | cycles/sample measured | model |", "|---|---|---|---|---|---|"]
    for k, g in hw["golden"].items():
        c = hw["cosim"][k]
        lines.append(f"| {k} | {g['mismatches']} / {g['n'] * 10} | {100 * g['accuracy']:.1f} % | "
                     f"{c['mismatches']} / {c['n'] * 10} | {c['ii_measured']} | {c['ii_model']} |")
    s = hw["cosim"]["switching"]
    lines.append(f"| random per sample ({s['switches']} switches) | | | {s['mismatches']} / {s['n'] * 10} | | |")
    if hw["synth"]:
        lines += ["", "| core (ECP5, synth_ecp5) | LUT4 (CCU2C = 2) | FF | DP16KD | LUTRAM | cycles/sample (II) |",
                  "|---|---|---|---|---|---|"]
        tot = {"lut": 0, "ff": 0, "bram": 0, "lutram": 0}
        for name, r in hw["synth"].items():
            lines.append(f"| {name} | {r['lut']:.0f} | {r['ff']} | {r['bram']:.0f} | {r['lutram']} | {r['ii_cycles']} |")
            if name != "anyprec":
                for key in tot:
                    tot[key] += r[key]
        lines.append(f"| w2 + w4 + w8 (three cores) | {tot['lut']:.0f} | {tot['ff']} | {tot['bram']:.0f} | "
                     f"{tot['lutram']} | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--pe", type=int, default=8)
    ap.add_argument("--simd", type=int, default=8)
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--part", choices=("accuracy", "hardware", "blocks", "cores"), required=True)
    ap.add_argument("--only", default="", help="--part cores: a subset of anyprec,w2,w4,w8")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_anyprec")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part == "accuracy":
        acc = accuracies(args.epochs, seeds)
        (args.out / "accuracy.json").write_text(json.dumps({"accuracy": acc, "epochs": args.epochs, "seeds": seeds},
                                                           indent=1, sort_keys=True) + "\n")
        print(acc_table(acc, seeds))
        return
    if args.part == "cores":
        print(cores_table(cores(args.out, args.pe, args.simd, [n for n in args.only.split(",") if n])))
        return
    if args.part == "blocks":
        res = blocks(args.out, args.pe, args.simd)
        (args.out / "blocks.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        return
    from hwkit.zoo.anyprec import train_anyprec

    model, acc = train_anyprec(epochs=args.epochs, seed=seeds[0])
    print("joint model, seed", seeds[0], acc, flush=True)
    hw = hardware(model, args.out, args.pe, args.simd, not args.no_synth)
    print(hw_table(hw), flush=True)
    (args.out / "hardware.json").write_text(json.dumps({"hardware": hw, "torch_accuracy": acc, "epochs": args.epochs,
                                                        "seed": seeds[0], "pe": args.pe, "simd": args.simd},
                                                       indent=1, sort_keys=True, default=str) + "\n")


if __name__ == "__main__":
    main()
