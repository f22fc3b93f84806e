"""Per-instance cell counts: a family whose synthesis keeps the hierarchy (Xilinx) gives them from its
one synthesis run, equal to the separate hierarchy-keeping run that flattening families need."""
import pytest

from hwkit.tools import yosys

LEAF = """
module leaf #(parameter W = 4) (input wire clk, input wire [W-1:0] a, input wire [W-1:0] b, output reg [W:0] s);
    always @(posedge clk) s <= a + b;
endmodule
module top (input wire clk, input wire [11:0] a, input wire [11:0] b, output wire [20:0] s);
    leaf #(.W(4)) u_small (.clk(clk), .a(a[3:0]), .b(b[3:0]), .s(s[4:0]));
    leaf #(.W(12)) u_wide (.clk(clk), .a(a), .b(b), .s(s[20:8]));
    assign s[7:5] = 0;
endmodule
"""


def _yosys():
    try:
        return yosys.yosys_path()
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"yosys missing: {err}")


@pytest.mark.tools
def test_xilinx_instances_from_the_one_synthesis_run(tmp_path):
    _yosys()
    src = tmp_path / "top.v"
    src.write_text(LEAF)
    one = yosys.synthesize([src], "top", tmp_path / "one", "xilinx", json_netlist=False, instances=True)
    assert sorted((tmp_path / "one").glob("*.ys")) == [tmp_path / "one" / "top.ys"]   # one yosys run
    assert not (tmp_path / "one" / "top.hier.json").exists()
    two = yosys.instance_stats([src], "top", tmp_path / "two", "xilinx")
    assert one.instances == two
    # the top's other instances are synth_xilinx's I/O and clock buffers, which hold no LUT or FF
    assert two["u_small"]["ff"] == 5 and two["u_wide"]["ff"] == 13
    assert two["u_small"]["lut"] == 4 and two["u_wide"]["lut"] == 12
    assert sum(v["ff"] for v in two.values()) == one.ff and sum(v["lut"] for v in two.values()) == one.lut


@pytest.mark.tools
def test_flattening_family_leaves_instances_to_a_second_run(tmp_path):
    _yosys()
    src = tmp_path / "top.v"
    src.write_text(LEAF)
    res = yosys.synthesize([src], "top", tmp_path, "ecp5", json_netlist=False, instances=True)
    assert res.instances is None and res.ff == 18
