"""The backend-free stages before hardware: export, lower (+ the backend's folding), golden
simulation and the analytic estimate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwkit.atomic import write_json
from hwkit.errors import ConfigError
from hwkit.stages import common as c
from hwkit.stages.records import EstimateRecord, ExportRecord, GoldenRecord, LowerRecord


def default_model() -> Path:
    path = Path(__file__).resolve().parents[1] / "pretrained" / "tfc_w2a2_digits.onnx"
    if not path.is_file():
        raise ConfigError(f"the shipped default model is missing: {path}")
    return path


def model_path(config) -> Path:
    return Path(config.model) if config.model else default_model()


def export_inputs(config) -> list[Path]:
    """Every file the export stage reads: the model and the training record beside it."""
    src = model_path(config)
    return [p for p in (src, src.with_suffix(".json")) if p.is_file()]


def export(ctx) -> dict:
    """The model as a cleaned QONNX file (a .onnx is copied through qonnx cleanup; a .pt is exported)."""
    from hwkit.builddir import hash_file

    src = model_path(ctx.config)
    c.versions(ctx, "qonnx", "onnx", "brevitas")
    out = ctx.workdir / c.QONNX
    input_format = None
    if src.suffix == ".pt":
        from hwkit.export import export_checkpoint

        export_checkpoint(src, out)
        if ctx.config.input_format:  # hwkit's checkpoints quantize their input: a request is refused, not dropped
            from hwkit.ir.input_format import choose_input_format
            from hwkit.ir.passes import load

            choose_input_format(load(out), ctx.config.input_format)
    elif src.suffix == ".onnx":
        from qonnx.core.modelwrapper import ModelWrapper

        from hwkit.export import cleanup

        try:
            model = ModelWrapper(str(src))
        except Exception as err:  # onnx raises assorted errors for a file that is not a model
            raise ConfigError(f"cannot read '{src}' as an ONNX model: {str(err).splitlines()[0][:160]}") from None
        from hwkit.input_choice import ORIGINAL, for_data
        from hwkit.sourcenames import cleanup_keeping_names

        cleaned = cleanup_keeping_names(model, cleanup)  # errors can then name the user's nodes
        quantized, choice, _ = for_data(cleaned, ctx.config.input_format, ctx.config.data_choice, src)
        quantized.save(str(out))
        if choice is not None:  # the float-input original: the input-quantization error is measured against it
            ctx.log(choice.line())
            cleaned.save(str(ctx.workdir / ORIGINAL))
            input_format = choice.record()
    else:
        raise ConfigError(f"model must be a QONNX .onnx file or a hwkit .pt checkpoint, got '{src.name}'")
    rec = ExportRecord(model=src.name.split(".")[0], source=str(src), sha256=hash_file(src), qonnx=c.QONNX,
                       inputs={p.name: hash_file(p) for p in export_inputs(ctx.config)}, summary=src.name,
                       input_format=input_format)
    if input_format:
        rec.summary += f", input {input_format['format']} ({input_format['source']})"
    meta = src.with_suffix(".json")  # the pretrained models record their training accuracy beside them
    if meta.is_file():
        rec.recorded_test_accuracy = json.loads(meta.read_text()).get("test_accuracy")
    return rec.to_dict()


def lower(ctx) -> dict:
    fn = c.require("hwkit.ir.lower", "lower")
    graph = fn(str(ctx.artefact("export", c.QONNX)))
    clock = c.requested_clock(ctx)
    fps = ctx.config.target_fps   # 'max': the backend folds for the fastest that fits
    target_cycles = max(1, int(clock.requested_mhz * 1e6 // fps)) if fps and fps != "max" else None
    # the backend's own choice, fixed here so the estimate and the generated sources agree
    graph = c.backend(ctx).fold(graph, c.board(ctx), ctx.config, target_cycles=target_cycles)
    files = c.save_graph_artefact(graph, ctx.workdir)
    layers = []
    for layer in graph.layers:
        row = {"name": layer.name, "kind": layer.kind, "inputs": list(layer.inputs), "outputs": list(layer.outputs)}
        folding = getattr(layer, "folding", None)
        if folding is not None:
            row["pe"], row["simd"] = folding.pe, folding.simd
        layers.append(row)
    ctx.cache["graph"] = graph
    folding = {row["name"]: [row["pe"], row["simd"]] for row in layers if "pe" in row}
    return LowerRecord(
        layers=len(graph.layers), folding=folding, target_cycles=target_cycles, graph_files=files,
        clock=clock.to_dict(),
        summary=f"{len(graph.hardware_layers())} hardware layers"
                + (f", folded for {target_cycles} cycles/sample" if target_cycles else "")).to_dict()


def export_key(config) -> dict:
    """The input format keys export; without one, a float-input model's export is keyed by the data (its
    default format covers the data's range); a model that quantizes its input is keyed by neither."""
    from hwkit.ir.input_format import is_float_input_file

    if config.input_format:
        return {"input_format": config.input_format}
    return {"input_format": data_key(config)} if is_float_input_file(model_path(config)) else {}


def data_key(config) -> dict:
    """What keys golden_sim's data: the bundled name or the file's content (hwkit.data.data_key)."""
    from hwkit.data import data_key as key

    return key(config.data_choice, model_path(config))


# what the build's RTL cosim simulates by default: CNV W1A1 (II 451,584) keeps its 1,000 grid vectors
# (~15 min of Verilator in two processes here); CNV W2A2 at its only fitting folding (II 28.9 M) gets 17
GRID_VECTORS, COSIM_CYCLE_BUDGET, MIN_GRID_VECTORS = 1000, 500_000_000, 8


