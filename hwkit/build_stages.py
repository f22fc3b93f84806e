"""Bodies of the default build stages (see :func:`hwkit.build.default_flow`).

Each stage reads earlier artefacts through ``ctx.artefact(stage, file)``, writes its own into
``ctx.workdir`` and returns a JSON-able result. Keys of the results are what hwkit.report reads.
A stage whose module or tool is missing returns ``status: unavailable`` with the reason (retried
next run); a stage that does not apply to the board/backend returns ``status: not_applicable``.
"""
from __future__ import annotations

import importlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np

from hwkit.build import BuildContext, hash_file
from hwkit.errors import ConfigError

QONNX = "model.qonnx.onnx"
GRAPH = "graph.pkl"


def _optional(module: str, attr: str):
    """``module.attr`` if that module exists (it may still be being written), else None."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module == err.name or module.startswith(err.name + ".")):
            return None
        raise
    return getattr(mod, attr, None)


def _unavailable(what: str, who: str) -> dict:
    return {"status": "unavailable", "reason": f"{what} not available yet ({who})"}


def _board(ctx: BuildContext):
    if "board" not in ctx.cache:
        from hwkit.boards import load_board

        ctx.cache["board"] = load_board(ctx.config.board)
    return ctx.cache["board"]


def _clock(ctx: BuildContext) -> float:
    return float(ctx.config.clock_mhz or _board(ctx).clock_mhz)


def _ok(ctx: BuildContext, stage: str) -> bool:
    rec = json.loads((ctx.stage_dir(stage) / "stage.json").read_text()) if (ctx.stage_dir(stage) / "stage.json").exists() else {}
    return rec.get("status") == "ok"


def _graph(ctx: BuildContext):
    if "graph" not in ctx.cache:
        with open(ctx.artefact("lower", GRAPH), "rb") as f:
            ctx.cache["graph"] = pickle.load(f)
    return ctx.cache["graph"]


def _versions(ctx: BuildContext, *packages: str) -> None:
    from importlib.metadata import PackageNotFoundError, version

    for p in packages:
        try:
            ctx.record_tool(p, version(p))
        except PackageNotFoundError:
            pass


# ---- stages --------------------------------------------------------------------------------------

def export(ctx: BuildContext) -> dict:
    """The model as a cleaned QONNX file (a .onnx is copied through qonnx cleanup; a .pt is exported)."""
    from hwkit.build import default_model

    src = Path(ctx.config.model) if ctx.config.model else default_model()
    _versions(ctx, "qonnx", "onnx", "brevitas")
    out = ctx.workdir / QONNX
    if src.suffix == ".pt":
        from hwkit.export import export_checkpoint

        export_checkpoint(src, out)
    elif src.suffix == ".onnx":
        from qonnx.core.modelwrapper import ModelWrapper

        from hwkit.export import cleanup

        try:
            model = ModelWrapper(str(src))
        except Exception as err:  # onnx raises assorted errors for a file that is not a model
            raise ConfigError(f"cannot read '{src}' as an ONNX model: {str(err).splitlines()[0][:160]}") from None
        cleanup(model).save(str(out))
    else:
        raise ConfigError(f"model must be a QONNX .onnx file or a hwkit .pt checkpoint, got '{src.name}'")
    result = {"model": src.name.split(".")[0], "source": str(src), "sha256": hash_file(src), "qonnx": QONNX,
              "summary": src.name}
    meta = src.with_suffix(".json")  # the pretrained models record their training accuracy beside them
    if meta.is_file():
        info = json.loads(meta.read_text())
        result["recorded_test_accuracy"] = info.get("test_accuracy")
    return result


def lower(ctx: BuildContext) -> dict:
    fn = _optional("hwkit.ir.lower", "lower")
    if fn is None:
        return _unavailable("hwkit.ir.lower", "golden-model helper")
    graph = fn(str(ctx.artefact("export", QONNX)))
    graph.meta.pop("model", None)  # the QONNX model is the export stage's artefact; keep the pickle small
    target_cycles = None
    if ctx.config.target_fps:
        choose = _optional("hwkit.sim.cycles", "choose_folding")
        if choose is None:
            return _unavailable("hwkit.sim.cycles.choose_folding", "golden-model helper")
        target_cycles = max(1, int(_clock(ctx) * 1e6 // ctx.config.target_fps))
        graph = choose(graph, target_cycles)
    with open(ctx.workdir / GRAPH, "wb") as f:
        pickle.dump(graph, f, protocol=4)
    layers = []
    for layer in graph.layers:
        row = {"name": layer.name, "kind": layer.kind, "inputs": list(layer.inputs), "outputs": list(layer.outputs)}
        folding = getattr(layer, "folding", None)
        if folding is not None:
            row["pe"], row["simd"] = folding.pe, folding.simd
        layers.append(row)
    streams = {n: {"shape": list(s.shape), "dtype": str(s.dtype)} for n, s in sorted(graph.streams.items())}
    (ctx.workdir / "graph.json").write_text(json.dumps({"name": graph.name, "layers": layers, "streams": streams},
                                                       indent=2, sort_keys=True) + "\n")
    ctx.cache["graph"] = graph
    folding = {row["name"]: [row["pe"], row["simd"]] for row in layers if "pe" in row}
    return {"layers": len(graph.layers), "folding": folding, "target_cycles": target_cycles,
            "summary": f"{len(graph.hardware_layers())} hardware layers"
                       + (f", folded for {target_cycles} cycles/sample" if target_cycles else "")}


def _float_scores(graph, outputs: dict) -> np.ndarray:
    """Host-side float scores: the FloatTail applied to the accelerator's integer output."""
    from hwkit.ir.graph import FloatTail

    tails = [layer for layer in graph.layers if isinstance(layer, FloatTail)]
    if tails:
        tail = tails[0]
        x = np.asarray(outputs[tail.inputs[0]], dtype=np.float64)
        return x * np.asarray(tail.scale, dtype=np.float64) + np.asarray(tail.offset, dtype=np.float64)
    return np.asarray(outputs[graph.outputs[0]], dtype=np.float64)


