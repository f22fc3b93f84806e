// Sliding-window generator (im2col) for an H x W x C feature map streamed channels-last, SIMD
// channels per beat. Output per window position (OH x OW, row-major): KH*KW*C elements ordered
// (kh, kw, c), SIMD per beat; positions outside the image (padding) read PADV.
// Taps are DH rows and DW columns apart (dilation): tap (ky, kx) of window (oy, ox) reads map
// position (oy*SH + ky*DH - PT, ox*SW + kx*DW - PL).
//
// Memory: a circular buffer of ROWS image rows (W*C/SIMD words each; ROWS = 0 keeps two frames,
// 2*H rows). Image row g since reset is written in slot g mod ROWS; the writer writes while its slot
// is free (fewer than ROWS complete rows held). The reader starts a window row when every image row
// it needs in this frame is complete; rows below the next window row's lowest (all the frame's rows
// after its last window row) are released at the end of a window row, even rows not written yet (the
// writer then drops them into free slots: `held` goes negative). hwkit chooses ROWS
// (hwkit.kinds.sliding_window.line_rows, which says why) so that II = max(H*W*C, OH*OW*KH*KW*C) / SIMD
// cycles, as with two frames. The registered read maps to block RAM.
module hk_swg #(
    parameter H = 4, parameter W = 4, parameter C = 2, parameter SIMD = 1, parameter B = 2,
    parameter KH = 3, parameter KW = 3, parameter SH = 1, parameter SW = 1,
    parameter PT = 1, parameter PL = 1, parameter PB = 1, parameter PR = 1,
    parameter PADV = 0, parameter DH = 1, parameter DW = 1, parameter ROWS = 0
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [SIMD*B-1:0]  in_data,
    input  wire               in_valid,
    output wire               in_ready,
    output reg  [SIMD*B-1:0]  out_data,
    output reg                out_valid,
    input  wire               out_ready
);
    localparam CF = C / SIMD;
    localparam RW = W * CF;                          // words per image row
    localparam R = ROWS > 0 ? ROWS : 2 * H;
    localparam DEPTH = R * RW;
    localparam EH = (KH - 1) * DH + 1, EW = (KW - 1) * DW + 1;   // the window's span
    localparam OH = (H + PT + PB - EH) / SH + 1;
    localparam OW = (W + PL + PR - EW) / SW + 1;
    localparam AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    localparam XW = RW > 1 ? $clog2(RW) : 1;
    localparam [B-1:0] PADW = PADV;
    // counters are signed and one bit wider than any coordinate or row count so tests stay simple
    localparam CW = $clog2((H > W ? H : W) + R + PT + PL + PB + PR + EH + EW + SH + CF + 2) + 2;

    // no_rw_check: a tap reads only rows held (written in full, not released) and the writer only fills a
    // free slot, so a read never wants the word written in the same cycle; without it yosys puts a
    // write-data bypass multiplexer after the block RAM (checked in simulation below)
    (* ram_style = "block", no_rw_check *) reg [SIMD*B-1:0] mem [0:DEPTH-1];
    // R - 1 - held, held = complete rows not released (negative: released before written). The writer may
    // go while fr >= 0 (held < R), so in_ready is fr's sign bit, a register, not a compare after an adder
    reg signed [CW-1:0] fr;
    // held minus the rows the current window row needs: the reader may go while it is >= 0. Kept as its own
    // register so that `go` waits on one sign bit, not on a compare of two registers (that compare, through
    // `go` and back into `held`, was the longest path of CNV's generators)
    reg signed [CW-1:0] slack;

    // ---- write side: one address walks the buffer row after row (image row g fills slot g mod R)
    reg [XW-1:0] wx;
    reg [AW-1:0] wa;
    wire room = !fr[CW-1];
    assign in_ready = room;
    wire wr = in_valid && in_ready;
    wire wr_row = wr && (wx == RW - 1);
    always @(posedge clk) begin
        if (wr) mem[wa] <= in_data;
        if (rst) begin
            wx <= 0; wa <= 0;
        end else if (wr) begin
            wx <= wr_row ? 0 : wx + 1'b1;
            wa <= (wa == DEPTH - 1) ? 0 : wa + 1'b1;
        end
    end

    // ---- read side: counters (ky, kx, cf) and the tap's running coordinates and address terms, each
    // stepped by a constant, so the read address is one add of registers (products of counters made the
    // longest path). y0 = oy*SH - PT is the window row's top map row; iy = y0 + ky*DH, ix0 = ox*SW - PL,
    // ix = ix0 + kx*DW. Row iy of the frame lies in slot (F + iy) mod R, F = the frame's first image row
    // since reset; rb = that slot * RW and ca = ix * CF + cf (mod 2^AW: only a tap inside the map uses
    // the word it reads, and for those the sum is exact).
    localparam YL = (OH - 1) * SH - PT, XL = (OW - 1) * SW - PL;   // the last window row's y0, column's ix0
    localparam DHS = (DH % R) * RW, SHS = (SH % R) * RW;          // rb steps: next tap row, next window row
    localparam FRS = (((H - YL - PT) % R) + R) % R * RW;         // last window row -> the next frame's first
    localparam [AW-1:0] RB0 = ((-PT % R) + R) % R * RW;          // row -PT of the first frame
    localparam [AW-1:0] CA0 = -PL * CF, CKX = DW * CF - CF + 1, COX = SW * CF;
    localparam FW = CF > 1 ? $clog2(CF) : 1;
    localparam KCW = (KH > KW ? KH : KW) > 1 ? $clog2(KH > KW ? KH : KW) : 1;

    // rows y+a .. y+a+e-1 that lie in the map (e >= 0): clamp(y+a+e, 0, H) - clamp(y+a, 0, H), chosen by
    // comparing y with constants, so that no clamp feeds a subtraction (that chain limited the clock)
    function signed [CW-1:0] span(input signed [CW-1:0] y, input integer a, input integer e);
        if (y <= -a - e || y >= H - a) span = 0;
        else if (y < -a) span = y > H - a - e ? H : y + a + e;
        else span = y > H - a - e ? H - a - y : e;
    endfunction
    // window row y+a (its top map row) needs its EH rows in the map, and releases at its end the rows below
    // the next window row's top, or (the last) the frame's rest
    function signed [CW-1:0] need_of(input signed [CW-1:0] y, input integer a);
        need_of = span(y, a, EH);
    endfunction
    function signed [CW-1:0] rel_of(input signed [CW-1:0] y, input integer a);
        rel_of = y == YL - a ? span(y, a, H + PT + 1) : span(y, a, SH);
    endfunction
    localparam signed [CW-1:0] NXT0 = OH > 1 ? need_of(-PT, SH) : need_of(-PT, 0);   // the frame's second row
    localparam signed [CW-1:0] DN0 = rel_of(-PT, 0) + NXT0 - need_of(-PT, 0);
    function [AW-1:0] step(input [AW-1:0] a, input integer d);   // (a + d) mod DEPTH, a < DEPTH, d < DEPTH
        step = a >= DEPTH - d ? a + d - DEPTH : a + d;
    endfunction

    wire en = !out_valid || out_ready;
    reg [FW-1:0] cf;
    reg [KCW-1:0] ky, kx;
    // rel_r: rel_of(y0, 0); nxt: the next window row's need; dn: how much slack drops at this row's end
    // (rel_r + nxt - this row's need), so that the end of a row moves slack by one register
    reg signed [CW-1:0] y0, iy, ix0, ix, rel_r, rel1, nxt, dn, dn1;   // rel1 = rel_r - 1, dn1 = dn - 1
    reg [AW-1:0] rb0, rb, ca0, ca;                       // rb0, ca0: rb at iy = y0, ca at ix = ix0 (cf 0)
    wire [AW-1:0] ra = rb + ca;
    wire rows_in = !slack[CW-1];
    wire pad = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    wire go = en && rows_in;
