// Pipelined adder tree: sums N signed IW-bit values in LAT = clog2(N) register stages (one adder
// level per stage keeps the critical path to one short carry chain). Advances only when en is high.
module hk_addtree #(
    parameter N = 4,
    parameter IW = 4,
    parameter LAT = 2   // must be >= clog2(N); extra stages just delay
) (
    input  wire                    clk,
    input  wire                    en,
    input  wire [N*IW-1:0]         in_data,
    output wire signed [IW+LAT-1:0] sum
);
    generate
        if (N == 1) begin : g_leaf
            if (LAT == 0) begin : g_wire
                assign sum = in_data;
            end else begin : g_delay
                reg signed [IW+LAT-1:0] d [0:LAT-1];
                integer i;
                always @(posedge clk) if (en) begin
                    d[0] <= $signed(in_data[IW-1:0]);
                    for (i = 1; i < LAT; i = i + 1) d[i] <= d[i-1];
                end
                assign sum = d[LAT-1];
            end
        end else begin : g_node
            localparam N1 = (N + 1) / 2;
            localparam N2 = N - N1;
            wire signed [IW+LAT-2:0] s1, s2;
            hk_addtree #(.N(N1), .IW(IW), .LAT(LAT-1)) u1 (.clk(clk), .en(en), .in_data(in_data[N1*IW-1:0]), .sum(s1));
            hk_addtree #(.N(N2), .IW(IW), .LAT(LAT-1)) u2 (.clk(clk), .en(en), .in_data(in_data[N*IW-1:N1*IW]), .sum(s2));
            reg signed [IW+LAT-1:0] r;
            always @(posedge clk) if (en) r <= s1 + s2;
            assign sum = r;
        end
    endgenerate
endmodule
