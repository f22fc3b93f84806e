// Sliding-window generator (im2col) for an H x W x C feature map streamed channels-last, SIMD
// channels per beat. Output per window position (OH x OW, row-major): KH*KW*C elements ordered
// (kh, kw, c), SIMD per beat; positions outside the image (padding) read PADV.
// Taps are DH rows and DW columns apart (dilation): tap (ky, kx) of window (oy, ox) reads map
// position (oy*SH + ky*DH - PT, ox*SW + kx*DW - PL).
//
// Memory: a circular buffer of ROWS image rows (W*C/SIMD words each; ROWS = 0 keeps two frames,
// 2*H rows). Image row g since reset is written in slot g mod ROWS; the writer writes while its slot
// is free (fewer than ROWS complete rows held). The reader starts a window row when every image row
// it needs in this frame is complete, and keeps the slot of its lowest needed row; rows below the
// next window row's lowest (all the frame's rows after its last window row) are released at the end
// of a window row, even rows not written yet (the writer then drops them into free slots: `held`
// goes negative). hwkit chooses ROWS (hwkit.kinds.sliding_window.line_rows, which says why) so that
// II = max(H*W*C, OH*OW*KH*KW*C) / SIMD cycles, as with two frames. The registered read maps to block RAM.
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

    (* ram_style = "block" *) reg [SIMD*B-1:0] mem [0:DEPTH-1];
    reg signed [CW-1:0] held;     // complete rows not released (negative: released before written)

    // ---- write side: word wx of slot ws
    reg [XW-1:0] wx;
    reg signed [CW-1:0] ws;
    assign in_ready = held < R;
    wire wr = in_valid && in_ready;
    wire wr_row = wr && (wx == RW - 1);
    always @(posedge clk) begin
        if (wr) mem[ws * RW + wx] <= in_data;
        if (rst) begin
            wx <= 0; ws <= 0;
        end else if (wr) begin
            wx <= wr_row ? 0 : wx + 1'b1;
            if (wr_row) ws <= (ws == R - 1) ? 0 : ws + 1;
        end
    end

    // ---- read side: counters (oy, ox, ky, kx, cf); y0 = oy*SH - PT, the window row's top map row
    wire en = !out_valid || out_ready;
    reg signed [CW-1:0] oy, ox, ky, kx, cf, y0, rs;   // rs: the slot of row lo
    wire signed [CW-1:0] lo = y0 < 0 ? 0 : (y0 > H ? H : y0);               // lowest row needed
    wire signed [CW-1:0] y1 = y0 + EH - 1;
    wire signed [CW-1:0] hi = y1 < 0 ? -1 : (y1 > H - 1 ? H - 1 : y1);      // highest row needed
    wire rows_in = held >= hi - lo + 1;
    wire signed [CW-1:0] iy = y0 + ky * DH;
    wire signed [CW-1:0] ix = ox * SW + kx * DW - PL;
    wire pad = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    wire signed [CW-1:0] s0 = rs + iy - lo;
    wire signed [CW-1:0] slot = s0 >= R ? s0 - R : s0;
    wire go = en && rows_in;
    wire l_cf = (cf == CF - 1), l_kx = (kx == KW - 1), l_ky = (ky == KH - 1);
    wire l_ox = (ox == OW - 1), l_oy = (oy == OH - 1);
    wire row_end = go && l_cf && l_kx && l_ky && l_ox;
    wire signed [CW-1:0] y0n = y0 + SH;
    wire signed [CW-1:0] lon = y0n < 0 ? 0 : (y0n > H ? H : y0n);
    // rows released at the end of this window row: up to the next one's lowest, or the whole frame
    wire signed [CW-1:0] rel = !row_end ? 0 : (l_oy ? H - lo : lon - lo);
    wire signed [CW-1:0] rs1 = rs + rel;
    wire [AW-1:0] ra = slot * RW + ix * CF + cf;
    reg [SIMD*B-1:0] rd;
    reg v1, pad1;
    always @(posedge clk) begin
        if (go) rd <= mem[ra];
        if (rst) begin
            oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0; y0 <= -PT; rs <= 0;
            v1 <= 0; out_valid <= 0;
        end else if (en) begin
            v1 <= go;
            pad1 <= pad;
            out_valid <= v1;
            if (v1) out_data <= pad1 ? {SIMD{PADW}} : rd;
            if (go) begin
                cf <= l_cf ? 0 : cf + 1;
                if (l_cf) kx <= l_kx ? 0 : kx + 1;
                if (l_cf && l_kx) ky <= l_ky ? 0 : ky + 1;
                if (l_cf && l_kx && l_ky) ox <= l_ox ? 0 : ox + 1;
                if (row_end) begin
                    oy <= l_oy ? 0 : oy + 1;
                    y0 <= l_oy ? -PT : y0n;
                    rs <= rs1 >= R ? rs1 - R : rs1;
                end
            end
        end
    end

    always @(posedge clk)
        if (rst) held <= 0;
        else held <= held + $signed({{(CW-1){1'b0}}, wr_row}) - rel;
endmodule
