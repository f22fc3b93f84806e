// Constant padding of an H x W x C feature map streamed channels-last, E channels per beat: the output
// map is (PT + H + PB) x (PL + W + PR) x C, one beat a cycle; a position outside the input holds PADV
// (an OB-bit code) and reads nothing. Input elements are sign- (IS) or zero-extended from IB to OB
// bits; IP: the input is bipolar (bit 1 = +1, 0 = -1) and the output is not.
module hk_pad #(
    parameter H = 4, parameter W = 4, parameter C = 2, parameter E = 1,
    parameter IB = 4, parameter IS = 1, parameter IP = 0, parameter OB = 4,
    parameter PT = 1, parameter PL = 1, parameter PB = 1, parameter PR = 1,
    parameter PADV = 0
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [E*IB-1:0]   in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output reg  [E*OB-1:0]   out_data,
    output reg               out_valid,
    input  wire              out_ready
);
    localparam CF = C / E;
    localparam OH = PT + H + PB;
    localparam OW = PL + W + PR;
    localparam [OB-1:0] PADW = PADV;
    reg [$clog2(OH > 1 ? OH : 2)-1:0] oy;
    reg [$clog2(OW > 1 ? OW : 2)-1:0] ox;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    wire inner = (oy >= PT) && (oy < PT + H) && (ox >= PL) && (ox < PL + W);
    wire en = !out_valid || out_ready;
    wire go = en && (!inner || in_valid);
    assign in_ready = en && inner;
    integer e;
    reg signed [OB:0] x;
    always @(posedge clk) begin
        if (rst) begin
            oy <= 0; ox <= 0; cf <= 0; out_valid <= 0;
        end else if (en) begin
            out_valid <= !inner || in_valid;
            if (go) begin
                cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
                if (cf == CF - 1) ox <= (ox == OW - 1) ? 0 : ox + 1'b1;
                if (cf == CF - 1 && ox == OW - 1) oy <= (oy == OH - 1) ? 0 : oy + 1'b1;
            end
        end
        if (go) begin
            for (e = 0; e < E; e = e + 1) begin
                if (IP) x = in_data[e*IB] ? 1 : -1;
                else if (IS) x = $signed({{(OB+1-IB){in_data[e*IB+IB-1]}}, in_data[e*IB +: IB]});
                else x = $signed({{(OB+1-IB){1'b0}}, in_data[e*IB +: IB]});
                out_data[e*OB +: OB] <= inner ? x[OB-1:0] : PADW;
            end
        end
    end
endmodule
