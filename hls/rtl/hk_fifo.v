// Stream FIFO. in_ready and out_valid come from registers only, so a FIFO between two blocks cuts
// every combinational ready/valid path: the top can chain blocks without long handshake paths.
// Storage is read asynchronously (registers or LUT RAM), which suits the small depths between layers.
module hk_fifo #(
    parameter W = 8,
    parameter DEPTH = 2
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] in_data,
    input  wire         in_valid,
    output wire         in_ready,
    output wire [W-1:0] out_data,
    output wire         out_valid,
    input  wire         out_ready
);
    localparam AW = (DEPTH < 2) ? 1 : $clog2(DEPTH);
    reg [W-1:0]  mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [AW:0]   count;
    wire wr = in_valid && in_ready;
    wire rd = out_valid && out_ready;
    assign in_ready  = (count != DEPTH);
    assign out_valid = (count != 0);
    assign out_data  = mem[rp];
    always @(posedge clk) begin
        if (wr) mem[wp] <= in_data;
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0;
        end else begin
            if (wr) wp <= (wp == DEPTH - 1) ? 0 : wp + 1'b1;
            if (rd) rp <= (rp == DEPTH - 1) ? 0 : rp + 1'b1;
            count <= count + (wr ? 1'b1 : 1'b0) - (rd ? 1'b1 : 1'b0);
        end
    end
`ifdef HWKIT_FIFO_PROBE
    // simulation only (hwkit.backends.rtl.fifos): the most words this FIFO ever held
    reg [AW:0] peak;
    always @(posedge clk) begin
        if (rst) peak <= 0;
        else if (count > peak) peak <= count;
    end
    final $display("HWKIT_FIFO %m %0d %0d %0d", W, DEPTH, peak);
`endif
endmodule