def grid_vectors(asked: int, ii: int | None, n_test: int) -> int:
    """Random grid vectors the build adds to the test data: ``asked`` when set (``n_vectors``), else 1,000,
    fewer when test data + grid would exceed the cosim cycle budget at ``ii`` cycles per sample (at least 8)."""
    if asked:
        return int(asked)
    if not ii:
        return GRID_VECTORS
    return int(min(GRID_VECTORS, max(MIN_GRID_VECTORS, COSIM_CYCLE_BUDGET // int(ii) - n_test)))


def golden_sim(ctx) -> dict:
    """Integer simulation of the test data and of the cosim's random grid vectors: golden outputs
    (golden.npz, the one reference every backend's simulation is compared with), software vs golden
    accuracy, the cycle model. The test data: hwkit.data.choose_data (labels -1 when it has none; no
    test data at all when no dataset fits the model, and accuracy is then not measured)."""
    if not c.ok(ctx, "lower"):
        return c.unavailable("the HwGraph (lower stage)", "lower stage")
    simulate = c.require("hwkit.sim", "simulate")
    from hwkit.data import choose_data
    from hwkit.ir import quantize_input, random_grid_inputs
    from hwkit.verify import class_predictions, qonnx_output

    graph = c.graph(ctx)
    samples = choose_data(ctx.config.data_choice, graph.input_prep.model_input_shape,
                          model_path=model_path(ctx.config))
    cyc = c.require("hwkit.sim", "cycles")(graph)
    cyc_d = cyc if isinstance(cyc, dict) else vars(cyc)
    n_test = 0 if samples.x is None else len(samples.x)
    n_grid = grid_vectors(ctx.config.n_vectors, cyc_d.get("ii"), n_test)
    if n_grid < GRID_VECTORS and not ctx.config.n_vectors:
        ctx.log(f"{n_grid} random grid vectors, not {GRID_VECTORS}: at II {int(cyc_d['ii']):,} cycles the cosim "
                f"budget is {COSIM_CYCLE_BUDGET:,} cycles (n_vectors in a config sets the count)")
    grid = random_grid_inputs(graph, n_grid, seed=ctx.config.seed)
    x_test = quantize_input(graph, samples.x) if samples.x is not None else grid[:0]
    x_int = np.concatenate([x_test, grid])
    sim = simulate(graph, x_int)
    n = len(x_test)
    outputs = {k: np.asarray(v) for k, v in sim.outputs.items()}
    floats = {k: np.asarray(v) for k, v in (getattr(sim, "float_outputs", None) or {}).items()}
    scores = c.float_scores(graph, {**outputs, **floats})
    golden_pred = class_predictions(graph, scores[:n])
    y = samples.y if samples.y is not None else np.full(n, -1, dtype=np.int64)  # -1: no label
    sw_pred = class_predictions(graph, qonnx_output(ctx.artefact("export", c.QONNX), samples.x)) if n else None
    np.savez_compressed(ctx.workdir / "golden.npz", x_int=x_int, n_test=n, y=y, pred=golden_pred,
                        **{f"out_{k}": v for k, v in sorted(outputs.items())},
                        **{f"float_{k}": v for k, v in sorted(floats.items())})
    per = cyc_d.get("layers") or cyc_d.get("per_layer") or {}
    labelled = samples.y is not None and n > 0
    rec = GoldenRecord(
        test_samples=int(n), cosim_vectors=int(len(x_int)),
        accuracy_software=float((sw_pred == y).mean()) if labelled else None,
        accuracy_golden=float((golden_pred == y).mean()) if labelled else None,
        prediction_agreement=float((sw_pred == golden_pred).mean()) if n else None,
        ii_cycles=int(cyc_d["ii"]) if cyc_d.get("ii") is not None else None,
        latency_cycles=int(cyc_d["latency"]) if cyc_d.get("latency") is not None else None,
        layer_cycles={k: int(v if not isinstance(v, dict) else v.get("cycles", 0)) for k, v in per.items()},
        data=samples.record())
    if ctx.results.get("export", {}).get("input_format"):  # a float-input model: what quantizing its input costs
        from hwkit.input_choice import ORIGINAL
        from hwkit.ir.input_format import error_line, input_quantization_error

        rec.input_quantization = (input_quantization_error(qonnx_output(ctx.artefact("export", ORIGINAL), samples.x),
                                                           scores[:n], samples.y) if n
                                  else {"samples": 0, "why": samples.why})
        ctx.log(error_line(rec.input_quantization))
    if labelled:
        rec.summary = f"accuracy sw {rec.accuracy_software:.4f} golden {rec.accuracy_golden:.4f} on {n} ({samples.name})"
    elif n:
        rec.summary = f"accuracy not measured ({samples.name} has no labels); sw == golden on {rec.prediction_agreement:.4f}"
    else:
        rec.summary = f"accuracy not measured: {samples.why}; {len(x_int)} grid vectors"
    return rec.to_dict()


def estimate(ctx) -> dict:
    """Analytic resources per layer; a design that cannot fit the board stops the build here."""
    if not c.ok(ctx, "lower"):
        return c.unavailable("the HwGraph (lower stage)", "lower stage")
    from hwkit.estimate import check_fit

    board = c.board(ctx)
    est = c.backend(ctx).estimate(c.graph(ctx), board, c.current_clock(ctx).requested_mhz)
    write_json(ctx.workdir / "estimate.json", est)
    check_fit(est, board)
    t = est["total"]
    rec = EstimateRecord.from_dict(est)
    rec.summary = f"LUT {t['lut']:,} FF {t['ff']:,} BRAM {t['bram']:g} DSP {t['dsp']} on {board.name}"
    return rec.to_dict()
