// Pipelined adder tree: sums N signed IW-bit values over LAT adder levels (LAT >= clog2(N); extra
// levels just delay), with a register after every K-th level counted from the output: ceil(LAT/K)
// register stages. K=1 keeps one short carry chain per stage; K=2 halves the registers where two
// additions fit one clock period (hk_mvu's row trees). Advances only when en is high.
module hk_addtree #(
    parameter N = 4,
    parameter IW = 4,
    parameter LAT = 2,
    parameter K = 1,
    parameter TOP = LAT   // the root's LAT: which levels register is counted from the output
) (
    input  wire                    clk,
    input  wire                    en,
    input  wire [N*IW-1:0]         in_data,
    output wire signed [IW+LAT-1:0] sum
);
    generate
        if (LAT == 0) begin : g_wire
            assign sum = in_data;
        end else begin : g_level
            wire signed [IW+LAT-1:0] comb;
            if (N == 1) begin : g_pass
                wire signed [IW+LAT-2:0] s1;
                hk_addtree #(.N(1), .IW(IW), .LAT(LAT-1), .K(K), .TOP(TOP)) u1 (
                    .clk(clk), .en(en), .in_data(in_data), .sum(s1));
                assign comb = s1;
            end else begin : g_node
                localparam N1 = (N + 1) / 2;
                localparam N2 = N - N1;
                wire signed [IW+LAT-2:0] s1, s2;
                hk_addtree #(.N(N1), .IW(IW), .LAT(LAT-1), .K(K), .TOP(TOP)) u1 (
                    .clk(clk), .en(en), .in_data(in_data[N1*IW-1:0]), .sum(s1));
                hk_addtree #(.N(N2), .IW(IW), .LAT(LAT-1), .K(K), .TOP(TOP)) u2 (
                    .clk(clk), .en(en), .in_data(in_data[N*IW-1:N1*IW]), .sum(s2));
                assign comb = s1 + s2;
            end
            if ((TOP - LAT) % K == 0) begin : g_reg
                reg signed [IW+LAT-1:0] r;
                always @(posedge clk) if (en) r <= comb;
                assign sum = r;
            end else begin : g_comb
                assign sum = comb;
            end
        end
    endgenerate
endmodule
