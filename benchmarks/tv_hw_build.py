"""The TV smoothing step in ULX3S bitstreams (hls/rtl/hk_tv.v): the two stable CNNs with a TV step of
benchmarks/results_tv_hw.md, made and built by `hwkit build` at a requested clock.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/tv_hw_build.py --which untrained,trained --clock-mhz 100 \
        --out build/tv_hw

untrained: tests/test_tv_hw.py's zoo_net(bits=3, seed=0) (stable_cnv W3A3, depth 1, width 4, a TV step;
its TV changes 22 % of its outputs); trained: the same architecture trained 10 epochs on digits (seed 0),
whose TV step is the identity (Yosys removed the one-stage block; the pipelined one stays).
Prints one JSON line per build."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ARCH = {"depth": 1, "width": 4, "hidden": 4, "tv": True}


def untrained(path: Path) -> Path:
    import torch

    from hwkit.export import export_qonnx
    from hwkit.zoo import build_model

    torch.manual_seed(0)
    m = build_model("stable_cnv", 3, 3, 8, (1, 8, 8), arch=dict(ARCH))
    with torch.no_grad():
        m.train()
        for _ in range(5):   # as tests/test_tv_hw.py: move the learned quantizer scales off their start values
            m(torch.randn(16, 1, 8, 8) * 0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(m.eval(), (1, 8, 8), path)
    return path


def trained(path: Path) -> Path:
    from hwkit.train import TrainConfig, train_and_save

    if not path.exists():
        train_and_save(TrainConfig(model="stable_cnv", dataset="digits", wbits=3, abits=3, epochs=10, seed=0,
                                   arch=dict(ARCH)), path, progress=False)
    return path


def build(model: Path, out: Path, clock_mhz: float) -> dict:
    from hwkit.build import BuildConfig, default_flow, run_flow
    from hwkit.stages import common as c

    ctx = run_flow(default_flow("rtl"), BuildConfig(model=str(model), board="ulx3s", data="digits",
                                                    clock_mhz=clock_mhz), out)
    r = ctx.results
    tv = {l.name for l in c.graph(ctx).layers if l.kind == "TV"}   # layers are named after their ONNX nodes
    syn, pnr, ret = r.get("synthesize", {}), r.get("place_route", {}), r.get("retime", {})
    final = ret if ret.get("fmax_mhz") else pnr
    bit = next(out.glob("*-bitstream/*.bit"), None)
    return {"model": model.name, "requested_mhz": clock_mhz,
            "cosim": r["cosim"].get("summary"), "ii": r["cosim"].get("ii_cycles"),
            "accuracy_sw": r["golden_sim"].get("accuracy_software"),
            "accuracy_golden": r["golden_sim"].get("accuracy_golden"),
            "synth": syn.get("total"), "estimate": r["estimate"].get("total"),
            "tv_synth": {k: v for k, v in (syn.get("layers") or {}).items() if k in tv},
            "tv_estimate": {l["name"]: {k: l[k] for k in ("lut", "ff", "bram")}
                            for l in r["estimate"].get("layers", []) if l["name"] in tv},
            "fmax_mhz": pnr.get("fmax_mhz"), "timing_met": pnr.get("timing_met"), "clock": final.get("clock"),
            "retime": ret.get("summary") or ret.get("reason"), "final_fmax_mhz": final.get("fmax_mhz"),
            "bitstream_bytes": bit.stat().st_size if bit else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--which", default="untrained,trained")
    p.add_argument("--clock-mhz", type=float, default=100.0)
    p.add_argument("--out", type=Path, default=Path("build/tv_hw"))
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    for which in a.which.split(","):
        model = {"untrained": lambda: untrained(a.out / "untrained_tv_w3a3.onnx"),
                 "trained": lambda: trained(a.out / "stable_cnv_tv_w3a3.pt")}[which]()
        res = build(model, a.out / f"{which}-{a.clock_mhz:g}", a.clock_mhz)
        print(json.dumps(res, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
