// Nearest-neighbour upsampling of an H x W x C feature map streamed channels-last, E channels per beat:
// output (H*SH) x (W*SW) x C, each pixel repeated SW times along a row and each row SH times. Two row
// buffers (ping-pong): a row is written while the previous one is read SH times, so the block emits one
// beat a cycle (II = H*SH*W*SW*C/E) when its input keeps up. The registered read suits LUT or block RAM.
module hk_upsample #(
    parameter H = 4, parameter W = 4, parameter C = 2, parameter E = 1, parameter B = 4,
    parameter SH = 2, parameter SW = 2
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [E*B-1:0]    in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output reg  [E*B-1:0]    out_data,
    output reg               out_valid,
    input  wire              out_ready
);
    localparam CF = C / E;
    localparam ROW = W * CF;
    localparam AW = $clog2(2 * ROW > 1 ? 2 * ROW : 2);
    reg [E*B-1:0] mem [0:2*ROW-1];
    reg [1:0] full;

    // ---- write side: one input row into bank wb
    reg wb;
    reg [AW-1:0] wa;
    assign in_ready = !full[wb];
    wire wr = in_valid && in_ready;
    wire wr_last = wr && (wa == ROW - 1);
    always @(posedge clk) begin
        if (wr) mem[(wb ? ROW : 0) + wa] <= in_data;
        if (rst) begin
            wb <= 0; wa <= 0;
        end else if (wr) begin
            wa <= wr_last ? 0 : wa + 1'b1;
            if (wr_last) wb <= ~wb;
        end
    end

    // ---- read side: counters (ry, x, sx, cf), cf fastest
    wire en = !out_valid || out_ready;
    reg rb;
    reg [$clog2(SH > 1 ? SH : 2)-1:0] ry;
    reg [$clog2(W > 1 ? W : 2)-1:0] x;
    reg [$clog2(SW > 1 ? SW : 2)-1:0] sx;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    wire go = en && full[rb];
    wire l_cf = (cf == CF - 1), l_sx = (sx == SW - 1), l_x = (x == W - 1), l_ry = (ry == SH - 1);
    wire rd_last = go && l_cf && l_sx && l_x && l_ry;
    wire [AW-1:0] ra = (rb ? ROW : 0) + x * CF + cf;
    reg [E*B-1:0] rd;
    reg v1;
    always @(posedge clk) begin
        if (go) rd <= mem[ra];
        if (rst) begin
            rb <= 0; ry <= 0; x <= 0; sx <= 0; cf <= 0; v1 <= 0; out_valid <= 0;
        end else if (en) begin
            v1 <= go;
            out_valid <= v1;
            if (v1) out_data <= rd;
            if (go) begin
                cf <= l_cf ? 0 : cf + 1'b1;
                if (l_cf) sx <= l_sx ? 0 : sx + 1'b1;
                if (l_cf && l_sx) x <= l_x ? 0 : x + 1'b1;
                if (l_cf && l_sx && l_x) ry <= l_ry ? 0 : ry + 1'b1;
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
