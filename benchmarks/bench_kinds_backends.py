"""One small model per new layer kind through every form that runs here: golden vs qonnx execution,
the generated Verilog in Verilator, and hls4ml's C simulation (or its refusal). Prints the markdown
table of benchmarks/results_kinds_backends.md.

    PYTHONPATH=$PWD:$PWD/tests python benchmarks/bench_kinds_backends.py [N] [case ...]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import conv_models as cm  # noqa: E402
from test_hls4ml_kinds import avg_cnn, global_avg, plain_conv  # noqa: E402
from test_kind_argmax import argmax_conv, argmax_mlp  # noqa: E402
from test_kind_concat import concat_cnn, concat_mlp  # noqa: E402
from test_kind_pad import pad_cnn  # noqa: E402
from test_kind_upsample import up_cnn  # noqa: E402


def brevitas(builder, **kw):
    return lambda p: cm.export(builder, p, **kw)


CASES = {  # name: (kind, model builder)
    "conv1d + depthwise conv1d": ("Conv1d / VVU", brevitas(cm.conv1d, seed=1)),
    "conv1d stride 2": ("Conv1d, stride", brevitas(cm.conv1d, depthwise=False, stride=2, length=13, seed=2)),
    "conv1d dilated, stride 2": ("Conv1d, dilated", brevitas(cm.conv1d, dilation=2, stride=2, length=13, seed=2)),
    "depthwise-separable 2d": ("depthwise conv (VVU)", brevitas(cm.dw_separable)),
    "dilated depthwise 2d": ("dilated conv", brevitas(cm.dw_separable, dilation=2, hw=7, seed=3)),
    "grouped conv (2 groups)": ("grouped conv", brevitas(cm.dw_separable, groups=2, seed=5)),
    "conv without optional attrs": ("Conv (ONNX defaults)", plain_conv),
    "pad (1,2,2,1) zero": ("Pad", lambda p: pad_cnn(p)),
    "pad value 0.5": ("Pad", lambda p: pad_cnn(p, value=0.5)),
    "concat 2 branches": ("Concat", lambda p: concat_cnn(p)),
    "concat vectors": ("Concat", lambda p: concat_mlp(p)),
    "concat 3 inputs": ("Concat", lambda p: concat_cnn(p, order="bxa")),
    "resize nearest 2x2 (scales)": ("Resize", lambda p: up_cnn(p)),
    "resize nearest 3x2 (sizes)": ("Resize", lambda p: up_cnn(p, factors=(3, 2), use_sizes=True)),
    "argmax (MLP)": ("ArgMax", lambda p: argmax_mlp(p)),
    "topk k=1 (MLP)": ("TopK", lambda p: argmax_mlp(p, op="TopK")),
    "argmax per pixel": ("ArgMax", lambda p: argmax_conv(p)),
    "avg pool 2x2 (Brevitas TruncAvgPool)": ("AveragePool", avg_cnn),
    "global avg pool 4x4": ("GlobalAveragePool", global_avg),
}


def short(err: Exception) -> str:
    return f"refused: {str(err).splitlines()[0]}".replace("|", "/")


def run(name, n, work: Path):
    from hwkit.backends.hls4ml import cosim_hls4ml
    from hwkit.backends.rtl.cosim import cosimulate
    from hwkit.ir import lower, random_grid_inputs
    from hwkit.verify import golden_vs_qonnx

    kind, build = CASES[name]
    d = work / name.replace(" ", "_").replace("/", "_")
    d.mkdir(parents=True)
    path = build(d / "m.onnx")
    cells = []
    rep = golden_vs_qonnx(str(path), n=n, seed=3)
    cells.append(f"{'exact' if rep.mismatches == 0 else 'DIFFERS'} {rep.mismatches}/{rep.inputs}")
    g = lower(path)
    t0 = time.monotonic()
    try:
        res = cosimulate(g, random_grid_inputs(g, n, 4), d / "core", generate_first=True)
        cells.append(f"{'exact' if res.mismatches == 0 else 'DIFFERS'} {res.mismatches}/{res.n}, "
                     f"II {res.ii_measured} (model {res.ii_model}) [{time.monotonic() - t0:.0f} s]")
    except Exception as err:  # noqa: BLE001 - the table says what happened
        cells.append(short(err))
    t0 = time.monotonic()
    try:
        h = cosim_hls4ml(path, d / "hls", n=n, seed=1, io_type="parallel")
        cells.append(f"{'exact' if h['mismatches'] == 0 else 'DIFFERS'} {h['mismatches']} mismatching elements"
                     f"/{h['samples']} inputs [{time.monotonic() - t0:.0f} s]")
    except Exception as err:  # noqa: BLE001
        cells.append(short(err))
    return f"| {kind} | {name} | " + " | ".join(cells) + " |"


def main(argv):
    n = int(argv[0]) if argv and argv[0].isdigit() else 2000
    names = [a for a in argv if not a.isdigit()] or list(CASES)
    print("| kind | model | golden == qonnx | rtl (Verilator) | hls4ml (C sim, io_parallel) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(run(name, n, Path(tmp)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