def golden_sim(ctx: BuildContext) -> dict:
    """Integer simulation of the test set: golden outputs, software vs golden accuracy, the cycle model."""
    if not _ok(ctx, "lower"):
        return _unavailable("the HwGraph (lower stage)", "golden-model helper")
    simulate = _optional("hwkit.sim", "simulate")
    if simulate is None:
        return _unavailable("hwkit.sim.simulate", "golden-model helper")
    from qonnx.core.modelwrapper import ModelWrapper

    from hwkit.data import load_dataset
    from hwkit.export import run_qonnx
    from hwkit.ir import quantize_input

    graph = _graph(ctx)
    ds = load_dataset(ctx.config.dataset)
    x_int = quantize_input(graph, ds.x_test)
    sim = simulate(graph, x_int)
    outputs = {k: np.asarray(v) for k, v in sim.outputs.items()}
    floats = getattr(sim, "float_outputs", None) or {}
    scores = np.asarray(floats[sorted(floats)[0]]) if floats else _float_scores(graph, outputs)
    golden_pred = scores.reshape(len(x_int), -1).argmax(axis=1)
    sw = run_qonnx(ModelWrapper(str(ctx.artefact("export", QONNX))), ds.x_test).reshape(len(x_int), -1)
    sw_pred = sw.argmax(axis=1)
    np.savez_compressed(ctx.workdir / "golden.npz", x_int=x_int, y=ds.y_test, pred=golden_pred,
                        **{f"out_{k}": v for k, v in sorted(outputs.items())})
    result = {
        "test_samples": int(len(x_int)),
        "accuracy_software": float((sw_pred == ds.y_test).mean()),
        "accuracy_golden": float((golden_pred == ds.y_test).mean()),
        "prediction_agreement": float((sw_pred == golden_pred).mean()),
    }
    cycles = _optional("hwkit.sim", "cycles")
    if cycles is not None:
        cyc = cycles(graph)
        cyc_d = cyc if isinstance(cyc, dict) else vars(cyc)
        result["ii_cycles"] = int(cyc_d.get("ii")) if cyc_d.get("ii") is not None else None
        result["latency_cycles"] = int(cyc_d.get("latency")) if cyc_d.get("latency") is not None else None
        per = cyc_d.get("layers") or cyc_d.get("per_layer") or {}
        result["layer_cycles"] = {k: int(v if not isinstance(v, dict) else v.get("cycles", 0)) for k, v in per.items()}
    result["summary"] = (f"accuracy sw {result['accuracy_software']:.4f} golden {result['accuracy_golden']:.4f} "
                         f"on {len(x_int)}")
    return result