`ifdef VERILATOR
    always @(posedge clk) if (!rst && go && !pad && wr && ra == wa) $fatal(1, "hk_swg: a tap read the word being written");
`endif
    wire l_cf = (cf == CF - 1), l_kx = (kx == KW - 1), l_ky = (ky == KH - 1);
    wire l_ox = (ix0 == XL), l_oy = (y0 == YL);
    wire row_end = go && l_cf && l_kx && l_ky && l_ox;
    wire signed [CW-1:0] y0n = l_oy ? -PT : y0 + SH;
    wire signed [CW-1:0] ix0n = l_ox ? -PL : ix0 + SW;
    wire [AW-1:0] ca0n = l_ox ? CA0 : ca0 + COX;
    wire [AW-1:0] rb0n = l_oy ? step(rb0, FRS) : step(rb0, SHS);
    // at a row's end, for the window row after it (y0n) and the one after that
    wire signed [CW-1:0] rel_n = l_oy ? rel_of(-PT, 0) : rel_of(y0, SH);
    wire signed [CW-1:0] nxt_n = l_oy ? NXT0 : (y0 == YL - SH ? need_of(-PT, 0) : need_of(y0, 2 * SH));
    // y0 and l_oy hold for the whole window row, so where a row is more than one beat these two are taken
    // from registers at its end (y0 -> span -> the sums for dn was the longest path once `go` was short)
    localparam RBEATS = OW * KH * KW * CF;
    reg signed [CW-1:0] rel_q, nxt_q;
    always @(posedge clk) begin
        rel_q <= rel_n; nxt_q <= nxt_n;
    end
    wire signed [CW-1:0] rel_u = RBEATS > 1 ? rel_q : rel_n, nxt_u = RBEATS > 1 ? nxt_q : nxt_n;
    wire signed [CW-1:0] dn_n = rel_u + nxt_u - nxt;   // the next row's dn (its need is nxt now)
    // the block RAM's read word goes into a plain register first (rd2, which the placer keeps beside the
    // RAM) and only then through the padding select: a DP16KD's 5.8 ns clock-to-out plus the route to the
    // consumer left no time for logic
    reg [SIMD*B-1:0] rd, rd2;
    reg v1, pad1, v2, pad2;
    always @(posedge clk) begin
        if (go) rd <= mem[ra];
        if (rst) begin
            ky <= 0; kx <= 0; cf <= 0; y0 <= -PT; iy <= -PT; ix0 <= -PL; ix <= -PL;
            rel_r <= rel_of(-PT, 0); rel1 <= rel_of(-PT, 0) - 1; nxt <= NXT0; dn <= DN0; dn1 <= DN0 - 1; rb0 <= RB0; rb <= RB0; ca0 <= CA0; ca <= CA0;
            v1 <= 0; v2 <= 0; out_valid <= 0;
        end else if (en) begin
            v1 <= go;
            pad1 <= pad;
            v2 <= v1;
            pad2 <= pad1;
            if (v1) rd2 <= rd;
            out_valid <= v2;
            if (v2) out_data <= pad2 ? {SIMD{PADW}} : rd2;
            if (go) begin
                cf <= l_cf ? 0 : cf + 1'b1;
                ca <= ca + 1'b1;
                if (l_cf) begin
                    kx <= l_kx ? 0 : kx + 1'b1;
                    ix <= ix + DW; ca <= ca + CKX;
                end
                if (l_cf && l_kx) begin
                    ky <= l_ky ? 0 : ky + 1'b1;
                    iy <= iy + DH; rb <= step(rb, DHS);
                    ix <= ix0; ca <= ca0;
                end
                if (l_cf && l_kx && l_ky) begin
                    iy <= y0; rb <= rb0;
                    ix0 <= ix0n; ix <= ix0n; ca0 <= ca0n; ca <= ca0n;
                end
                if (row_end) begin
                    y0 <= y0n; iy <= y0n; rb0 <= rb0n; rb <= rb0n;
                    rel_r <= rel_u; rel1 <= rel_u - 1; nxt <= nxt_u; dn <= dn_n; dn1 <= dn_n - 1;
                end
            end
        end
    end

    // every sum is one adder of registers (a row written picks dn1 over dn rather than adding 1) and
    // `row_end` only picks one, so `go` meets no adder
    wire signed [CW-1:0] w1 = {{(CW-1){1'b0}}, wr_row};
    // (fr's four next values are summed side by side, so wr_row only picks one)
    wire signed [CW-1:0] fr_dec = fr - 1, fr_rel = fr + rel_r, fr_rel1 = fr + rel1;
    wire signed [CW-1:0] fr_on = wr_row ? fr_dec : fr, fr_end = wr_row ? fr_rel1 : fr_rel;
    wire signed [CW-1:0] slack_on = slack + w1, slack_end = slack - (wr_row ? dn1 : dn);
    always @(posedge clk)
        if (rst) begin
            fr <= R - 1; slack <= -need_of(-PT, 0);
        end else begin
            fr <= row_end ? fr_end : fr_on;
            slack <= row_end ? slack_end : slack_on;
        end
endmodule
