"""The ``hwkit`` command. Each command is a thin shell over the Python API; errors from
``hwkit.errors`` become one-line messages and their exit codes."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from hwkit.errors import HwkitError

app = typer.Typer(
    help="hwkit: low-bit neural networks from Brevitas training to verified FPGA accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.command("zoo")
def zoo_cmd():
    """List the model zoo: names, shapes and the bit widths each model accepts."""
    from rich.table import Table

    from hwkit.zoo import MODELS

    table = Table(title="hwkit model zoo")
    for col in ("name", "kind", "description"):
        table.add_column(col)
    for name, entry in MODELS.items():
        table.add_row(name, entry.kind, entry.description)
    Console().print(table)


@app.command("train")
def train_cmd(
    model: str = typer.Argument("tfc", help="zoo model name (see `hwkit zoo`)"),
    dataset: str = typer.Option("digits", help="digits | mnist | mnist1d"),
    wbits: int = typer.Option(2, help="weight bits (1 = binary)"),
    abits: int = typer.Option(2, help="activation bits (1 = binary)"),
    ibits: int = typer.Option(8, help="input bits"),
    preset: str = typer.Option("pot", help="quantizer preset: pot (hardware-exact) | float"),
    epochs: int = typer.Option(30, help="training epochs"),
    anneal_every: int = typer.Option(0, help="drop one bit every N epochs from 8 down to the target (0 = off)"),
    seed: int = typer.Option(0, help="random seed"),
    out: Path = typer.Option(Path("out/model.pt"), help="checkpoint path (.pt); a .qonnx.onnx is written beside it"),
):
    """Quantization-aware training on a dataset bundled in a package, then QONNX export."""
    from hwkit.train import TrainConfig, train_and_save

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
    from hwkit.export import export_checkpoint

    path, issues = export_checkpoint(checkpoint, out, batch_size=batch_size or None, strict=strict)
    for issue in issues:
        console.print(f"[yellow]warning:[/] {issue}")
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
    target_fps: Optional[float] = typer.Option(None, help="throughput target that sets the folding"),
    clock_mhz: Optional[float] = typer.Option(None, help="clock target (default: the board's)"),
    out: Optional[Path] = typer.Option(None, help="build directory (default build/<model>-<board>-<backend>)"),
    force: bool = typer.Option(False, help="re-run every stage even if its inputs are unchanged"),
    overwrite: bool = typer.Option(False, help="build into a non-empty folder that is not an hwkit build "
                                   "(hwkit still replaces only what it wrote)"),
):
    """Model -> verified accelerator, report and (open boards) bitstream, stage by stage into one directory."""
    from hwkit.build import build_from_cli

    build_from_cli(model, board=board, backend=backend, target_fps=target_fps, clock_mhz=clock_mhz, out=out,
                   force=force, overwrite=overwrite)


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
    from hwkit.sim.commands import run_sim

    typer.echo(run_sim(model, inputs, out, tail))


@app.command("verify")
def verify_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    n: int = typer.Option(1000, "--n", help="random inputs on the input quantizer's grid"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="also the test set of digits | mnist | mnist1d"),
    strict: bool = typer.Option(False, "--strict", help="fail on any mismatch, even at float rounding ties"),
):
    """Golden simulator vs qonnx execution: every quantizer output compared bit for bit."""
    from hwkit.sim.commands import run_verify

    typer.echo(run_verify(model, n, dataset, strict))


@app.command("board-run")
def board_run_cmd(
    port: str = typer.Argument(..., help="serial port of the board (e.g. /dev/ttyUSB0) or a pyserial URL"),
    core: Path = typer.Option(..., "--core", help="core.json of the loaded accelerator"),
    model: Optional[Path] = typer.Option(None, "--model", help="QONNX model: classify its test set and compare"),
    dataset: str = typer.Option("digits", "--dataset", help="digits | mnist | mnist1d"),
    n: int = typer.Option(0, "--n", help="first N test samples (0 = all)"),
    baud: int = typer.Option(115200, "--baud", help="UART baud rate of the bitstream"),
):
    """Talk to a board running an hwkit bitstream over its UART: info, or classify a test set."""
    import json

    from hwkit.driver.run import classify

    typer.echo(json.dumps(classify(port, core, model, dataset, n, baud), indent=2))


@app.command("cosim")
def cosim_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    backend: str = typer.Option("hls4ml", "--backend", help="hls4ml (C simulation of the generated HLS)"),
    n: int = typer.Option(10000, "--n", help="random inputs on the input quantizer's grid"),
    io: str = typer.Option("parallel", "--io", help="parallel | stream"),
    hls_backend: str = typer.Option("Vitis", "--hls-backend", help="Vitis | Vivado"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="also the test set of digits | mnist | mnist1d"),
    out: Path = typer.Option(Path("build/cosim"), "--out", help="project directory"),
    approximate: bool = typer.Option(False, "--approximate", help="allow float scales (mismatches reported)"),
):
    """Generated hardware (C simulation) vs the golden model, bit for bit."""
    from hwkit.backends.hls4ml.cli import run_cosim

    typer.echo(run_cosim(model, backend, n, io, hls_backend, dataset, out, approximate))


@app.command("rtl")
def rtl_cmd(
    model: Path = typer.Argument(..., help="QONNX model (.onnx)"),
    out: Path = typer.Option(Path("build/rtl"), "--out", help="core directory (hwkit_core.v, .mem, core.json)"),
    n: int = typer.Option(10000, "--n", help="random grid inputs for the Verilator cosim (0 = skip)"),
    target_ii: Optional[int] = typer.Option(None, "--target-ii", help="cycles per sample the folding aims for"),
    synth: str = typer.Option("", "--synth", help="also run Yosys: ecp5 | ice40 | xilinx"),
):
    """Open RTL backend: generate hwkit_core, cosimulate in Verilator vs the golden model, optionally synthesize."""
    from hwkit.backends.rtl.cli import run_rtl

    typer.echo(run_rtl(model, out, n, target_ii, synth))


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be a comma-separated list of integers, got '{text}'") from None


@app.command("sweep")
def sweep_cmd(
    models: str = typer.Option("tfc", help="comma-separated zoo models"),
    wbits: str = typer.Option("1,2,4", help="comma-separated weight bit widths"),
    abits: str = typer.Option("2", help="comma-separated activation bit widths"),
    boards: str = typer.Option("ulx3s", help="comma-separated boards (see `hwkit boards`)"),
    dataset: str = typer.Option("digits", help="training/test dataset"),
    epochs: int = typer.Option(10, help="QAT epochs per point (0 = untrained)"),
    target_fps: str = typer.Option("", help="comma-separated throughput targets (empty = fastest that fits)"),
    workers: int = typer.Option(2, help="local dask worker processes"),
    scheduler: str = typer.Option("", help="address of an existing dask scheduler (default: a local cluster)"),
    out: Path = typer.Option(Path("sweep"), help="output directory (one build directory per point)"),
):
    """Design-space sweep on dask: accuracy, resources, cycles and fit for every combination."""
    from rich.table import Table

    from hwkit.dse import grid, pareto_plot, sweep

    fps = [float(v) for v in target_fps.split(",") if v.strip()] or [None]
    points = grid(model=[m.strip() for m in models.split(",") if m.strip()], wbits=_ints(wbits, "--wbits"),
                  abits=_ints(abits, "--abits"), board=[b.strip() for b in boards.split(",") if b.strip()],
                  dataset=dataset, epochs=epochs, target_fps=fps)
    results = sweep(points, out, scheduler=scheduler or None, n_workers=workers)
    table = Table(title=f"sweep: {len(results)} points")
    for col in ("point", "status", "accuracy", "LUT", "BRAM", "DSP", "II cycles"):
        table.add_column(col)
    for r in results:
        ok = r["status"] == "ok"
        table.add_row(r["name"], r["status"], f"{r['accuracy_golden']:.4f}" if ok else "-",
                      *(str(r.get(k, "-")) for k in ("lut", "bram", "dsp", "ii_cycles")))
    Console().print(table)
    typer.echo(f"results: {Path(out) / 'sweep.json'}  plot: {pareto_plot(results, Path(out) / 'pareto.png')}")


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


def main(argv: Optional[list[str]] = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except HwkitError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.print("[bold red]aborted[/]")
        return 130
    except Exception as err:  # click's usage errors carry their own exit code
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            return err.exit_code
        if isinstance(err, click.exceptions.Exit):
            return err.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
