// Stream width converter between EI and EO elements of B bits per beat, where one divides the
// other (the backend chains two through their gcd otherwise). Element order is preserved: the first
// element received is the lowest one sent.
module hk_dwc #(
    parameter B = 2, parameter EI = 2, parameter EO = 4
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [EI*B-1:0]  in_data,
    input  wire             in_valid,
    output wire             in_ready,
    output wire [EO*B-1:0]  out_data,
    output wire             out_valid,
    input  wire             out_ready
);
    generate
        if (EI == EO) begin : g_same
            assign out_data = in_data;
            assign out_valid = in_valid;
            assign in_ready = out_ready;
        end else if (EO > EI) begin : g_up
            localparam K = EO / EI;
            reg [EO*B-1:0] buf_q;
            reg [$clog2(K+1)-1:0] n;
            reg full;
            assign out_data = buf_q;
            assign out_valid = full;
            assign in_ready = !full || out_ready;
            always @(posedge clk) begin
                if (rst) begin
                    n <= 0; full <= 0;
                end else begin
                    if (full && out_ready) full <= 0;
                    if (in_valid && in_ready) begin
                        buf_q[n*EI*B +: EI*B] <= in_data;
                        if (n == K - 1) begin
                            n <= 0; full <= 1;
                        end else n <= n + 1'b1;
                    end
                end
            end
        end else begin : g_down
            localparam K = EI / EO;
            reg [EI*B-1:0] buf_q;
            reg [$clog2(K+1)-1:0] n;
            reg full;
            // the slot to send is kept in its own register, loaded a beat ahead, so no counter ->
            // multiplexer path runs into the next block's input in the same cycle
            reg [EO*B-1:0] o;
            wire take = !full || n == K - 1;                 // the only states a new word can come in
            wire [$clog2(K+1)-1:0] n1 = n + 1'b1;
            always @(posedge clk)
                if ((in_valid && in_ready) || (full && out_ready))
                    o <= take ? in_data[EO*B-1:0] : buf_q[n1*EO*B +: EO*B];
            assign out_data = o;
            assign out_valid = full;
            assign in_ready = !full || (out_ready && n == K - 1);
            always @(posedge clk) begin
                if (rst) begin
                    n <= 0; full <= 0;
                end else begin
                    if (full && out_ready) begin
                        if (n == K - 1) begin
                            n <= 0; full <= 0;
                        end else n <= n + 1'b1;
                    end
                    if (in_valid && in_ready) begin
                        buf_q <= in_data; full <= 1;
                    end
                end
            end
        end
    endgenerate
endmodule
