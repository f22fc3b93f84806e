"""The backend-free hardware stages: generate (the backend's sources) and cosim (the backend's
simulation, compared here and only here with the golden outputs of the golden_sim stage)."""
from __future__ import annotations

import numpy as np

from hwkit.stages import common as c
from hwkit.stages.records import CosimRecord, GenerateRecord


def generate(ctx) -> dict:
    if not c.ok(ctx, "lower"):
        return c.unavailable("the HwGraph (lower stage)", "lower stage")
    be = c.backend(ctx)
    c.versions(ctx, *be.packages)
    res = be.generate(c.graph(ctx), ctx.artefact("export", c.QONNX), ctx.workdir, c.board(ctx), ctx.config)
    return GenerateRecord.from_dict(res).to_dict()


def golden_outputs(golden) -> dict:
    """Stream name -> golden array, integer streams and FloatTail outputs, from golden.npz."""
    out = {}
    for key in golden.files:
        for prefix in ("out_", "float_"):
            if key.startswith(prefix):
                out[key[len(prefix):]] = golden[key]
    return out


def compare_with_golden(graph, golden: dict, got: dict) -> tuple[int, str | None, dict]:
    """(mismatching elements, first mismatch as one line, per-stream counts). Every stream the backend
    returned must be a golden stream; values must be equal exactly."""
    from hwkit.errors import BuildFailedError

    unknown = sorted(set(got) - set(golden))
    if unknown or not got:
        raise BuildFailedError(f"the backend's simulation returned stream(s) {unknown or 'none'} that the "
                               f"golden model does not have ({', '.join(sorted(golden))})")
    ref, cand = {}, {}
    for k, y in got.items():
        r = np.asarray(golden[k])
        y = np.asarray(y)
        if y.shape != r.shape and y.size == r.size:
            y = y.reshape(r.shape)  # e.g. (N, 10) vs (N, 1, 10): same elements, layout checked by values
        ref[k], cand[k] = r, y
    from hwkit.verify import compare

    rep = compare(ref, cand, graph=graph)
    first = str(rep.entries[0]) if rep.entries else None
    return int(rep.mismatches), first, dict(rep.per_stream)


def cosim(ctx) -> dict:
    """The backend's simulation of its generated sources on the golden vectors, compared bit for bit."""
    if not c.ok(ctx, "generate") or not c.ok(ctx, "golden_sim"):
        return c.unavailable("generated sources and golden outputs", "earlier stages")
    from hwkit.verify import class_predictions

    be = c.backend(ctx)
    graph = c.graph(ctx)
    golden = np.load(ctx.artefact("golden_sim", "golden.npz"), allow_pickle=False)
    x_int, n_test = golden["x_int"], int(golden["n_test"])
    sim = be.simulate(graph, ctx.stage_dir("generate"), x_int, ctx.workdir, ctx.config,
                      qonnx_path=ctx.artefact("export", c.QONNX), board=c.board(ctx))
    ref = golden_outputs(golden)
    mism, first, per_stream = compare_with_golden(graph, ref, sim.outputs)
    np.savez_compressed(ctx.workdir / "sim_outputs.npz", **{f"out_{k}": v for k, v in sorted(sim.outputs.items())})
    scores = c.float_scores(graph, {k: v[:n_test] for k, v in sim.outputs.items()})
    labelled = n_test > 0 and int(golden["y"].min()) >= 0  # golden_sim writes -1 for unlabelled data
    pred = class_predictions(graph, scores)
    for tool, version in sim.detail.pop("tools", {}).items():
        ctx.record_tool(tool, version)
    rec = CosimRecord(
        bit_exact=mism == 0, mismatches=mism, vectors=int(len(x_int)), test_vectors=n_test,
        simulator=sim.simulator, accuracy_hw_sim=float((pred == golden["y"]).mean()) if labelled else None,
        ii_cycles=sim.ii_cycles or None, latency_cycles=sim.latency_cycles,
        samples_per_s=round(sim.samples_per_s, 1) if sim.samples_per_s else None,
        first_mismatch=first, detail=sim.detail | {"mismatches_per_stream": per_stream})
    rec.summary = (f"{mism} mismatches / {len(x_int)} vectors vs golden ({sim.simulator})"
                   + (f", II measured {sim.ii_cycles}" if sim.ii_cycles else "")
                   + (f"; first: {first}" if first else ""))
    return rec.to_dict()
