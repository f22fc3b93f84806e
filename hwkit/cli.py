"""The ``hwkit`` command. Each command is a thin shell over the Python API; errors from
``hwkit.errors`` become one-line messages and their exit codes."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from hwkit.errors import (EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, REPORT_TO, ConfigError, HwkitError,
                          HwkitWarning)
from hwkit.implement.wrapper import DEFAULT_BAUD

app = typer.Typer(
    help="hwkit: low-bit neural networks from Brevitas training to verified FPGA accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

MAX_COUNT = 2**31 - 1        # beyond this every count below is a typo, and numpy/C++ sizes overflow


def _int_opt(name: str, value: Optional[int], lo: int, hi: int = MAX_COUNT, meaning: str = "") -> None:
    """Range check of an integer option, before any work: ConfigError naming the option."""
    if value is not None and not lo <= value <= hi:
        rng = f">= {lo}" if hi == MAX_COUNT else f"in {lo}..{hi}"
        raise ConfigError(f"{name} must be an integer {rng}{meaning}, got {value}")


def _float_opt(name: str, value: Optional[float], lo: float, hi: float) -> None:
    """Finite and within [lo, hi]: 'inf', 'nan' and denormal-tiny targets (1e-320) are typos."""
    if value is not None and not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(f"{name} must be a finite number in [{lo:g}, {hi:g}], got {value!r}")


def _out_dir(opt: str, path: Optional[Path]) -> None:
    """An output directory that can be created and written, checked before any work: one line naming it."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{opt} {path} exists and is not a directory")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{opt} {path}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{opt} {path}: {probe} is not writable")


