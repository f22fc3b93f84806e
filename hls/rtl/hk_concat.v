// Channel concatenation of two streams, E elements per beat: per pixel, CA/E beats of a then CB/E
// beats of b, each element sign- or zero-extended to OB bits and shifted left by SA / SB (a common
// scale). AP / BP mark a bipolar input (bit 1 = +1, 0 = -1); OP a bipolar output (both inputs
// bipolar, no shift: bits pass as they are). Buffering of the side that arrives early is the plan's
// FIFO in front of this block.
module hk_concat #(
    parameter E = 1, parameter CA = 2, parameter CB = 2,
    parameter AB = 4, parameter AS = 1, parameter AP = 0, parameter SA = 0,
    parameter BB = 4, parameter BS = 1, parameter BP = 0, parameter SB = 0,
    parameter OP = 0, parameter OB = 6
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
    localparam FA = CA / E;
    localparam FB = CB / E;
    localparam XW = (AB > BB ? AB : BB) + (SA > SB ? SA : SB) + 2;
    reg side;                                  // 0: a's beats of this pixel, 1: b's
    reg [$clog2((FA > FB ? FA : FB) + 1)-1:0] n;
    wire en = !out_valid || out_ready;
    wire src_valid = side ? b_valid : a_valid;
    assign a_ready = en && !side;
    assign b_ready = en && side;
    integer e;
    reg signed [XW-1:0] x;
    always @(posedge clk) begin
        if (rst) begin
            side <= 0; n <= 0; out_valid <= 0;
        end else if (en) begin
            out_valid <= src_valid;
            if (src_valid) begin
                if (n == (side ? FB : FA) - 1) begin
                    n <= 0; side <= ~side;
                end else n <= n + 1'b1;
            end
        end
        if (en && src_valid) begin
            for (e = 0; e < E; e = e + 1) begin
                if (!side) begin
                    if (AP) x = a_data[e*AB] ? 1 : -1;
                    else x = AS ? $signed({{(XW-AB){a_data[e*AB+AB-1]}}, a_data[e*AB +: AB]})
                                : $signed({{(XW-AB){1'b0}}, a_data[e*AB +: AB]});
                    x = x <<< SA;
                    out_data[e*OB +: OB] <= OP ? a_data[e*AB] : x[OB-1:0];
                end else begin
                    if (BP) x = b_data[e*BB] ? 1 : -1;
                    else x = BS ? $signed({{(XW-BB){b_data[e*BB+BB-1]}}, b_data[e*BB +: BB]})
                                : $signed({{(XW-BB){1'b0}}, b_data[e*BB +: BB]});
                    x = x <<< SB;
                    out_data[e*OB +: OB] <= OP ? b_data[e*BB] : x[OB-1:0];
                end
            end
        end
    end
endmodule