def estimate(ctx: BuildContext) -> dict:
    """Analytic resources per layer; a design that cannot fit the board stops the build here."""
    if not _ok(ctx, "lower"):
        return _unavailable("the HwGraph (lower stage)", "golden-model helper")
    from hwkit.estimate import check_fit, estimate_graph

    board = _board(ctx)
    est = estimate_graph(_graph(ctx), board, ctx.config.backend)
    (ctx.workdir / "estimate.json").write_text(json.dumps(est, indent=2, sort_keys=True) + "\n")
    check_fit(est, board)
    t = est["total"]
    return est | {"summary": f"LUT {t['lut']:,} FF {t['ff']:,} BRAM {t['bram']:g} DSP {t['dsp']} on {board.name}"}


def generate(ctx: BuildContext) -> dict:
    backend = ctx.config.backend
    if backend == "hls4ml":
        gen = _optional("hwkit.backends.hls4ml", "generate_hls4ml_project")
        if gen is None:
            return _unavailable("hwkit.backends.hls4ml", "hls4ml helper")
        _versions(ctx, "hls4ml")
        rf = _hls4ml_reuse(ctx)
        proj = gen(str(ctx.artefact("export", QONNX)), ctx.workdir / "hls4ml_prj", part=_board(ctx).part,
                   reuse_factor=rf)
        return {"project": "hls4ml_prj", "reuse_factor": rf, "notes": list(proj.notes)[:20],
                "summary": f"hls4ml project, reuse factors {rf}"}
    if backend == "finn":
        finn_build = _optional("hwkit.backends.finn", "finn_build")
        if finn_build is None:
            return _unavailable("hwkit.backends.finn", "FINN helper")
        fps = int(ctx.config.target_fps) if ctx.config.target_fps else None
        res = finn_build(ctx.artefact("export", QONNX), ctx.workdir / "finn", board=ctx.config.board,
                         clock_mhz=_clock(ctx), target_fps=fps)
        return {"flow": res.get("flow"), "folding": res.get("folding") or {}, "summary": f"FINN {res.get('flow')} flow",
                "finn_estimate": res.get("estimate")}
    gen = _optional("hwkit.backends.rtl", "generate")
    if gen is None:
        return _unavailable("hwkit.backends.rtl.generate", "RTL helper")
    if not _ok(ctx, "lower"):
        return _unavailable("the HwGraph (lower stage)", "golden-model helper")
    res = gen(_graph(ctx), ctx.workdir, board=_board(ctx), target_fps=ctx.config.target_fps)
    return _jsonable(res) | {"summary": "Verilog"}


def cosim(ctx: BuildContext) -> dict:
    """The backend's simulation against the golden outputs on the test set (bit for bit)."""
    if not _ok(ctx, "generate") or not _ok(ctx, "golden_sim"):
        return _unavailable("generated sources and golden outputs", "earlier stages")
    backend = ctx.config.backend
    golden = np.load(ctx.artefact("golden_sim", "golden.npz"))
    if backend == "hls4ml":
        run = _optional("hwkit.backends.hls4ml", "cosim_hls4ml")
        from hwkit.data import load_dataset

        ds = load_dataset(ctx.config.dataset)
        # the project is regenerated here (same bytes) so the finished generate directory stays untouched
        res = run(str(ctx.artefact("export", QONNX)), ctx.workdir / "hls4ml_prj", n=ctx.config.n_vectors or 1000,
                  x=ds.x_test, seed=ctx.config.seed, part=_board(ctx).part, reuse_factor=_hls4ml_reuse(ctx))
        mism = int(res.get("mismatches", 0))
        ctx.record_tool("g++ (hls4ml C simulation)", "system")
        return {"bit_exact": mism == 0, "mismatches": mism, "vectors": int(res.get("samples", 0)),
                "reference": res.get("reference"), "samples_per_s": res.get("hls_samples_per_s"),
                "summary": f"{mism} mismatches / {res.get('samples')} vs {res.get('reference')}"}
    if backend == "finn":
        return {"status": "not_applicable", "reason": "FINN rtlsim needs Vivado/XSim (not installed)"}
    run = _optional("hwkit.backends.rtl", "cosim")
    if run is None:
        return _unavailable("hwkit.backends.rtl.cosim", "RTL helper")
    res = _jsonable(run(ctx.stage_dir("generate"), _graph(ctx), golden["x_int"], workdir=ctx.workdir))
    return res


