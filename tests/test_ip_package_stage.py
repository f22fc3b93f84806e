"""The rtl backend's ip_package step: every rtl build carries the verified core as IP (AXI4-Stream top,
FuseSoC core, IP-XACT component, Vivado Tcl, file list) and a cocotb bench of the golden vectors."""
import json

import numpy as np

from hwkit.build import BuildConfig, Flow, default_flow, run_flow


def _flow():
    stages = {s.name: s for s in default_flow("rtl")}
    return Flow([stages[n] for n in ("export", "lower", "golden_sim", "estimate", "generate", "ip_package")])


def test_ip_package_holds_the_core_the_top_and_the_golden_bench(tmp_path):
    ctx = run_flow(_flow(), BuildConfig(), tmp_path / "b")
    rec = ctx.results["ip_package"]
    pkg = ctx.stage_dir("ip_package")
    gen = ctx.stage_dir("generate")
    core = json.loads((gen / "core.json").read_text())
    ip = pkg / "ip"
    for f in core["files"]["verilog"] + core["files"]["mem"]:
        assert (ip / f).read_bytes() == (gen / f).read_bytes()
    listed = (ip / "files.f").read_text().split()
    assert "hwkit_axis.v" in listed and "hk_axis_top.v" in listed and set(core["files"]["verilog"]) <= set(listed)
    assert (ip / rec["fusesoc_core"].split("/")[-1]).is_file() and (ip / "component.xml").is_file()
    bench = json.loads((pkg / "cocotb" / "bench.json").read_text())
    golden = np.load(ctx.artefact("golden_sim", "golden.npz"))
    vec = np.load(pkg / "cocotb" / "vectors.npz")
    assert bench["vectors"] == rec["cocotb_vectors"] == len(golden["x_int"])
    assert np.array_equal(vec["x_int"], golden["x_int"])
    assert np.array_equal(vec["y_int"], golden[f"out_{core['out']['stream']}"])
    # same inputs, same bytes
    again = run_flow(_flow(), BuildConfig(), tmp_path / "c", force=True)
    first = {p.relative_to(pkg).as_posix(): p.read_bytes() for p in pkg.rglob("*") if p.is_file() and p.name != "stage.json"}
    other = again.stage_dir("ip_package")
    assert first == {p.relative_to(other).as_posix(): p.read_bytes() for p in other.rglob("*")
                     if p.is_file() and p.name != "stage.json"}