def _out_file(opt: str, path: Optional[Path]) -> None:
    """An output file whose directory can be created and written, and which is not itself a directory."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{opt} {path} is a directory, expected a file name")
    _out_dir(opt, path.parent)


DATA_HELP = ("test data: digits | mnist | mnist1d, or FILE.npz with arrays x (N, *model input) and optional "
             "y (N,) labels; default: the dataset recorded with the model, else the bundled one that fits its "
             "input, else random grid inputs (accuracy not measured)")
FPS_RANGE = (1e-6, 1e12)     # one sample in 11 days .. far beyond any FPGA here
CLOCK_RANGE = (0.001, 1000.0)
BITS_RANGE = (1, 16)
INPUT_FORMAT_HELP = ("input quantizer for a model whose input has none: fixed<W,I> | ufixed<W,I> (W bits, I integer "
                     "bits incl. sign) | int<B> | uint<B>, optionally *2^E (int<8>*2^-4); default: 16 bits covering "
                     "the data's range")


def _input_format(text: Optional[str]) -> None:
    if text:
        from hwkit.ir.input_format import parse_input_format

        parse_input_format(text)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("hwkit")
        except PackageNotFoundError:
            v = "unknown (not installed)"
        typer.echo(f"hwkit {v}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the hwkit version and exit")):
    """hwkit: low-bit neural networks from Brevitas training to verified FPGA accelerators."""


@app.command("zoo")
def zoo_cmd():
    """List the model zoo: names, shapes and the bit widths each model accepts."""
    from rich.table import Table

    from hwkit.zoo import MODELS

    table = Table(title="hwkit model zoo")
    for col in ("name", "kind", "description", "per-layer widths"):
        table.add_column(col)
    for name, entry in MODELS.items():
        per = (f"--wbits x{entry.layers[0]}, --abits x{entry.layers[1]}" if entry.layers else "one W, one A")
        table.add_row(escape(name), escape(entry.kind), escape(entry.description), escape(per))
    Console().print(table)


@app.command("train")
def train_cmd(
    model: str = typer.Argument("tfc", help="zoo model name (see `hwkit zoo`)"),
    dataset: str = typer.Option("digits", help="digits | mnist | mnist1d"),
    wbits: str = typer.Option("2", help="weight bits (1 = binary), or one per layer: 2,4,2,8"),
    abits: str = typer.Option("2", help="activation bits (1 = binary), or one per hidden layer: 4,4,2"),
    bits: Optional[Path] = typer.Option(None, "--bits", help="YAML with per-layer 'wbits'/'abits' lists "
                                        "(overrides --wbits/--abits)"),
    ibits: int = typer.Option(8, help="input bits"),
    preset: str = typer.Option("pot", help="quantizer preset: pot (hardware-exact) | float"),
    epochs: int = typer.Option(30, help="training epochs"),
    anneal_every: int = typer.Option(0, help="drop one bit every N epochs from 8 down to the target (0 = off)"),
    seed: int = typer.Option(0, help="random seed"),
    out: Path = typer.Option(Path("out/model.pt"), help="checkpoint path (.pt); a .qonnx.onnx is written beside it"),
):
    """Quantization-aware training on a dataset bundled in a package, then QONNX export."""
    _int_opt("--ibits", ibits, *BITS_RANGE)      # the zoo checks --wbits/--abits against what each model takes
    _int_opt("--epochs", epochs, 0, 100_000)
    _int_opt("--anneal-every", anneal_every, 0)
    _int_opt("--seed", seed, 0, 2**32 - 1)
    _out_file("--out", out)
    from hwkit.train import TrainConfig, train_and_save
    from hwkit.zoo import load_widths

    wbits, abits = (load_widths(bits) if bits is not None
                    else (_widths(wbits, "--wbits"), _widths(abits, "--abits")))
    cfg = TrainConfig(model=model, dataset=dataset, wbits=wbits, abits=abits, ibits=ibits, preset=preset,
                      epochs=epochs, anneal_every=anneal_every, seed=seed)
    result = train_and_save(cfg, out)
    typer.echo(f"test accuracy {result['test_accuracy']:.4f}  checkpoint {result['checkpoint']}  "
               f"qonnx {result['qonnx']}")


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Argument(..., help="checkpoint written by `hwkit train`"),
    out: Optional[Path] = typer.Option(None, help="output .onnx (default: beside the checkpoint)"),
    batch_size: int = typer.Option(1, help="batch size baked into the graph (0 = dynamic)"),
    strict: bool = typer.Option(False, help="fail if a scale is not a power of two or a bias is float"),
):
    """Export a trained checkpoint to QONNX and check it is hardware friendly."""
    _int_opt("--batch-size", batch_size, 0, meaning=" (0 = dynamic)")
    _out_file("--out", out)
    from hwkit.export import export_checkpoint

    path, issues = export_checkpoint(checkpoint, out, batch_size=batch_size or None, strict=strict)
    for issue in issues:
        _print_line("warning", str(issue))
    typer.echo(str(path))


@app.command("boards")
def boards_cmd():
    """List the board catalogue: part, resources, default clock and toolchain."""
    from hwkit.boards import boards_table

    Console().print(boards_table())


@app.command("build")
def build_cmd(
    model: Optional[str] = typer.Argument(None, help="QONNX .onnx, .pt checkpoint or build config .yaml "
                                          "(default: the shipped tfc_w2a2_digits model)"),
    board: Optional[str] = typer.Option(None, help="board name (see `hwkit boards`); default ulx3s"),
    backend: Optional[str] = typer.Option(None, help="rtl | hls4ml | finn; default rtl"),
    target_fps: Optional[str] = typer.Option(None, help="throughput target (samples/s) that sets the folding, or "
                                             "'max': the fastest folding that fits the board"),
    clock_mhz: Optional[float] = typer.Option(None, help="clock target (default: the board's)"),
    out: Optional[Path] = typer.Option(None, help="build directory (default build/<model>-<board>-<backend>)"),
    force: bool = typer.Option(False, help="re-run every stage even if its inputs are unchanged"),
    overwrite: bool = typer.Option(False, help="build into a non-empty folder that is not an hwkit build "
                                   "(hwkit still replaces only what it wrote)"),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    fifo_sizing: Optional[str] = typer.Option(None, help="rtl FIFO depths: heuristic (default) or simulation "
                                              "(peak occupancy in Verilator + 1, proved on 10,000 stalled vectors)"),
    top: Optional[str] = typer.Option(None, help="rtl top: uart (board top and bitstream, default) | axis (the "
                                      "AXI4-Stream IP) | core (the bare core); axis/core: ECP5 out of context"),
    input_format: Optional[str] = typer.Option(None, "--input-format", help=INPUT_FORMAT_HELP),
):
    """Model -> verified accelerator, report and (open boards) bitstream, stage by stage into one directory."""
    _input_format(input_format)
    if target_fps is not None and target_fps != "max":
        try:
            target_fps = float(target_fps)
        except ValueError:
            raise ConfigError(f"--target-fps must be a number of samples/s or 'max', got {target_fps!r}") from None
        _float_opt("--target-fps", target_fps, *FPS_RANGE)
    _float_opt("--clock-mhz", clock_mhz, *CLOCK_RANGE)
    _out_dir("--out", out)
    from hwkit.build import build_from_cli

    build_from_cli(model, board=board, backend=backend, target_fps=target_fps, clock_mhz=clock_mhz, out=out,
                   force=force, overwrite=overwrite, data=data, fifo_sizing=fifo_sizing, top=top,
                   input_format=input_format)


@app.command("report")
def report_cmd(build_dir: Path = typer.Argument(..., help="a build directory made by `hwkit build`")):
    """Re-render report.json and report.html of a build directory."""
    from hwkit.report import write_report

    write_report(build_dir)
    typer.echo(f"{build_dir / 'report.html'}")


@app.command("sim")
def sim_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    inputs: Path = typer.Option(..., "--inputs", help=".npy: float model inputs, or integers on the input grid"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the integer outputs (.npy)"),
    tail: bool = typer.Option(False, "--tail", help="write the float tail outputs instead"),
):
    """Run the golden integer simulator on a batch of inputs."""
    _out_file("--out", out)
    from hwkit.sim.commands import run_sim

    typer.echo(run_sim(model, inputs, out, tail))


@app.command("verify")
def verify_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    n: int = typer.Option(1000, "--n", help="random inputs on the input quantizer's grid"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="older name of --data"),
    strict: bool = typer.Option(False, "--strict", help="fail on any mismatch, even at float rounding ties"),
    data: Optional[str] = typer.Option(None, "--data", help="also this test data: " + DATA_HELP.split(": ", 1)[1]),
    input_format: Optional[str] = typer.Option(None, "--input-format", help=INPUT_FORMAT_HELP),
):
    """Golden simulator vs qonnx execution: every quantizer output compared bit for bit."""
    _input_format(input_format)
    _int_opt("--n", n, 0, meaning=" (0 with --data: the test data only)")
    if n == 0 and not (data or dataset):
        raise ConfigError("nothing to verify: --n 0 without --data; give --n > 0 or --data")
    from hwkit.verify import run_verify

    typer.echo(run_verify(model, n, data or dataset, strict, input_format=input_format or ""))


@app.command("board-run")
def board_run_cmd(
    port: str = typer.Argument(..., help="serial port of the board (e.g. /dev/ttyUSB0) or a pyserial URL"),
    core: Path = typer.Option(..., "--core", help="core.json of the loaded accelerator"),
    model: Optional[Path] = typer.Option(None, "--model", help="QONNX model: classify its test set and compare"),
    dataset: str = typer.Option("digits", "--dataset", help="digits | mnist | mnist1d"),
    n: int = typer.Option(0, "--n", help="first N test samples (0 = all)"),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", help="UART baud rate of the bitstream"),
):
    """Talk to a board running an hwkit bitstream over its UART: info, or classify a test set."""
    _int_opt("--n", n, 0, meaning=" (0 = all)")
    _int_opt("--baud", baud, 300, 12_000_000)
    import json

    from hwkit.driver.run import classify

    typer.echo(json.dumps(classify(port, core, model, dataset, n, baud), indent=2))


@app.command("cosim")
def cosim_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    backend: str = typer.Option("hls4ml", "--backend", help="hls4ml (C simulation of the generated HLS) | rtl "
                                "(hwkit's Verilog in Verilator)"),
    n: int = typer.Option(10000, "--n", help="random inputs on the input quantizer's grid"),
    io: str = typer.Option("parallel", "--io", help="parallel | stream"),
    hls_backend: str = typer.Option("Vitis", "--hls-backend", help="Vitis | Vivado"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="older name of --data"),
    out: Path = typer.Option(Path("build/cosim"), "--out", help="project directory"),
    approximate: bool = typer.Option(False, "--approximate", help="allow float scales (mismatches reported)"),
    data: Optional[str] = typer.Option(None, "--data", help="also this test data: " + DATA_HELP.split(": ", 1)[1]),
    bench: str = typer.Option("cxx", "--bench", help="rtl: cxx (fast C++ stream bench) | cocotb (cocotb + "
                              "cocotbext-axi through the AXI4-Stream wrapper, random back-pressure)"),
    waves: int = typer.Option(0, "--waves", help="rtl: write a VCD of the run up to the first mismatching "
                              "vector, or of the first N vectors when none mismatches (0 = off)"),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="rtl: Verilator processes sharing the vectors "
                                       "(default: every CPU when vectors x II is large, else 1)"),
    input_format: Optional[str] = typer.Option(None, "--input-format", help=INPUT_FORMAT_HELP),
):
    """Generated hardware (C simulation, or RTL in Verilator) vs the golden model, bit for bit."""
    _input_format(input_format)
    _int_opt("--waves", waves, 0, meaning=" (vectors in the waveform; 0 = off)")
    _int_opt("--jobs", jobs, 1, meaning=" (Verilator processes)")

    def quantized(model: Path) -> Path:  # a float-input model: a copy with its input quantizer (hwkit.ir.input_format)
        from hwkit.input_choice import quantized_copy

        return quantized_copy(model, input_format or "", out, data or dataset or "",
                              log=lambda line: _print_line("note", line)) if model.is_file() else model
    if backend == "rtl":
        import json

        if data or dataset:
            raise ConfigError("--backend rtl cosimulates random grid inputs (--n); test data goes through "
                              "`hwkit build --data`")
        _int_opt("--n", n, 1, meaning=" (random grid inputs)")
        _out_dir("--out", out)
        from hwkit.backends.rtl.cli import check_cosim, rtl_cosim

        summary = rtl_cosim(quantized(model), out, n, bench=bench, waves=waves, jobs=jobs)
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
        check_cosim(summary)
        return
    if bench != "cxx" or waves or jobs is not None:
        raise ConfigError("--bench, --waves and --jobs apply to --backend rtl (the hls4ml C simulation has none)")
    _int_opt("--n", n, 0, meaning=" (0 with --data: the test data only)")
    if n == 0 and not (data or dataset):
        raise ConfigError("nothing to cosimulate: --n 0 without --data; give --n > 0 or --data")
    _out_dir("--out", out)
    from hwkit.backends.hls4ml.cli import run_cosim
    from hwkit.data import cli_data

    model = quantized(model)

    typer.echo(run_cosim(model, backend, n, io, hls_backend, cli_data(model, data or dataset, n), out, approximate))


@app.command("rtl")
def rtl_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    out: Path = typer.Option(Path("build/rtl"), "--out", help="core directory (hwkit_core.v, .mem, core.json)"),
    n: int = typer.Option(10000, "--n", help="random grid inputs for the Verilator cosim (0 = skip)"),
    target_ii: Optional[int] = typer.Option(None, "--target-ii", help="cycles per sample the folding aims for"),
    synth: str = typer.Option("", "--synth", help="also run Yosys: ecp5 | ice40 | xilinx"),
    board: str = typer.Option("ulx3s", "--board", help="board whose memories and resources the core is planned "
                              "and fit-checked for"),
):
    """Open RTL backend: generate hwkit_core, cosimulate in Verilator vs the golden model, optionally synthesize."""
    import json

    _int_opt("--n", n, 0, meaning=" (0 = generate without cosimulation)")
    _int_opt("--target-ii", target_ii, 1, meaning=" (cycles per sample)")
    if synth not in ("", "ecp5", "ice40", "xilinx"):
        raise ConfigError(f"--synth must be ecp5, ice40 or xilinx, got '{synth}'")
    _out_dir("--out", out)
    from hwkit.backends.rtl.cli import check_rtl, rtl_summary

    if n == 0:
        _print_line("warning", "--n 0: the core is generated but not cosimulated, so it is not verified")
    summary = rtl_summary(model, out, n, target_ii, synth, board=board)
    if summary["fit"].get("warning"):
        _print_line("warning", summary["fit"]["warning"])
    typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
    check_rtl(summary)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be a comma-separated list of integers, got '{text}'") from None


def _widths(text: str, what: str):
    """'2' -> 2 (every layer), '2,4,2' -> [2, 4, 2] (one per layer)."""
    values = _ints(text, what)
    if not values:
        raise ConfigError(f"{what} must be a bit width or a comma-separated list of them, got '{text}'")
    return values[0] if len(values) == 1 and "," not in text else values


FPS_TARGETS_HELP = ("comma-separated throughput targets in samples/s; 'max' = the fastest folding that fits the board, "
                    "'default' (or empty) = hwkit's default folding")


def _fps_targets(text: str) -> list:
    """Throughput targets of a sweep or search: numbers, 'max' (kept as the string the build takes) and
    'default' (None: the build's default folding)."""
    out = []
    for item in (v.strip() for v in text.split(",")):
        if not item:
            continue
        if item in ("max", "default"):
            out.append(None if item == "default" else "max")
            continue
        value = _floats(item, "--target-fps")[0]
        _float_opt("--target-fps", value, *FPS_RANGE)
        out.append(value)
    return out or [None]


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be a comma-separated list of numbers, got '{text}'") from None


@app.command("sweep")
def sweep_cmd(
    models: str = typer.Option("tfc", help="comma-separated zoo models"),
    wbits: str = typer.Option("1,2,4", help="comma-separated weight bit widths"),
    abits: str = typer.Option("2", help="comma-separated activation bit widths"),
    boards: str = typer.Option("ulx3s", help="comma-separated boards (see `hwkit boards`)"),
    dataset: str = typer.Option("digits", help="training/test dataset"),
    epochs: int = typer.Option(10, help="QAT epochs per point (0 = untrained)"),
    target_fps: str = typer.Option("", help=FPS_TARGETS_HELP),
    workers: int = typer.Option(2, help="local dask worker processes"),
    scheduler: str = typer.Option("", help="address of an existing dask scheduler (default: a local cluster)"),
    out: Path = typer.Option(Path("sweep"), help="output directory (one build directory per point)"),
):
    """Design-space sweep on dask: accuracy, resources, cycles and fit for every combination."""
    from rich.table import Table

    from hwkit.dse import grid, pareto_plot, sweep

    fps = _fps_targets(target_fps)
    wlist, alist = _ints(wbits, "--wbits"), _ints(abits, "--abits")
    for opt, values in (("--wbits", wlist), ("--abits", alist)):
        if not values:
            raise ConfigError(f"{opt} must list at least one bit width")
        for v in values:
            _int_opt(opt, v, *BITS_RANGE)
    _int_opt("--epochs", epochs, 0, 100_000, meaning=" (0 = untrained)")
    _int_opt("--workers", workers, 1, 256)
    _out_dir("--out", out)
    points = grid(model=[m.strip() for m in models.split(",") if m.strip()], wbits=wlist,
                  abits=alist, board=[b.strip() for b in boards.split(",") if b.strip()],
                  dataset=dataset, epochs=epochs, target_fps=fps)
    results = sweep(points, out, scheduler=scheduler or None, n_workers=workers)
    table = Table(title=f"sweep: {len(results)} points")
    for col in ("point", "status", "accuracy", "LUT", "BRAM", "DSP", "II cycles"):
        table.add_column(col)
    for r in results:
        ok = r["status"] == "ok"
        table.add_row(escape(str(r["name"])), escape(str(r["status"])), f"{r['accuracy_golden']:.4f}" if ok else "-",
                      *(escape(str(r.get(k, "-"))) for k in ("lut", "bram", "dsp", "ii_cycles")))
    Console().print(table)
    typer.echo(f"results: {Path(out) / 'sweep.json'}  plot: {pareto_plot(results, Path(out) / 'pareto.png')}")


@app.command("search")
def search_cmd(
    model: str = typer.Argument("tfc", help="zoo model with per-layer widths (see `hwkit zoo`)"),
    dataset: str = typer.Option("digits", help="training/test dataset"),
    board: str = typer.Option("ulx3s", help="the one board the cost is for (see `hwkit boards`)"),
    wbits: str = typer.Option("1,2,3,4", help="weight widths a layer may take"),
    abits: str = typer.Option("2,3,4", help="activation widths a layer may take"),
    target_fps: str = typer.Option("", help=FPS_TARGETS_HELP),
    epochs: int = typer.Option(5, help="QAT epochs per point"),
    seeds: int = typer.Option(3, help="seeds for the front points (mean +- std)"),
    candidates: int = typer.Option(24, help="mixed candidates sampled from the space the sensitivity pass pruned"),
    tol: float = typer.Option(0.01, help="accuracy drop under which a layer is insensitive"),
    no_sensitivity: bool = typer.Option(False, "--no-sensitivity", help="skip the sensitivity pass (no pruning)"),
    synth_points: int = typer.Option(6, help="front points confirmed by Yosys"),
    pnr_points: int = typer.Option(2, help="of those, routed by nextpnr for Fmax"),
    workers: int = typer.Option(2, help="local dask worker processes"),
    scheduler: str = typer.Option("", help="address of an existing dask scheduler (default: a local cluster)"),
    budget_min: float = typer.Option(0, help="stop starting new work after this many minutes (0 = no limit)"),
    stop_after: int = typer.Option(0, help="stop after this many newly finished points (0 = no limit)"),
    out: Path = typer.Option(Path("search"), help="output directory: search.json, search.html (resumable)"),
):
    """Mixed-precision search on dask: per-layer widths and folding, Pareto fronts, Yosys-confirmed."""
    from hwkit.search import SearchConfig, search

    fps = tuple(_fps_targets(target_fps))
    for opt, v, lo, hi in (("--epochs", epochs, 0, 100_000), ("--seeds", seeds, 1, 100),
                           ("--candidates", candidates, 0, 100_000), ("--synth-points", synth_points, 0, 1000),
                           ("--pnr-points", pnr_points, 0, 1000), ("--workers", workers, 1, 256),
                           ("--stop-after", stop_after, 0, MAX_COUNT)):
        _int_opt(opt, v, lo, hi)
    _float_opt("--tol", tol, 0.0, 1.0)
    _float_opt("--budget-min", budget_min, 0.0, 1e6)
    _out_dir("--out", out)
    cfg = SearchConfig(model=model, dataset=dataset, board=board, wmenu=tuple(_ints(wbits, "--wbits")),
                       amenu=tuple(_ints(abits, "--abits")), fps=fps, epochs=epochs, seeds=seeds,
                       max_candidates=candidates, tol=tol, synth_points=synth_points, pnr_points=pnr_points,
                       sensitivity=not no_sensitivity)
    from hwkit.boards import load_board

    load_board(board)
    summary = search(cfg, out, scheduler=scheduler or None, n_workers=workers, stop_after=stop_after or None,
                     budget_s=budget_min * 60 or None)
    beats = [m for m in summary["mixed_vs_uniform"] if m["beats_by_more_than_std"]]
    typer.echo(f"{summary['points']} points ({len(summary['computed'])} computed now), {summary['designs']} designs; "
               f"accuracy-LUT front: {len(summary['fronts']['lut'])} points, {len(beats)} mixed beat every uniform "
               f"point at no more LUTs by more than 1 std"
               + (f"; stopped early ({summary['stopped']}): rerun to continue" if summary["stopped"] else ""))
    typer.echo(f"results: {Path(out) / 'search.json'}  page: {Path(out) / 'search.html'}")


@app.command("program")
def program_cmd(
    build_dir: Path = typer.Argument(..., help="build directory with a *-bitstream stage"),
    board: Optional[str] = typer.Option(None, "--board", help="board (default: the build's)"),
    cable: Optional[str] = typer.Option(None, "--cable", help="openFPGALoader cable instead of the board's"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the openFPGALoader command only"),
):
    """Load the build's bitstream onto the board with openFPGALoader."""
    from hwkit.names import shell_arg
    from hwkit.program import program

    typer.echo(" ".join(shell_arg(a) for a in program(build_dir, board=board, dry_run=dry_run, cable=cable)))


study_app = typer.Typer(help="Studies over the zoo: fixed scripts, fixed seeds, measured numbers.", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("stability")
def study_stability_cmd(
    datasets: str = typer.Option("mnist1d,mnist", help="comma-separated: digits | mnist | mnist1d"),
    depths: str = typer.Option("2,4,8,16", help="comma-separated block counts"),
    bits: str = typer.Option("2,3,4,8", help="comma-separated W=A bit widths"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    kinds: str = typer.Option("stable,stable_c,residual", help="stable | stable_c (bound enforced) | residual"),
    epochs: int = typer.Option(3, help="training epochs per run"),
    batch_size: int = typer.Option(128, help="batch size"),
    lr: float = typer.Option(0.01, help="learning rate"),
    board: str = typer.Option("ulx3s", help="board for the estimate ('none' skips hardware)"),
    out: Path = typer.Option(Path("out/study_stability"), help="output directory (resumable)"),
    form: str = typer.Option("mlp", help="mlp | conv (stable_cnv / residual_cnv; image datasets: digits, mnist)"),
):
    """Stable vs plain residual networks: per-block quantized-vs-float deviation, accuracy, LUTs."""
    _int_opt("--epochs", epochs, 1, 100_000)
    _int_opt("--batch-size", batch_size, 1, 1 << 20)
    _float_opt("--lr", lr, 1e-9, 10.0)
    for name, values, lo, hi in (("--depths", _ints(depths, "--depths"), 1, 256),
                                 ("--bits", _ints(bits, "--bits"), 1, 16), ("--seeds", _ints(seeds, "--seeds"), 0, 2**32 - 1)):
        if not values:
            raise ConfigError(f"{name} needs at least one value")
        for v in values:
            _int_opt(name, v, lo, hi)
    _out_dir("--out", out)
    from hwkit.study.stability import run

    run(out, datasets=tuple(d.strip() for d in datasets.split(",") if d.strip()), depths=tuple(_ints(depths, "--depths")),
        bits=tuple(_ints(bits, "--bits")), seeds=tuple(_ints(seeds, "--seeds")),
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()), epochs=epochs, batch_size=batch_size, lr=lr,
        board=None if board == "none" else board, log=typer.echo, form=form)
    typer.echo((out / "results.md").read_text())


@app.command("finn-env")
def finn_env_cmd(
    venv: Optional[Path] = typer.Option(None, help="where to create it (default $HWKIT_FINN_VENV or .venv-finn)"),
    force: bool = typer.Option(False, help="recreate even if it exists"),
):
    """Create the isolated FINN environment (finn-plus 1.6.1, CPU torch) the finn backend runs in."""
    from hwkit.backends.finn_env import create_finn_env

    info = create_finn_env(venv, force=force)
    typer.echo(f"FINN venv {info['venv']}: {info['size_bytes'] / 2**30:.2f} GiB, {info['seconds']:.0f} s, "
               f"finn-plus {info['versions']['finn-plus']}, torch {info['versions']['torch']}")


def _one_line(text: str) -> str:
    """Control characters from names in files (newlines, ANSI escapes) shown escaped, on one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _print_line(kind: str, message: str) -> None:
    """``kind: message`` on stderr as one line. Never raises: the message is escaped for rich markup
    (a name like '[/bold]' from a model file is text), and if rich or the stream fails, plain writes follow."""
    try:
        text = _one_line(message)
    except Exception:  # noqa: BLE001 - a message that cannot even be made a str
        text = "(unprintable message)"
    style = "bold red" if kind == "error" else "yellow"
    try:
        console.print(f"[{style}]{kind}:[/] {escape(text)}", highlight=False, soft_wrap=True, markup=True)
        return
    except Exception:  # noqa: BLE001
        pass
    try:
        sys.stderr.write(f"{kind}: {text}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        try:
            os.write(2, f"{kind}: {text}\n".encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - stderr is gone: the exit code is all that is left
            pass


def _message(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:  # noqa: BLE001
        return type(err).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _print_line("warning", _message(message) if isinstance(message, Warning) else str(message))


def _click_error_classes():
    """Usage-error and exit classes of typer's bundled click AND of a standalone click: typer 0.29
    raises its own copies, which are not subclasses of click's."""
    import typer._click.exceptions as tc
    import typer.exceptions as te

    classes = [(tc.ClickException, te.Exit, te.Abort, tc.NoArgsIsHelpError)]
    try:
        import click.exceptions as cc

        classes.append((cc.ClickException, cc.Exit, cc.Abort, getattr(cc, "NoArgsIsHelpError", ())))
    except ImportError:
        pass
    return classes


def _run(argv: Optional[list[str]]) -> int:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", HwkitWarning)
            default_show = warnings.showwarning

            def show(message, category, *rest, **kw):
                if issubclass(category, HwkitWarning):
                    return _show_warning(message, category, *rest, **kw)
                return default_show(message, category, *rest, **kw)

            warnings.showwarning = show
            result = app(args=argv, standalone_mode=False, prog_name="hwkit")
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    except HwkitError as err:
        _print_line("error", _message(err))
        return int(err.exit_code)
    except KeyboardInterrupt:
        _print_line("error", "interrupted")
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - sorted below: usage errors, exits, or a bug
        for usage, exit_, abort, no_args in _click_error_classes():
            if no_args and isinstance(err, no_args):   # typer has printed the help already
                return EXIT_USAGE
            if isinstance(err, usage):
                _print_line("error", _usage_message(err))
                return EXIT_USAGE if getattr(err, "exit_code", EXIT_USAGE) in (1, 2) else int(err.exit_code)
            if isinstance(err, exit_):
                return int(err.exit_code)
            if isinstance(err, abort):
                _print_line("error", "aborted")
                return EXIT_INTERRUPTED
        return _internal(err)


def _usage_message(err) -> str:
    try:
        msg = err.format_message()
    except Exception:  # noqa: BLE001
        msg = _message(err)
    ctx = getattr(err, "ctx", None)
    try:
        where = ctx.command_path if ctx is not None else "hwkit"
    except Exception:  # noqa: BLE001
        where = "hwkit"
    return f"{where}: {msg} (see `{where} --help`)"


def _internal(err: BaseException) -> int:
    if os.environ.get("HWKIT_DEBUG"):
        import traceback

        try:
            traceback.print_exception(err)
        except Exception:  # noqa: BLE001
            pass
    where = ""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
    _print_line("error", f"internal error: {type(err).__name__}: {_message(err)}{where}; please report it at "
                         f"{REPORT_TO} (rerun with HWKIT_DEBUG=1 for the traceback)")
    return EXIT_INTERNAL


def main(argv: Optional[list[str]] = None) -> int:
    """The ``hwkit`` command; returns the exit code (table in hwkit.errors and README "Exit codes")."""
    try:
        return _run(argv)
    except BaseException as err:  # noqa: BLE001 - even the handlers above must not leak a traceback
        if isinstance(err, SystemExit):
            return err.code if isinstance(err.code, int) else (0 if err.code is None else EXIT_INTERNAL)
        if isinstance(err, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
