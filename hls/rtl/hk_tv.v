// One quantized TV smoothing step on an H x W x C feature map streamed channels-last, E channels per beat
// (hwkit.kinds.tv). Per channel:
//   GX = X[i,j+1]-X[i,j], GY = X[i+1,j]-X[i,j] (zero outside), L = W0 - #{k: GX^2+GY^2 >= T[k]},
//   B = L*GX[i,j-1] - L*GX[i,j] + L*GY[i-1,j] - L*GY[i,j],
//   Y = clip(round_half_even(((X << XSH) - (B << BSH)) / 2**SH), YMIN, YMAX).
// Output (i,j) reads X at (i-1,j) (i-1,j+1) (i,j-1) (i,j) (i,j+1) (i+1,j-1) (i+1,j): it is computed when
// X[i+1,j] arrives, from a delay line of 2W pixels (the two line buffers) and the arriving beat. Row i = H-1
// is flushed by one extra row of zero beats, so the block takes one step a cycle and (H+1)*W*C/E cycles per
// map. Same valid/ready conventions as hk_swg/hk_vvu: registered output, in_ready independent of in_valid.
//
// The datapath is a pipeline of NS = 10 stages that moves together on en (backpressure freezes it, as in
// hk_vvu), one carry chain or one small table per stage so that it closes 100 MHz on ECP5:
//   1 gradients (edge masks applied) | 2 squares | 3 S = sum of squares | 4 S >= T[k] | 5 level L
//   6 products by L | 7 pairwise differences | 8 (X << XSH) - (B << BSH) | 9 half-even rounding | 10 clip.
// Edge masks: GX[i,j-1] is zeroed at j = 0 and GY[i-1,j] at i = 0, which zeroes their products whatever L.
module hk_tv_ge #(parameter SB = 8, parameter NT = 1, parameter TFILE = "t.mem") (
    input  wire [SB-1:0] s,
    output reg  [(NT > 0 ? NT : 1)-1:0] ge
);
    localparam N1 = NT > 0 ? NT : 1;
    reg [SB-1:0] thr [0:N1-1];
    initial $readmemh(TFILE, thr);
    integer k;
    always @* begin
        ge = 0;
        for (k = 0; k < NT; k = k + 1) ge[k] = (s >= thr[k]);
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
    output wire [E*YB-1:0]   out_data,
    output wire              out_valid,
    input  wire              out_ready
);
    localparam CF = C / E;
    localparam LEN = 2 * W * CF;            // words of the delay line (dl[0] = the previous beat)
    localparam PB = DB + LB + 1;            // a product GX * L
    localparam AW = NB + 2;                 // the sum before rounding
    localparam QB = 2 * DB;                 // a square
    localparam N1 = NT > 0 ? NT : 1;
    localparam NS = 10;

    // squares without $mul (synth_ecp5 would spend a MULT18X18D on each): a table of the 2**DB codes for
    // narrow gradients (LUT logic, no carry chain), shift-and-add for wide ones
    function [QB-1:0] square(input [DB-1:0] g);
        reg [QB-1:0] a;
        integer k;
        begin
            square = 0;
            if (DB <= 6) begin
                for (k = 0; k < (1 << DB); k = k + 1)
                    if (g == k) square = (k < (1 << (DB - 1)) ? k : (1 << DB) - k) * (k < (1 << (DB - 1)) ? k : (1 << DB) - k);
            end else begin
                a = g[DB-1] ? {{DB{1'b0}}, -g} : {{DB{1'b0}}, g};   // |g| < 2**(DB-1)
                for (k = 0; k < DB - 1; k = k + 1)
                    if (a[k]) square = square + (a << k);
            end
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
    // ascending thresholds make ge a thermometer code: its highest set bit k gives L = W0 - 1 - k, a
    // choice among constants (LUTs) instead of a chain of NT decrements
    function [LB-1:0] level(input [N1-1:0] ge);
        integer k;
        begin
            level = W0;
            for (k = 0; k < NT; k = k + 1) if (ge[k]) level = W0 - 1 - k;
        end
    endfunction

    reg [$clog2(H + 1 > 1 ? H + 1 : 2)-1:0] r;
    reg [$clog2(W > 1 ? W : 2)-1:0] col;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    reg [NS-1:0] v;                          // valid bit of each stage; v[NS-1] is out_valid
    wire flush = (r == H);
    wire emits = (r != 0);
    wire en = !out_valid || out_ready;
    assign out_valid = v[NS-1];
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
            wire signed [XB:0] z = 0;
            // stage registers; gradients at (i,j) [gx0 gy0], (i,j-1) [gx1 gy1], (i-1,j) [gx2 gy2]
            reg signed [XB:0] c1, c2, c3, c4, c5, c6, c7;
            reg signed [DB-1:0] gx0_1, gy0_1, gx1_1, gy1_1, gx2_1, gy2_1;
            reg signed [DB-1:0] gx0_2, gy0_2, gx1_2, gy2_2, gx0_3, gy0_3, gx1_3, gy2_3;
            reg signed [DB-1:0] gx0_4, gy0_4, gx1_4, gy2_4, gx0_5, gy0_5, gx1_5, gy2_5;
            reg [QB-1:0] sx0, sy0, sx1, sy1, sx2, sy2;
            reg [SB-1:0] s0, s1, s2;
            reg [N1-1:0] ge0, ge1, ge2;
            reg [LB-1:0] l0, l1, l2;
            reg signed [PB-1:0] p0, q0, p1, q2;
            reg signed [PB:0] dp, dq;
            reg signed [AW-1:0] n8, v9;
            reg [YB-1:0] yo;
            wire [QB:0] s0w = sx0 + sy0, s1w = sx1 + sy1, s2w = sx2 + sy2;
            wire [N1-1:0] ge0w, ge1w, ge2w;
            hk_tv_ge #(.SB(SB), .NT(NT), .TFILE(TFILE)) u_g0 (.s(s0), .ge(ge0w));
            hk_tv_ge #(.SB(SB), .NT(NT), .TFILE(TFILE)) u_g1 (.s(s1), .ge(ge1w));
            hk_tv_ge #(.SB(SB), .NT(NT), .TFILE(TFILE)) u_g2 (.s(s2), .ge(ge2w));
            wire signed [AW-1:0] xw = c7, bw = dp + dq;
            wire signed [AW-1:0] fl = n8 >>> SH;
            wire signed [AW-1:0] rounded;
            if (SH > 0) begin : g_round
                wire [SH:0] rem = {1'b0, n8[SH-1:0]};
                wire [SH:0] half = 1 << (SH - 1);
                assign rounded = fl + ((rem > half) || (rem == half && fl[0]));
            end else begin : g_exact
                assign rounded = n8;
            end
            wire signed [AW-1:0] lo = YMIN, hi = YMAX;
            always @(posedge clk) if (en) begin
                c1 <= xc;
                gx0_1 <= xr - xc; gy0_1 <= xd - xc;
                gx1_1 <= left ? z : xc - xl; gy1_1 <= xdl - xl;
                gx2_1 <= xur - xu; gy2_1 <= top ? z : xc - xu;
                c2 <= c1; gx0_2 <= gx0_1; gy0_2 <= gy0_1; gx1_2 <= gx1_1; gy2_2 <= gy2_1;
                sx0 <= square(gx0_1); sy0 <= square(gy0_1); sx1 <= square(gx1_1);
                sy1 <= square(gy1_1); sx2 <= square(gx2_1); sy2 <= square(gy2_1);
                c3 <= c2; gx0_3 <= gx0_2; gy0_3 <= gy0_2; gx1_3 <= gx1_2; gy2_3 <= gy2_2;
                s0 <= s0w[SB-1:0]; s1 <= s1w[SB-1:0]; s2 <= s2w[SB-1:0];
                c4 <= c3; gx0_4 <= gx0_3; gy0_4 <= gy0_3; gx1_4 <= gx1_3; gy2_4 <= gy2_3;
                ge0 <= ge0w; ge1 <= ge1w; ge2 <= ge2w;
                c5 <= c4; gx0_5 <= gx0_4; gy0_5 <= gy0_4; gx1_5 <= gx1_4; gy2_5 <= gy2_4;
                l0 <= level(ge0); l1 <= level(ge1); l2 <= level(ge2);
                c6 <= c5;
                p0 <= scale(gx0_5, l0); q0 <= scale(gy0_5, l0); p1 <= scale(gx1_5, l1); q2 <= scale(gy2_5, l2);
                c7 <= c6;
                dp <= p1 - p0; dq <= q2 - q0;
                n8 <= (xw <<< XSH) - (bw <<< BSH);
                v9 <= rounded;
                yo <= v9 < lo ? lo[YB-1:0] : (v9 > hi ? hi[YB-1:0] : v9[YB-1:0]);
            end
            assign out_data[e*YB +: YB] = yo;
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            r <= 0; col <= 0; cf <= 0; v <= 0;
        end else begin
            if (en) v <= {v[NS-2:0], step && emits};
            if (step) begin
                cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
                if (cf == CF - 1) begin
                    col <= right ? 0 : col + 1'b1;
                    if (right) r <= flush ? 0 : r + 1'b1;
                end
            end
        end
    end
endmodule
