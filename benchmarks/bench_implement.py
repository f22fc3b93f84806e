"""Open implementation flow timings: the UART board top with (a) the test stand-in core and (b) the
generated cores of the pretrained models, through yosys + nextpnr + ecppack/icepack per board.
Records wall and CPU seconds per stage (the machine is shared: CPU seconds are the fairer number),
Fmax, utilization, bitstream size, and whether a rebuild is byte-identical; plus the simulated UART
board's throughput on the digits test set.
    OMP_NUM_THREADS=1 python benchmarks/bench_implement.py [--models tfc_w2a2_digits] [--boards ulx3s icebreaker]
        [--rebuild] [--out benchmarks/results/implement.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(label, core_sources, shape, data_files, board, out, rebuild) -> dict:
    from hwkit.errors import DoesNotFitError
    from hwkit.implement import implement_board

    t0, c0 = time.monotonic(), cpu_children()
    try:
        r = implement_board(core_sources, shape, board, out / "a", data_files=data_files, retime=False)
    except DoesNotFitError as err:
        return {"design": label, "board": board, "does_not_fit": str(err)}
    rec = {"design": label, "board": board, "wall_s": round(time.monotonic() - t0, 1),
           "cpu_s": round(cpu_children() - c0, 1), "stage_wall_s": r.seconds, "fmax_mhz": round(r.fmax_mhz, 2),
           "clock_mhz": r.target_mhz, "timing_met": r.timing_met, "fit": r.fit, "utilization": r.utilization,
           "bitstream_bytes": r.bitstream_bytes, "sha256": r.bitstream_sha256, "notes": r.notes}
    if rebuild:
        r2 = implement_board(core_sources, shape, board, out / "b", data_files=data_files, retime=False)
        rec["rebuild_identical"] = r2.bitstream.read_bytes() == r.bitstream.read_bytes()
    print(json.dumps({k: rec[k] for k in ("design", "board", "wall_s", "cpu_s", "fmax_mhz", "bitstream_bytes")}),
          flush=True)
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["tfc_w2a2_digits"])
    ap.add_argument("--boards", nargs="*", default=["ulx3s", "icebreaker", "orangecrab"])
    ap.add_argument("--rebuild", action="store_true", help="build the stand-in twice and compare the bitstreams")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "implement.json"))
    args = ap.parse_args()

    import hwkit.ir as ir
    from hwkit.backends.rtl.generate import generate
    from hwkit.data import load_dataset
    from hwkit.driver.sim import run_core_on_board
    from hwkit.implement import CoreShape
    from hwkit.pretrained import qonnx_path

    results = {"builds": [], "uart_sim": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fix = (ROOT / "tests" / "fixtures" / "standin_core.v").read_text()
        standin = tmp / "standin_core.v"
        standin.write_text("`define SC_IN_BITS 4\n`define SC_IN_SIGNED 1\n`define SC_EPB 4\n`define SC_OUT_BITS 10\n"
                           "`define SC_MUL 3\n`define SC_ADD -1\n" + fix)
        for board in args.boards:
            results["builds"].append(run("standin", [standin], CoreShape(4, True, 4, 16, 10, True, 4, 16), [],
                                         board, tmp / f"standin_{board}", args.rebuild))
        ds = load_dataset("digits")
        for model in args.models:
            graph = ir.lower(str(qonnx_path(model)))
            core = tmp / model
            desc = generate(graph, core)
            x = ir.quantize_input(graph, ds.x_test).reshape((len(ds.x_test),) + tuple(desc["in"]["shape"]))
            _, stats = run_core_on_board(core, x)
            results["uart_sim"].append({"model": model, **stats})
            for board in args.boards:
                results["builds"].append(run(model, [core / f for f in desc["files"]["verilog"]], desc, [
                    core / f for f in desc["files"]["mem"]], board, tmp / f"{model}_{board}", False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
