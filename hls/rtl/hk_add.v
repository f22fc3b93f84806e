// Residual add of two streams with E elements per beat: y = SGA*(a << SA) + SGB*(b << SB).
// Stream b (the skip branch) passes through a FIFO of BDEPTH beats inside the block, so the
// branch can run ahead by the latency of the other path without stalling the fork upstream
// (BBLOCK: that FIFO's memory is a block RAM, read ahead as hk_fifo's BLOCK says).
module hk_add #(
    parameter E = 1,
    parameter AB = 4, parameter AS = 1, parameter BB = 4, parameter BS = 1,
    parameter SA = 0, parameter SB = 0, parameter SGA = 1, parameter SGB = 1,
    parameter OB = 6, parameter BDEPTH = 2, parameter BBLOCK = 0
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [E*AB-1:0]   a_data,
    input  wire              a_valid,
    output wire              a_ready,
    input  wire [E*BB-1:0]   b_data,
    input  wire              b_valid,
    output wire              b_ready,
    output reg  [E*OB-1:0]   out_data,
    output reg               out_valid,
    input  wire              out_ready
);
    wire [E*BB-1:0] bq_data;
    wire bq_valid, bq_ready;
    hk_fifo #(.W(E*BB), .DEPTH(BDEPTH), .BLOCK(BBLOCK)) u_branch (
        .clk(clk), .rst(rst), .in_data(b_data), .in_valid(b_valid), .in_ready(b_ready),
        .out_data(bq_data), .out_valid(bq_valid), .out_ready(bq_ready));
    localparam XW = (AB > BB ? AB : BB) + (SA > SB ? SA : SB) + 3;
    wire en = !out_valid || out_ready;
    wire fire = en && a_valid && bq_valid;
    assign a_ready = en && bq_valid;
    assign bq_ready = en && a_valid;
    integer e;
    reg signed [XW-1:0] xa, xb, y;
    always @(posedge clk) begin
        if (rst) out_valid <= 0;
        else if (en) out_valid <= a_valid && bq_valid;
        if (fire) begin
            for (e = 0; e < E; e = e + 1) begin
                xa = AS ? $signed({{(XW-AB){a_data[e*AB+AB-1]}}, a_data[e*AB +: AB]})
                        : $signed({{(XW-AB){1'b0}}, a_data[e*AB +: AB]});
                xb = BS ? $signed({{(XW-BB){bq_data[e*BB+BB-1]}}, bq_data[e*BB +: BB]})
                        : $signed({{(XW-BB){1'b0}}, bq_data[e*BB +: BB]});
                xa = xa <<< SA;
                xb = xb <<< SB;
                y = (SGA < 0 ? -xa : xa) + (SGB < 0 ? -xb : xb);
                out_data[e*OB +: OB] <= y[OB-1:0];
            end
        end
    end
endmodule

// Stream fork: every beat goes to both outputs; each side may take it in a different cycle.
module hk_fork #(
    parameter W = 8
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] in_data,
    input  wire         in_valid,
    output wire         in_ready,
    output wire [W-1:0] a_data,
    output wire         a_valid,
    input  wire         a_ready,
    output wire [W-1:0] b_data,
    output wire         b_valid,
    input  wire         b_ready
);
    reg a_done, b_done;
    assign a_data = in_data;
    assign b_data = in_data;
    assign a_valid = in_valid && !a_done;
    assign b_valid = in_valid && !b_done;
    assign in_ready = (a_ready || a_done) && (b_ready || b_done);
    always @(posedge clk) begin
        if (rst || (in_valid && in_ready)) begin
            a_done <= 0; b_done <= 0;
        end else begin
            if (a_valid && a_ready) a_done <= 1;
            if (b_valid && b_ready) b_done <= 1;
        end
    end
endmodule
