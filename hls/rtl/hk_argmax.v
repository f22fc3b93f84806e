// Index of the largest of C channels per pixel (FINN's LabelSelect with k = 1), E channels per beat,
// C/E beats per pixel; one OB-bit index per pixel leaves with the pixel's last beat. Ties go to the
// lowest index (numpy argmax, ONNX ArgMax select_last_index=0): only a strictly larger value replaces
// the running best. S = 1 compares signed values (a bipolar stream's bits order as unsigned).
module hk_argmax #(
    parameter C = 4, parameter E = 1,
    parameter B = 4, parameter S = 1,
    parameter OB = 2
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [E*B-1:0]    in_data,
    input  wire              in_valid,
    output wire              in_ready,
    output reg  [OB-1:0]     out_data,
    output reg               out_valid,
    input  wire              out_ready
);
    localparam CF = C / E;
    localparam IW = $clog2(C > 1 ? C : 2);
    wire en = !out_valid || out_ready;
    assign in_ready = en;
    wire fire = in_valid && en;
    reg [$clog2(CF > 1 ? CF : 2)-1:0] cf;
    reg [IW-1:0] base;                     // channel index of lane 0 of this beat
    reg signed [B:0] best, v, m;
    reg [IW-1:0] besti, mi;
    integer e;
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; base <= 0; out_valid <= 0;
        end else if (en) begin
            out_valid <= in_valid && (cf == CF - 1);
            if (in_valid) begin
                cf <= (cf == CF - 1) ? 0 : cf + 1'b1;
                base <= (cf == CF - 1) ? 0 : base + E;
            end
        end
        if (fire) begin
            m = S ? $signed({in_data[B-1], in_data[B-1:0]}) : $signed({1'b0, in_data[B-1:0]});
            mi = base;
            for (e = 1; e < E; e = e + 1) begin
                v = S ? $signed({in_data[e*B+B-1], in_data[e*B +: B]}) : $signed({1'b0, in_data[e*B +: B]});
                if (v > m) begin
                    m = v; mi = base + e;
                end
            end
            if (cf != 0 && !(m > best)) begin
                m = best; mi = besti;
            end
            best <= m;
            besti <= mi;
            out_data <= mi;
        end
    end
endmodule
