// One quantized TV smoothing step on an H x W x C feature map streamed channels-last, E channels per beat
// (hwkit.kinds.tv). Per channel:
//   GX = X[i,j+1]-X[i,j], GY = X[i+1,j]-X[i,j] (zero outside), L = W0 - #{k: GX^2+GY^2 >= T[k]},
//   B = L*GX[i,j-1] - L*GX[i,j] + L*GY[i-1,j] - L*GY[i,j],
//   Y = clip(round_half_even(((X << XSH) - (B << BSH)) / 2**SH), YMIN, YMAX).
// Output (i,j) reads X at (i-1,j) (i-1,j+1) (i,j-1) (i,j) (i,j+1) (i+1,j-1) (i+1,j): it is computed when
// X[i+1,j] arrives, from a delay line of 2W pixels (the two line buffers) and the arriving beat. Row i = H-1
// is flushed by one extra row of zero beats, so the block takes one step a cycle and (H+1)*W*C/E cycles per
// map. Same valid/ready conventions as hk_swg/hk_vvu: registered output, in_ready independent of in_valid.
module hk_tv_level #(parameter SB = 8, parameter LB = 3, parameter NT = 1, parameter W0 = 1,
                     parameter TFILE = "t.mem") (
    input  wire [SB-1:0] s,
    output reg  [LB-1:0] l
);
    reg [SB-1:0] thr [0:(NT > 0 ? NT : 1)-1];
    initial $readmemh(TFILE, thr);
    integer k;
    always @* begin
        l = W0;
        for (k = 0; k < NT; k = k + 1)
            if (s >= thr[k]) l = l - 1'b1;
    end
endmodule

