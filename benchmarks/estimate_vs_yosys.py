"""hwkit.estimate against Yosys on four builds: the estimate of the current code next to the cell
counts of a real synthesis of the same core inside the UART board top (the build's own export ->
lower -> estimate -> generate -> synthesize stages, run into build/estimate_vs_yosys/).

    .venv/bin/python benchmarks/estimate_vs_yosys.py [--out DIR] [--per-block]

``--per-block`` also synthesizes every RTL instance alone and prints estimate vs Yosys per block.
Writes a Markdown table to benchmarks/results/estimate_vs_yosys.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = {
    "tfc_w2a2 / ulx3s": dict(model="", board="ulx3s"),
    "stable_w4a4 / ulx3s": dict(model=str(ROOT / "hwkit/pretrained/stable_w4a4_digits.onnx"), board="ulx3s"),
    "cnv_w2a2 (zoo, untrained) / ulx3s": dict(model="cnv", board="ulx3s"),
    "tfc_w2a2 / icebreaker, 20k fps": dict(model="", board="icebreaker", target_fps=20000),
}
EXTRA = {  # other block mixes: thresholds and XNOR popcounts, residual adds and forks, a Xilinx part
    "tfc_w1a1 (zoo, untrained) / ulx3s": dict(model="zoo:tfc:1:1", board="ulx3s"),
    "residual_cnv_w4a4 (zoo, untrained) / ulx3s": dict(model="zoo:residual_cnv:4:4", board="ulx3s"),
    "tfc_w2a2 / pynq-z1 (core only)": dict(model="", board="pynq-z1"),
}


def _zoo(out: Path, name: str, wbits: int, abits: int) -> str:
    """An untrained zoo model (seed 0) on 8x8 inputs, exported once."""
    path = out / f"{name}_w{wbits}a{abits}.onnx"
    if not path.exists():
        import torch

        from hwkit.export import export_qonnx
        from hwkit.zoo import MODELS, build_model

        torch.manual_seed(0)
        shape = (1, 8, 8) if MODELS[name].kind != "mlp" else MODELS[name].default_in_shape
        export_qonnx(build_model(name, wbits, abits, 8).eval(), shape, path)
    return str(path)


def _flow():
    from hwkit.build import default_flow

    flow = default_flow("rtl")
    flow[:] = [s for s in flow if s.name in ("export", "lower", "estimate", "generate", "synthesize")]
    return flow


def run(name: str, out: Path) -> dict:
    from hwkit.boards import load_board
    from hwkit.build import BuildConfig, run_flow
    from hwkit.backends import estimate_graph

    kw = dict({**DESIGNS, **EXTRA}[name])
    if kw["model"] == "cnv":
        kw["model"] = _zoo(out, "cnv", 2, 2)
    elif kw["model"].startswith("zoo:"):
        _, zname, wb, ab = kw["model"].split(":")
        kw["model"] = _zoo(out, zname, int(wb), int(ab))
    d = out / "".join(c if c.isalnum() else "_" for c in name)
    ctx = run_flow(_flow(), BuildConfig(**kw), d)
    from hwkit.stages.common import load_graph_artefact

    graph = load_graph_artefact(ctx.stage_dir("lower"))
    board = load_board(kw["board"])
    est = estimate_graph(graph, board, "rtl", clock_mhz=ctx.results["synthesize"]["clock"]["achieved_mhz"])
    syn = ctx.results["synthesize"]
    return {"design": name, "dir": str(d), "estimate": est["total"],
            "yosys": {**syn["total"], "lutram": syn.get("lutram") or 0}}


def per_block(d: Path, family: str) -> list:
    """Every plan instance synthesized alone (yosys as the build runs it) vs its block estimate."""
    import shutil
    import subprocess

    from hwkit.estimate.blocks import block_cost
    from hwkit.estimate.memory import family_key
    from hwkit.estimate.rtl import plan_for
    from hwkit.tools.yosys import SYNTH, count_cells, yosys_path

    gen = next(d.glob("*-generate"))
    work = d / "per_block"
    work.mkdir(exist_ok=True)
    for f in list(gen.glob("*.mem")) + list(gen.glob("hk_*.v")):
        shutil.copyfile(f, work / f.name)
    from hwkit.stages.common import load_graph_artefact

    plan = plan_for(load_graph_artefact(next(d.glob("*-lower"))))
    family = family_key(family)
    synth = SYNTH[family] + (" -nodsp" if family == "ecp5" else "")
    ins = {"clk", "rst", "in_data", "in_valid", "out_ready", "a_data", "a_valid", "b_data", "b_valid",
           "rom_data", "en_a", "addr_a", "en_b", "addr_b"}
    rows = []
    for k, inst in enumerate(plan.insts):
        decl, conn = [], []
        for i, (port, net) in enumerate(inst.ports):
            if net in ("", "0"):
                conn.append(f".{port}({'0' if net else ''})")
                continue
            one = port in ("clk", "rst", "en_a", "en_b") or port.endswith(("valid", "ready"))
            is_in = port in ins or (inst.module == "hk_fork" and port in ("a_ready", "b_ready"))
            if inst.module == "hk_fork" and port == "in_ready":
                is_in = False
            decl.append(f"{'input' if is_in else 'output'} wire {'' if one else '[4095:0] '}p{i}")
            conn.append(f".{port}(p{i})")
        params = ", ".join(f".{n}({json.dumps(v) if isinstance(v, str) else int(v)})" for n, v in inst.params)
        (work / f"t{k}.v").write_text(f"module t{k}({', '.join(decl)});\n  {inst.module} #({params}) u "
                                      f"({', '.join(conn)});\nendmodule\n")
        srcs = sorted(p.name for p in work.glob("hk_*.v"))
        script = [f"read_verilog -defer {s}" for s in srcs] + [f"read_verilog -defer t{k}.v",
                  f"{synth} -top t{k}", f"tee -q -o t{k}.json stat -json"]
        (work / f"t{k}.ys").write_text("\n".join(script) + "\n")
        subprocess.run([yosys_path(), "-q", "-s", f"t{k}.ys"], cwd=work, check=True, capture_output=True)
        got = count_cells(json.loads((work / f"t{k}.json").read_text())["design"]["num_cells_by_type"], family)
        est = block_cost(inst.module, inst.params, family, plan.mems).as_dict()
        rows.append({"instance": inst.name, "module": inst.module, "estimate": est, "yosys": got})
        print(f"  {inst.name:28s} LUT {est['lut']:6d} / {got['lut']:6.0f}  FF {est['ff']:6d} / {got['ff']:6d}  "
              f"BRAM {est['bram']:3d} / {got['bram']:3.0f}  LUTRAM {est['lutram']:4d} / {got['lutram']:4d}", flush=True)
    return rows


def table(rows: list) -> str:
    def pct(e, y):
        return f"{100 * (e - y) / y:+.0f} %" if y else "-"

    out = ["| design | LUT est / yosys | FF est / yosys | BRAM est / yosys | LUTRAM est / yosys |",
           "|---|---|---|---|---|"]
    for r in rows:
        e, y = r["estimate"], r["yosys"]
        out.append(f"| {r['design']} | {e['lut']:,} / {y['lut']:,.0f} ({pct(e['lut'], y['lut'])}) | "
                   f"{e['ff']:,} / {y['ff']:,} ({pct(e['ff'], y['ff'])}) | {e['bram']:g} / {y['bram']:g} | "
                   f"{e['lutram']} / {y['lutram']} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "estimate_vs_yosys")
    ap.add_argument("--per-block", action="store_true")
    ap.add_argument("--extra", action="store_true", help="also: " + "; ".join(EXTRA))
    ap.add_argument("designs", nargs="*", help="subset of: " + "; ".join(DESIGNS))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.designs or [*DESIGNS, *(EXTRA if args.extra else ())]:
        r = run(name, args.out)
        rows.append(r)
        if args.per_block:
            from hwkit.boards import load_board

            per_block(Path(r["dir"]), load_board({**DESIGNS, **EXTRA}[name]["board"]).family)
    text = table(rows)
    print(text)
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "estimate_vs_yosys.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
