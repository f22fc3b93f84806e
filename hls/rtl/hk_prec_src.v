// Run-time precision of an any-precision core: passes the input stream through and, with the first
// beat of every sample (BEATS beats per sample), pushes the core's in_prec pin into N small tag FIFOs,
// one per precision-dependent block (hk_mvu_bp, hk_thresh_sel), which each pop one tag per sample. The
// first beat waits while any tag FIFO is full, so a block never sees a sample without its precision and
// samples of different precisions can follow each other back to back through the pipeline.
module hk_prec_src #(
    parameter W = 8, parameter BEATS = 4, parameter N = 1, parameter PB = 4, parameter DEPTH = 8
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [W-1:0]    in_data,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire [PB-1:0]   in_prec,
    output wire [W-1:0]    out_data,
    output wire            out_valid,
    input  wire            out_ready,
    output wire [N*PB-1:0] tag_data,
    output wire [N-1:0]    tag_valid,
    input  wire [N-1:0]    tag_ready
);
    localparam BW = $clog2(BEATS > 1 ? BEATS : 2);
    localparam DW = $clog2(DEPTH);
    reg [BW-1:0] beat;
    wire [N-1:0] room;
    wire first = (beat == 0);
    wire pass = !first || (&room);
    assign out_data = in_data;
    assign out_valid = in_valid && pass;
    assign in_ready = out_ready && pass;
    wire fire = in_valid && in_ready;
    wire push = fire && first;
    always @(posedge clk)
        if (rst) beat <= 0;
        else if (fire) beat <= (beat == BEATS - 1) ? 0 : beat + 1'b1;

    genvar t;
    generate
        for (t = 0; t < N; t = t + 1) begin : g_tag
            reg [PB-1:0] mem [0:DEPTH-1];
            reg [DW:0] count;
            reg [DW-1:0] rd, wr;
            wire pop = tag_valid[t] && tag_ready[t];
            assign room[t] = (count != DEPTH);
            assign tag_valid[t] = (count != 0);
            assign tag_data[t*PB +: PB] = mem[rd];
            always @(posedge clk) begin
                if (rst) begin
                    count <= 0; rd <= 0; wr <= 0;
                end else begin
                    if (push) begin
                        mem[wr] <= in_prec; wr <= wr + 1'b1;
                    end
                    if (pop) rd <= rd + 1'b1;
                    count <= count + push - pop;
                end
            end
        end
    endgenerate
endmodule
