"""hwkit.estimate against Yosys on four builds: the estimate of the current code next to the cell
counts of a real synthesis of the same core inside the UART board top (the build's own export ->
lower -> estimate -> generate -> synthesize stages, run into build/estimate_vs_yosys/).

    .venv/bin/python benchmarks/estimate_vs_yosys.py [--out DIR] [--per-block]

``--per-block`` also synthesizes every RTL instance alone and prints estimate vs Yosys per block.
Writes a Markdown table to benchmarks/results/estimate_vs_yosys.md.

    .venv/bin/python benchmarks/estimate_vs_yosys.py --block 'hk_mvu:MW=1024,MH=1024,PE=64,SIMD=32,...' \
        [--family ecp5|xilinx|ice40] [--out DIR]

    .venv/bin/python benchmarks/estimate_vs_yosys.py --core MODEL.onnx --board B [--target-fps F] [--out DIR]

``--core`` runs the build's export, lower, estimate and generate stages, then ONE flattened Yosys run of
the bare core ``hwkit_core`` (no board top, no hierarchy-keeping second run: a fraction of the build's
synthesize stage), and prints the core's estimate (layers + core FIFOs) next to the Yosys counts.

``--block`` synthesizes one hls/rtl block alone (flattened, as inside a core; ECP5 with -nodsp) at the
given parameters, with deterministic random weight/threshold images, and prints one JSON line: the
Yosys counts next to the block estimate (block RAM in Yosys' units: Xilinx RAMB36, a RAMB18 = 0.5).
With ``--role fit|check`` it also saves the point into tests/fixtures/estimate_yosys_blocks.json (the
data tests/test_estimate_yosys.py holds the estimate to).
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


# ports of the blocks --block can synthesize alone: (name, direction, width expression or None for 1 bit)
_PORTS = {
    "hk_mvu": [("in_data", "in", "SIMD*XB"), ("in_valid", "in", None), ("in_ready", "out", None),
               ("out_data", "out", "PE*AB"), ("out_valid", "out", None), ("out_ready", "in", None),
               ("rom_en", "out", None), ("rom_addr", "out", "32"), ("rom_data", "zero", None)],
    "hk_thresh": [("in_data", "in", "PE*IB"), ("in_valid", "in", None), ("in_ready", "out", None),
                  ("out_data", "out", "PE*OB"), ("out_valid", "out", None), ("out_ready", "in", None)],
    "hk_fifo": [("in_data", "in", "W"), ("in_valid", "in", None), ("in_ready", "out", None),
                ("out_data", "out", "W"), ("out_valid", "out", None), ("out_ready", "in", None)],
    "hk_swg": [("in_data", "in", "SIMD*B"), ("in_valid", "in", None), ("in_ready", "out", None),
               ("out_data", "out", "SIMD*B"), ("out_valid", "out", None), ("out_ready", "in", None)],
    "hk_rom_dp": [("en_a", "in", None), ("addr_a", "in", "max(1, (DEPTH - 1).bit_length())"), ("data_a", "out", "W"),
                  ("en_b", "in", None), ("addr_b", "in", "max(1, (DEPTH - 1).bit_length())"), ("data_b", "out", "W")],
    "hk_mvu_bp": [("in_data", "in", "SIMD*XB"), ("in_valid", "in", None), ("in_ready", "out", None),
                  ("out_data", "out", "PE*AB"), ("out_valid", "out", None), ("out_ready", "in", None),
                  ("prec_data", "in", "PB"), ("prec_valid", "in", None), ("prec_ready", "out", None)],
    "hk_shiftround": [("in_data", "in", "E*IB"), ("in_valid", "in", None), ("in_ready", "out", None),
                      ("out_data", "out", "E*OB"), ("out_valid", "out", None), ("out_ready", "in", None)],
    "hk_dwc": [("in_data", "in", "EI*B"), ("in_valid", "in", None), ("in_ready", "out", None),
               ("out_data", "out", "EO*B"), ("out_valid", "out", None), ("out_ready", "in", None)],
}


def _images(module: str, p: dict, seed: int = 0) -> dict:
    """Random $readmemh images (fixed seed) for the block's tables: random weights keep every column."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def image(depth: int, width: int) -> str:
        words = [int("".join(rng.choice(list("01"), width)), 2) for _ in range(depth)]
        return "".join(f"{w:0{(width + 3) // 4}x}\n" for w in words)

    if module in ("hk_mvu", "hk_mvu_bp"):
        depth = (p["MW"] // p["SIMD"]) * (p["MH"] // p["PE"])
        return {"w.mem": image(depth, p["PE"] * p["SIMD"] * p["WB"])}
    if module == "hk_thresh":
        return {"t.mem": image(p["C"] // p["PE"], p["PE"] * p["N"] * p["TB"])}
    if module == "hk_rom_dp":
        return {"rom.mem": image(p["DEPTH"], p["W"])}
    return {}


_FILE_PARAM = {"hk_mvu": "WFILE", "hk_mvu_bp": "WFILE", "hk_thresh": "TFILE", "hk_rom_dp": "FILE"}


def _tables(module: str, p: dict) -> tuple[dict, dict]:
    """The block's memory images {file: text} and its file parameters {WFILE: file}."""
    mems = _images(module, p)
    return mems, ({_FILE_PARAM[module]: next(iter(mems))} if mems else {})


def block_estimate(module: str, p: dict, family: str) -> dict:
    """hwkit's estimate of the block as --block synthesizes it: the same images, so a LUT ROM's constant
    and repeated columns count as in a build (tests/test_estimate_yosys.py calls this)."""
    from hwkit.estimate.blocks import block_cost
    from hwkit.estimate.memory import family_key
    from hwkit.estimate.rtl import _board_units

    mems, files = _tables(module, p)   # block RAM in Yosys' units (Xilinx: RAMB36, a RAMB18 = 0.5)
    return _board_units(block_cost(module, {**p, **files}, family, mems), family_key(family))


def synth_block(spec: str, family: str, out: Path) -> dict:
    """One block alone, flattened: ``spec`` is 'module:NAME=VALUE,...'. Returns estimate and Yosys counts."""
    import subprocess
    import time

    from hwkit.backends.rtl.stream import RTL_DIR
    from hwkit.estimate.memory import family_key
    from hwkit.tools.yosys import SYNTH, count_cells, version, yosys_path

    module, _, rest = spec.partition(":")
    p = {k: int(v) for k, v in (kv.split("=") for kv in rest.split(",") if kv)}
    family = family_key(family)
    mems, p_files = _tables(module, p)
    work = out / "blocks" / family / "".join(c if c.isalnum() else "_" for c in spec)
    work.mkdir(parents=True, exist_ok=True)
    for f in RTL_DIR.glob("hk_*.v"):
        (work / f.name).write_text(f.read_text())
    for name, text in mems.items():
        (work / name).write_text(text)
    decl, conn = ["input wire clk"], [".clk(clk)"]
    if module != "hk_rom_dp":
        decl, conn = decl + ["input wire rst"], conn + [".rst(rst)"]
    for port, d, w in _PORTS[module]:
        if d == "zero":
            conn.append(f".{port}(0)")
            continue
        width = eval(w, {}, dict(p)) if w else 1          # noqa: S307 (a width expression of the port table)
        decl.append(f"{'input' if d == 'in' else 'output'} wire [{width - 1}:0] {port}")
        conn.append(f".{port}({port})")
    params = ", ".join([f".{k}({v})" for k, v in p.items()] + [f'.{k}("{v}")' for k, v in p_files.items()])
    (work / "t.v").write_text(f"module t({', '.join(decl)});\n  {module} #({params}) u ({', '.join(conn)});\n"
                              f"endmodule\n")
    # flat as inside a core (synth_xilinx keeps the hierarchy unless told), no DSP blocks on ECP5
    synth = SYNTH[family] + {"ecp5": " -nodsp", "xilinx": " -flatten"}.get(family, "")
    srcs = sorted(f.name for f in work.glob("hk_*.v"))
    (work / "t.ys").write_text("\n".join([f"read_verilog -defer {s}" for s in srcs] + [
        "read_verilog -defer t.v", f"{synth} -top t", "tee -q -o t.json stat -json"]) + "\n")
    t0 = time.monotonic()
    subprocess.run([yosys_path(), "-q", "-l", "t.log", "-s", "t.ys"], cwd=work, check=True, capture_output=True)
    cells = json.loads((work / "t.json").read_text())["design"]["num_cells_by_type"]
    got = count_cells(cells, family)
    est = block_estimate(module, p, family)
    return {"module": module, "params": p, "family": family, "yosys": got, "estimate": est,
            "cells": dict(sorted(cells.items())), "seconds": round(time.monotonic() - t0, 1),
            "yosys_version": version().split(" (")[0]}


def save_point(r: dict, role: str, path: Path) -> None:
    """Merge one --block measurement into the fixture tests/test_estimate_yosys.py reads (one point per
    module, family and parameters; a re-measured point replaces the old one)."""
    pts = json.loads(path.read_text()) if path.exists() else []
    key = (r["module"], r["family"], sorted(r["params"].items()))
    pts = [p for p in pts if (p["module"], p["family"], sorted(p["params"].items())) != key]
    pts.append({"module": r["module"], "family": r["family"], "params": r["params"], "role": role,
                "yosys": {k: r["yosys"][k] for k in ("lut", "ff", "bram", "lutram", "dsp")},
                "yosys_version": r["yosys_version"]})   # the estimate is recomputed by the test
    pts.sort(key=lambda p: (p["module"], p["family"], sorted(p["params"].items())))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pts, indent=1) + "\n")


def synth_core(model: str, board_name: str, out: Path, target_fps=None) -> dict:
    import time

    from hwkit.boards import load_board
    from hwkit.build import BuildConfig, run_flow
    from hwkit.backends import estimate_graph
    from hwkit.estimate.memory import family_key
    from hwkit.stages.common import load_graph_artefact
    from hwkit.tools.yosys import synthesize, version

    flow = _flow()
    flow[:] = [s for s in flow if s.name != "synthesize"]
    tfps = ("max" if target_fps == "max" else float(target_fps)) if target_fps else None
    d = out / "cores" / "".join(c if c.isalnum() else "_" for c in f"{Path(model).stem}_{board_name}_{target_fps}")
    ctx = run_flow(flow, BuildConfig(model=model, board=board_name, target_fps=tfps), d)
    board = load_board(board_name)
    fam = family_key(board.family)
    graph = load_graph_artefact(ctx.stage_dir("lower"))
    est = estimate_graph(graph, board, "rtl")
    gen = ctx.stage_dir("generate")
    desc = json.loads((gen / "core.json").read_text())
    t0 = time.monotonic()
    syn = synthesize([gen / f for f in desc["files"]["verilog"]], "hwkit_core", d / "yosys", fam,
                     data_files=[gen / f for f in desc["files"]["mem"]], json_netlist=False,
                     extra_synth_args={"ecp5": "-nodsp", "xilinx": "-flatten"}.get(fam, ""), timeout=3600)
    from hwkit.estimate.blocks import board_top
    from hwkit.estimate.rtl import _board_units, plan_for, wrapper_params

    top = (_board_units(board_top(wrapper_params(plan_for(graph, board.family), board.clock_mhz), fam), fam)
           if board.is_open and fam in ("ecp5", "ice40") else {})
    core = {k: est["total"][k] - top.get(k, 0) for k in ("lut", "ff", "bram", "lutram")}
    return {"design": f"{Path(model).name} / {board_name}" + (f" @ {target_fps} fps" if target_fps else ""),
            "dir": str(d), "estimate": core, "ii_cycles": est["total"]["ii_cycles"],
            "layers": [{k: r[k] for k in ("name", "pe", "simd", "lut", "ff", "bram", "lutram")} for r in est["layers"]],
            "yosys": {"lut": syn.lut, "ff": syn.ff, "bram": syn.bram, "lutram": syn.lutram, "dsp": syn.dsp},
            "cells": syn.cells, "seconds": round(time.monotonic() - t0, 1), "yosys_version": version().split(" (")[0]}


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
    ap.add_argument("--block", action="append", default=[], help="module:NAME=VALUE,... synthesized alone")
    ap.add_argument("--family", default="ecp5")
    ap.add_argument("--role", choices=("fit", "check"), help="--block: save the points to --fixture as fit or check")
    ap.add_argument("--fixture", type=Path, default=ROOT / "tests" / "fixtures" / "estimate_yosys_blocks.json")
    ap.add_argument("--core", help="a model (.onnx, or '' for the default) whose bare core is synthesized once")
    ap.add_argument("--board", default="ulx3s")
    ap.add_argument("--target-fps", default=None)
    ap.add_argument("designs", nargs="*", help="subset of: " + "; ".join(DESIGNS))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.core is not None:
        r = synth_core(args.core, args.board, args.out, args.target_fps)
        print(json.dumps(r, sort_keys=True), flush=True)
        print(table([r]))
        return 0
    if args.block:
        for spec in args.block:
            r = synth_block(spec, args.family, args.out)
            print(json.dumps(r, sort_keys=True), flush=True)
            if args.role:
                save_point(r, args.role, args.fixture)
        return 0
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