module hk_tv #(
    parameter H = 4, parameter W = 4, parameter C = 2, parameter E = 1,
    parameter XB = 4, parameter XS = 1, parameter YB = 4, parameter YMIN = -8, parameter YMAX = 7,
    parameter DB = 6, parameter SB = 9, parameter LB = 3, parameter NB = 16,
    parameter NT = 1, parameter W0 = 1, parameter XSH = 0, parameter BSH = 0, parameter SH = 0,
    parameter TFILE = "t.mem"
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [E*XB-1:0]   in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output reg  [E*YB-1:0]   out_data,
    output reg               out_valid,
    input  wire              out_ready
);
    localparam CF = C / E;
    localparam LEN = 2 * W * CF;            // words of the delay line (dl[0] = the previous beat)
    localparam PB = DB + LB + 1;            // a product GX * L
    localparam AW = NB + 2;                 // the sum before rounding

    // products as shift-and-add (no $mul): the operands are a few bits, and synth_ecp5 would otherwise
    // spend one MULT18X18D on each of the 10 small products per lane
    function [2*DB-1:0] square(input [DB-1:0] g);
        reg [2*DB-1:0] a;
        integer k;
        begin
            a = g[DB-1] ? {{DB{1'b0}}, -g} : {{DB{1'b0}}, g};   // |g| < 2**(DB-1)
            square = 0;
            for (k = 0; k < DB - 1; k = k + 1)
                if (a[k]) square = square + (a << k);
        end
    endfunction
    function [PB-1:0] scale(input [DB-1:0] g, input [LB-1:0] l);   // g * l, two's complement
        reg [PB-1:0] a;
        integer k;
        begin
            a = {{(PB - DB){g[DB-1]}}, g};
            scale = 0;
            for (k = 0; k < LB; k = k + 1)
                if (l[k]) scale = scale + (a << k);
        end
    endfunction

    reg [$clog2(H + 1 > 1 ? H + 1 : 2)-1:0] r;
    reg [$clog2(W > 1 ? W : 2)-1:0] col;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    wire flush = (r == H);
    wire emits = (r != 0);
    wire en = !out_valid || out_ready;
    assign in_ready = !flush && (!emits || en);
    wire step = (flush || in_valid) && (!emits || en);
    wire [E*XB-1:0] cur = flush ? {E*XB{1'b0}} : in_data;

    reg [E*XB-1:0] dl [0:LEN-1];
    integer t;
    always @(posedge clk) if (step) begin
        dl[0] <= cur;
        for (t = 1; t < LEN; t = t + 1) dl[t] <= dl[t - 1];
    end

    // which neighbours lie outside the map (i = r - 1, j = col)
    wire top = (r == 1), left = (col == 0), right = (col == W - 1);
    wire [E*XB-1:0] w_d = cur, w_dl = dl[CF - 1], w_c = dl[W * CF - 1], w_l = dl[(W + 1) * CF - 1];
    wire [E*XB-1:0] w_u = dl[2 * W * CF - 1];
    wire [E*XB-1:0] w_r, w_ur;
    generate
        if (W > 1) begin : g_right
            assign w_r = dl[(W - 1) * CF - 1];
            assign w_ur = dl[(2 * W - 1) * CF - 1];
        end else begin : g_narrow
            assign w_r = 0;
            assign w_ur = 0;
        end
    endgenerate

    wire [E*YB-1:0] y;
    genvar e;
    generate
        for (e = 0; e < E; e = e + 1) begin : g_lane
            // the seven taps, sign- or zero-extended
            wire [XB-1:0] rd = w_d[e*XB +: XB], rdl = w_dl[e*XB +: XB], rc = w_c[e*XB +: XB];
            wire [XB-1:0] rl = w_l[e*XB +: XB], ru = w_u[e*XB +: XB], rr = w_r[e*XB +: XB], rur = w_ur[e*XB +: XB];
            wire signed [XB:0] xd = {XS ? rd[XB-1] : 1'b0, rd}, xdl = {XS ? rdl[XB-1] : 1'b0, rdl};
            wire signed [XB:0] xc = {XS ? rc[XB-1] : 1'b0, rc}, xl = {XS ? rl[XB-1] : 1'b0, rl};
            wire signed [XB:0] xu = {XS ? ru[XB-1] : 1'b0, ru};
            wire signed [XB:0] xr = right ? 0 : {XS ? rr[XB-1] : 1'b0, rr};
            wire signed [XB:0] xur = right ? 0 : {XS ? rur[XB-1] : 1'b0, rur};
            // gradients at (i,j), (i,j-1) and (i-1,j)
            wire signed [DB-1:0] gx0 = xr - xc, gy0 = xd - xc;
            wire signed [DB-1:0] gx1 = xc - xl, gy1 = xdl - xl;
            wire signed [DB-1:0] gx2 = xur - xu, gy2 = xc - xu;
            wire [2*DB:0] s0 = square(gx0) + square(gy0), s1 = square(gx1) + square(gy1);
            wire [2*DB:0] s2 = square(gx2) + square(gy2);
            wire [LB-1:0] l0, l1, l2;
            hk_tv_level #(.SB(SB), .LB(LB), .NT(NT), .W0(W0), .TFILE(TFILE)) u_l0 (.s(s0[SB-1:0]), .l(l0));
            hk_tv_level #(.SB(SB), .LB(LB), .NT(NT), .W0(W0), .TFILE(TFILE)) u_l1 (.s(s1[SB-1:0]), .l(l1));
            hk_tv_level #(.SB(SB), .LB(LB), .NT(NT), .W0(W0), .TFILE(TFILE)) u_l2 (.s(s2[SB-1:0]), .l(l2));
            wire signed [PB-1:0] p0 = scale(gx0, l0), q0 = scale(gy0, l0);
            wire signed [PB-1:0] p1 = left ? 0 : scale(gx1, l1);     // L*GX[i,j-1], zero at the left edge
            wire signed [PB-1:0] q2 = top ? 0 : scale(gy2, l2);      // L*GY[i-1,j], zero at the top edge
            wire signed [AW-1:0] b = p1 - p0 + q2 - q0;
            wire signed [AW-1:0] xw = xc;
            wire signed [AW-1:0] n = (xw <<< XSH) - (b <<< BSH);
            wire signed [AW-1:0] fl = n >>> SH;
            wire signed [AW-1:0] v;
            if (SH > 0) begin : g_round
                wire [SH:0] rem = {1'b0, n[SH-1:0]};
                wire [SH:0] half = 1 << (SH - 1);
                wire up = (rem > half) || (rem == half && fl[0]);
                assign v = fl + up;
            end else begin : g_exact
                assign v = n;
            end
            wire signed [AW-1:0] lo = YMIN, hi = YMAX;
            wire signed [AW-1:0] vc = v < lo ? lo : (v > hi ? hi : v);
            assign y[e*YB +: YB] = vc[YB-1:0];
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            r <= 0; col <= 0; cf <= 0; out_valid <= 0;
        end else begin
            if (step && emits) out_valid <= 1'b1;
            else if (out_ready) out_valid <= 1'b0;
            if (step) begin
                cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
                if (cf == CF - 1) begin
                    col <= right ? 0 : col + 1'b1;
                    if (right) r <= flush ? 0 : r + 1'b1;
                end
            end
        end
        if (step && emits) out_data <= y;
    end
endmodule
