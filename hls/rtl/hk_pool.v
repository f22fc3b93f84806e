// Window reduction after a sliding-window generator: input per output pixel is K window positions x
// C channels (order k, c), SIMD channels per beat; output C channels, SIMD per beat.
// MODE 0: max (S = signed compare); MODE 1: floor(sum / 2**SHIFT) (average pooling as sum + Trunc).
module hk_pool #(
    parameter C = 2, parameter SIMD = 1, parameter K = 4,
    parameter B = 4, parameter S = 0,
    parameter MODE = 0, parameter SHIFT = 0, parameter OB = 4
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [SIMD*B-1:0]  in_data,
    input  wire               in_valid,
    output wire               in_ready,
    output reg  [SIMD*OB-1:0] out_data,
    output reg                out_valid,
    input  wire               out_ready
);
    localparam CF = C / SIMD;
    localparam AW = B + 1 + $clog2(K + 1);
    wire en = !out_valid || out_ready;
    assign in_ready = en;
    wire fire = in_valid && en;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    reg [$clog2(K > 1 ? K : 2)-1:0] k;
    reg [SIMD*AW-1:0] acc [0:CF-1];
    // CF > 1: the word the next beat updates is read a beat ahead into acc_q (that channel group was last
    // written CF beats ago, never in this beat), so the compare starts at a register: cf -> LUT RAM read ->
    // compare -> LUT RAM write in one cycle was CNV W2A2's longest path
    reg [SIMD*AW-1:0] acc_q;
    wire [$clog2(CF > 1 ? CF : 2)-1:0] cf_n = (cf == CF - 1) ? 0 : cf + 1'b1;
    wire [SIMD*AW-1:0] acc_rd = CF > 1 ? acc_q : acc[cf];
    integer s;
    reg signed [AW-1:0] a, x, r;
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; k <= 0; out_valid <= 0;
        end else if (en) begin
            out_valid <= in_valid && (k == K - 1);
            if (in_valid) begin
                cf <= cf_n;
                if (cf == CF - 1) k <= (k == K - 1) ? 0 : k + 1'b1;
            end
        end
        if (fire) begin
            for (s = 0; s < SIMD; s = s + 1) begin
                x = S ? $signed({{(AW-B){in_data[s*B+B-1]}}, in_data[s*B +: B]})
                      : $signed({{(AW-B){1'b0}}, in_data[s*B +: B]});
                a = acc_rd[s*AW +: AW];
                if (k == 0) r = x;
                else if (MODE == 0) r = (x > a) ? x : a;
                else r = a + x;
                acc[cf][s*AW +: AW] <= r;
                if (MODE == 0) out_data[s*OB +: OB] <= r[OB-1:0];
                else out_data[s*OB +: OB] <= (r >>> SHIFT);
            end
            acc_q <= acc[cf_n];
        end
    end
endmodule