def _hls4ml_reuse(ctx: BuildContext):
    if _ok(ctx, "lower"):
        from hwkit.backends.hls4ml import reuse_from_folding

        return reuse_from_folding(_graph(ctx))
    return 1


def _needs_open(ctx: BuildContext, what: str):
    board = _board(ctx)
    if ctx.config.backend != "rtl":
        return {"status": "not_applicable", "reason": f"{what} of {ctx.config.backend} projects needs vendor tools"}
    if not board.is_open and what != "synthesis":
        return {"status": "not_applicable", "reason": f"no open {what} for {board.family} ({board.part})"}
    return None


def synthesize(ctx: BuildContext) -> dict:
    skip = _needs_open(ctx, "synthesis")
    if skip:
        return skip
    if not _ok(ctx, "generate"):
        return _unavailable("generated Verilog", "RTL helper")
    fn = _optional("hwkit.implement", "synthesize")
    if fn is None:
        return _unavailable("hwkit.implement.synthesize", "boards/UART helper")
    return _jsonable(fn(ctx.stage_dir("generate"), _board(ctx), ctx.workdir, clock_mhz=_clock(ctx)))


def place_route(ctx: BuildContext) -> dict:
    skip = _needs_open(ctx, "place & route")
    if skip:
        return skip
    if not _ok(ctx, "synthesize"):
        return _unavailable("a synthesized netlist", "synthesize stage")
    fn = _optional("hwkit.implement", "place_route")
    if fn is None:
        return _unavailable("hwkit.implement.place_route", "boards/UART helper")
    return _jsonable(fn(ctx.stage_dir("synthesize"), _board(ctx), ctx.workdir, clock_mhz=_clock(ctx)))


def bitstream(ctx: BuildContext) -> dict:
    skip = _needs_open(ctx, "bitstream generation")
    if skip:
        return skip
    if not _ok(ctx, "place_route"):
        return _unavailable("a routed design", "place_route stage")
    fn = _optional("hwkit.implement", "bitstream")
    if fn is None:
        return _unavailable("hwkit.implement.bitstream", "boards/UART helper")
    return _jsonable(fn(ctx.stage_dir("place_route"), _board(ctx), ctx.workdir))


def report(ctx: BuildContext) -> dict:
    from hwkit.report import write_report

    rep = write_report(ctx.build_dir, ctx.workdir)
    s = rep["summary"]
    return {"summary": f"II {s['ii_cycles']} cycles, bit-exact {s['bit_exact']}", "files": ["report.json", "report.html"]}


def publish_report(build_dir: Path, ctx: BuildContext) -> None:
    """Copy the report stage's files to the build directory's top level (atomically, file by file)."""
    import os

    src = ctx.dirs.get("report")
    if src is None:
        return
    for name in ("report.json", "report.html"):
        tmp = build_dir / f".{name}.tmp-{os.getpid()}"
        shutil.copyfile(src / name, tmp)
        os.replace(tmp, build_dir / name)


def _jsonable(obj):
    """Results of other helpers' functions as plain JSON data (dataclasses, numpy scalars, paths)."""
    return json.loads(json.dumps(obj if isinstance(obj, dict) else vars(obj), default=_default))


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return o.name
    if hasattr(o, "__dict__"):
        return {k: v for k, v in vars(o).items() if not k.startswith("_")}
    return str(o)
