// Multi-threshold activation with one table per run-time precision (any-precision networks): hk_thresh
// whose table memory holds P tables of CF words; a sample at precision PLIST[i] reads table i. The
// precision tag (prec_*) is taken with the sample's first beat (one tag per sample of C channels).
// PLIST packs the P precisions, PB bits each, entry i at bits [i*PB +: PB].
module hk_thresh_sel #(
    parameter C = 8, parameter PE = 2,
    parameter IB = 8, parameter IS = 1,
    parameter N = 3, parameter TB = 9,
    parameter OB = 2, parameter BASE = 0,
    parameter P = 3, parameter PB = 4, parameter PLIST = 12'h842,
    parameter TFILE = "t.mem", parameter BLOCK = 0
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [PE*IB-1:0]  in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output reg  [PE*OB-1:0]  out_data,
    output reg               out_valid,
    input  wire              out_ready,
    input  wire [PB-1:0]     prec_data,
    input  wire              prec_valid,
    output wire              prec_ready
);
    localparam CF = C / PE;
    localparam CW = $clog2(N + 1);
    localparam DEPTH = P * CF;
    localparam AW = $clog2(DEPTH > 1 ? DEPTH : 2);
    wire en = !out_valid || out_ready;

    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    reg [AW-1:0] base_addr;                    // this sample's table: index * CF
    wire need = (cf == 0);
    assign in_ready = en && (!need || prec_valid);
    wire fire = in_valid && in_ready;
    assign prec_ready = fire && need;
    reg [AW-1:0] tag_base;
    integer i;
    always @(*) begin
        tag_base = (P - 1) * CF;               // an unknown precision reads the last (widest) table
        for (i = P - 1; i >= 0; i = i - 1)
            if (PLIST[i*PB +: PB] == prec_data) tag_base = i * CF;
    end
    wire [AW-1:0] addr = (need ? tag_base : base_addr) + cf;

    reg [PE*IB-1:0] x1;
    reg v1;
    wire [PE*N*TB-1:0] t1;
    hk_rom #(.W(PE*N*TB), .DEPTH(DEPTH), .FILE(TFILE), .BLOCK(BLOCK)) u_rom (
        .clk(clk), .en(fire), .addr(addr), .data(t1));
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; v1 <= 0; base_addr <= 0;
        end else if (en) begin
            v1 <= fire;
            if (fire) begin
                cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
                if (need) base_addr <= tag_base;
            end
        end
        if (fire) x1 <= in_data;
    end

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
