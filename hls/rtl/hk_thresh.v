// Multi-threshold activation (FINN convention): y = BASE + #{k : x >= T[c][k]} for C channels,
// PE channels per beat. Thresholds are TB-bit two's complement (the backend clips them into the input
// range plus one so TB = IB + 1 suffices); the word at address cf holds T[cf*PE+p][k] at bits
// [(p*N+k)*TB +: TB]. Output elements are OB bits (two's complement if BASE < 0).
// Pipeline on one enable: accept + table read [-> read register] -> compare -> count into the output
// register (the last two in hk_thresh_cmp, which hk_thresh_sel shares). BLOCK=1 adds the read register:
// a block RAM's unregistered output (5.8 ns clock-to-out on ECP5) straight into the comparators' carry
// chains was the critical path of SFC W1A1; registered, the compare has a whole cycle. Every stage moves
// on the one enable, so the stream protocol and one beat per cycle are unchanged (one cycle more latency).
module hk_thresh #(
    parameter C = 8, parameter PE = 2,
    parameter IB = 8, parameter IS = 1,
    parameter N = 3, parameter TB = 9,
    parameter OB = 2, parameter BASE = 0,
    parameter TFILE = "t.mem", parameter BLOCK = 0
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [PE*IB-1:0]  in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output wire [PE*OB-1:0]  out_data,
    output wire              out_valid,
    input  wire              out_ready
);
    localparam CF = C / PE;
    wire en = !out_valid || out_ready;
    assign in_ready = en;
    wire fire = in_valid && en;

    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    reg [PE*IB-1:0] x1;
    reg v1;
    wire [PE*N*TB-1:0] t1;
    hk_rom #(.W(PE*N*TB), .DEPTH(CF), .FILE(TFILE), .BLOCK(BLOCK)) u_rom (
        .clk(clk), .en(fire), .addr(cf), .data(t1));
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; v1 <= 0;
        end else if (en) begin
            v1 <= in_valid;
            if (in_valid) cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
        end
        if (fire) x1 <= in_data;
    end

    wire [PE*N*TB-1:0] t1r;
    wire [PE*IB-1:0] x1r;
    wire v1r;
    generate
        if (BLOCK) begin : g_rreg
            // t1 holds between reads (the ROM reads on fire only), so taking it on every enable is exact
            reg [PE*N*TB-1:0] tq;
            reg [PE*IB-1:0] xq;
            reg vq;
            always @(posedge clk) begin
                if (rst) vq <= 0;
                else if (en) vq <= v1;
                if (en) begin tq <= t1; xq <= x1; end
            end
            assign t1r = tq; assign x1r = xq; assign v1r = vq;
        end else begin : g_noreg
            assign t1r = t1; assign x1r = x1; assign v1r = v1;
        end
    endgenerate

    hk_thresh_cmp #(.PE(PE), .IB(IB), .IS(IS), .N(N), .TB(TB), .OB(OB), .BASE(BASE)) u_cmp (
        .clk(clk), .rst(rst), .en(en), .v1(v1r), .x1(x1r), .t1(t1r), .out_data(out_data), .out_valid(out_valid));
endmodule

// The compare and count stages of hk_thresh and hk_thresh_sel: PE inputs x1 (valid v1) against their
// N thresholds each in t1 (the table word read with them), ge registered, then BASE + #{ge} into the
// output register. Moves on en, as the stage before it.
module hk_thresh_cmp #(
    parameter PE = 2, parameter IB = 8, parameter IS = 1,
    parameter N = 3, parameter TB = 9,
    parameter OB = 2, parameter BASE = 0
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              en,
    input  wire              v1,
    input  wire [PE*IB-1:0]  x1,
    input  wire [PE*N*TB-1:0] t1,
    output reg  [PE*OB-1:0]  out_data,
    output reg               out_valid
);
    localparam CW = $clog2(N + 1);
    reg [PE*N-1:0] ge2;
    reg v2;
    genvar p, k;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [IB-1:0] xe = x1[p*IB +: IB];
            wire signed [TB:0] xv = IS ? {{(TB+1-IB){xe[IB-1]}}, xe} : {{(TB+1-IB){1'b0}}, xe};
            for (k = 0; k < N; k = k + 1) begin : g_k
                wire signed [TB:0] tv = {t1[(p*N+k)*TB + TB-1], t1[(p*N+k)*TB +: TB]};
                always @(posedge clk) if (en) ge2[p*N+k] <= (xv >= tv);
            end
        end
    endgenerate
    integer q, j;
    reg [CW-1:0] cnt;
    always @(posedge clk) begin
        if (rst) begin
            v2 <= 0; out_valid <= 0;
        end else if (en) begin
            v2 <= v1; out_valid <= v2;
        end
        if (en && v2) begin
            for (q = 0; q < PE; q = q + 1) begin
                cnt = 0;
                for (j = 0; j < N; j = j + 1) cnt = cnt + ge2[q*N+j];
                out_data[q*OB +: OB] <= BASE + cnt;
            end
        end
    end
endmodule
