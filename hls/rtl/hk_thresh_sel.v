// Multi-threshold activation with one table per run-time precision (any-precision networks): hk_thresh
// whose table memory holds P tables of CF words; a sample at precision PLIST[i] reads table i. The
// precision tag (prec_*) is taken with the sample's first beat (one tag per sample of C channels).
// PLIST packs the P precisions, PB bits each, entry i at bits [i*PB +: PB]. The compare and count stages
// are hk_thresh_cmp (in hk_thresh.v, which every generated core includes).
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
    output wire [PE*OB-1:0]  out_data,
    output wire              out_valid,
    input  wire              out_ready,
    input  wire [PB-1:0]     prec_data,
    input  wire              prec_valid,
    output wire              prec_ready
);
    localparam CF = C / PE;
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

    hk_thresh_cmp #(.PE(PE), .IB(IB), .IS(IS), .N(N), .TB(TB), .OB(OB), .BASE(BASE)) u_cmp (
        .clk(clk), .rst(rst), .en(en), .v1(v1), .x1(x1), .t1(t1), .out_data(out_data), .out_valid(out_valid));
endmodule
