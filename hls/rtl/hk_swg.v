// Sliding-window generator (im2col) for an H x W x C feature map streamed channels-last, SIMD
// channels per beat. Output per window position (OH x OW, row-major): KH*KW*C elements ordered
// (kh, kw, c), SIMD per beat; positions outside the image (padding) read PADV.
// Taps are DH rows and DW columns apart (dilation): tap (ky, kx) of window (oy, ox) reads map
// position (oy*SH + ky*DH - PT, ox*SW + kx*DW - PL).
// Two frame buffers (ping-pong) let the next image be written while the current one is read, so
// II = max(H*W*C, OH*OW*KH*KW*C) / SIMD cycles. The registered read maps to block RAM.
module hk_swg #(
    parameter H = 4, parameter W = 4, parameter C = 2, parameter SIMD = 1, parameter B = 2,
    parameter KH = 3, parameter KW = 3, parameter SH = 1, parameter SW = 1,
    parameter PT = 1, parameter PL = 1, parameter PB = 1, parameter PR = 1,
    parameter PADV = 0, parameter BLOCK = 1, parameter DH = 1, parameter DW = 1
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
    localparam FRAME = H * W * CF;
    localparam EH = (KH - 1) * DH + 1, EW = (KW - 1) * DW + 1;   // the window's span
    localparam OH = (H + PT + PB - EH) / SH + 1;
    localparam OW = (W + PL + PR - EW) / SW + 1;
    localparam AW = $clog2(2 * FRAME);
    localparam [B-1:0] PADW = PADV;
    // counters are signed and one bit wider than any coordinate so padding tests stay simple
    localparam CW = $clog2((H > W ? H : W) + PT + PL + PB + PR + EH + EW + CF + 2) + 2;

    (* ram_style = "block" *) reg [SIMD*B-1:0] mem [0:2*FRAME-1];
    reg [1:0] full;

    // ---- write side
    reg wb;
    reg [AW-1:0] wa;
    assign in_ready = !full[wb];
    wire wr = in_valid && in_ready;
    wire wr_last = wr && (wa == FRAME - 1);
    always @(posedge clk) begin
        if (wr) mem[(wb ? FRAME : 0) + wa] <= in_data;
        if (rst) begin
            wb <= 0; wa <= 0;
        end else if (wr) begin
            wa <= wr_last ? 0 : wa + 1'b1;
            if (wr_last) wb <= ~wb;
        end
    end

    // ---- read side: counters (oy, ox, ky, kx, cf)
    wire en = !out_valid || out_ready;
    reg rb;
    reg signed [CW-1:0] oy, ox, ky, kx, cf;
    wire signed [CW-1:0] iy = oy * SH + ky * DH - PT;
    wire signed [CW-1:0] ix = ox * SW + kx * DW - PL;
    wire pad = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    wire go = en && full[rb];
    wire l_cf = (cf == CF - 1), l_kx = (kx == KW - 1), l_ky = (ky == KH - 1);
    wire l_ox = (ox == OW - 1), l_oy = (oy == OH - 1);
    wire rd_last = go && l_cf && l_kx && l_ky && l_ox && l_oy;
    wire [AW-1:0] ra = (rb ? FRAME : 0) + ((iy * W + ix) * CF + cf);
    reg [SIMD*B-1:0] rd;
    reg v1, pad1;
    always @(posedge clk) begin
        if (go) rd <= mem[ra];
        if (rst) begin
            rb <= 0; oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0; v1 <= 0; out_valid <= 0;
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
                if (l_cf && l_kx && l_ky && l_ox) oy <= l_oy ? 0 : oy + 1;
                if (rd_last) rb <= ~rb;
            end
        end
    end

    // a bank is full from its last write until its last read
    integer i;
    always @(posedge clk) begin
        if (rst) full <= 0;
        else for (i = 0; i < 2; i = i + 1)
            if (wr_last && wb == i) full[i] <= 1'b1;
            else if (rd_last && rb == i) full[i] <= 1'b0;
    end
endmodule
