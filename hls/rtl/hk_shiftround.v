// Power-of-two requantization of E elements per beat: y = clip(round(x / 2**SHIFT), LO, HI).
// SHIFT > 0 divides with RMODE 0 = half to even (ONNX Round), 1 = half up, 2 = floor;
// SHIFT <= 0 multiplies exactly. Three register stages: the shift and round bit, the increment, the
// clip. The increment and the clip each end in a carry chain; in one stage they were the critical path
// of networks that otherwise reach 100 MHz on ECP5 (98.0 MHz, benchmarks/results_tv_hw.md).
module hk_shiftround #(
    parameter E = 1,
    parameter IB = 16, parameter IS = 1,
    parameter SHIFT = 0, parameter RMODE = 0,
    parameter LO = 0, parameter HI = 3,
    parameter OB = 2
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
    localparam XW = IB + 2 + (SHIFT < 0 ? -SHIFT : 0);
    localparam SA = SHIFT > 0 ? SHIFT : 1;
    // the rounded value before the clip: a SHIFT > 0 quotient of IB-SHIFT bits plus its increment, one
    // more bit for an unsigned input read as signed (at least 2: -1, 0, 1 when everything is shifted out)
    localparam YW = SHIFT > 0 ? (IB - SHIFT + 2 > 2 ? IB - SHIFT + 2 : 2) : XW;
    localparam ZW = YW > OB + 1 ? YW : OB + 1;   // the clip also holds LO and HI (OB bits, either sign)
    wire en = !out_valid || out_ready;
    assign in_ready = en;
    integer e;
    reg signed [XW-1:0] x, q, y;
    reg signed [ZW-1:0] z;
    reg [SA-1:0] rem;
    reg up;
    reg [E*XW-1:0] q1;
    reg [E*YW-1:0] y2;
    reg [E-1:0] up1;
    reg v1, v2;
    always @(posedge clk) begin
        if (rst) begin
            v1 <= 0; v2 <= 0; out_valid <= 0;
        end else if (en) begin
            v1 <= in_valid; v2 <= v1; out_valid <= v2;
        end
        if (en && in_valid) begin
            for (e = 0; e < E; e = e + 1) begin
                x = IS ? $signed({{(XW-IB){in_data[e*IB+IB-1]}}, in_data[e*IB +: IB]})
                       : $signed({{(XW-IB){1'b0}}, in_data[e*IB +: IB]});
                if (SHIFT > 0) begin
                    q = x >>> SA;
                    rem = x[SA-1:0];
                    if (RMODE == 2) up = 0;
                    else if (RMODE == 1) up = rem[SA-1];
                    else up = rem[SA-1] && ((rem & ((1 << (SA-1)) - 1)) != 0 || q[0]);
                end else begin
                    q = x <<< (SHIFT < 0 ? -SHIFT : 0);
                    up = 0;
                end
                q1[e*XW +: XW] <= q;
                up1[e] <= up;
            end
        end
        if (en && v1) begin
            for (e = 0; e < E; e = e + 1) begin
                y = $signed(q1[e*XW +: XW]) + $signed({{(XW-1){1'b0}}, up1[e]});
                y2[e*YW +: YW] <= y[YW-1:0];
            end
        end
        if (en && v2) begin
            for (e = 0; e < E; e = e + 1) begin
                z = $signed(y2[e*YW +: YW]);
                if (z < LO) z = LO;
                if (z > HI) z = HI;
                out_data[e*OB +: OB] <= z[OB-1:0];
            end
        end
    end
endmodule
