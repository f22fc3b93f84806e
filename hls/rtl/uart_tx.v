// UART transmitter, 8N1, LSB first, with a valid/ready byte input (ready while idle).
// Part of hwkit's board wrapper (see hls/rtl/UART_PROTOCOL.md).
`default_nettype none
module uart_tx #(
    parameter integer CLKS_PER_BIT = 217   // round(f_clk / baud)
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output reg        tx           // serial line to the host (idle high)
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);

    reg [CW-1:0] cnt;
    reg [3:0]    left;     // bits still to send including the current one; 0 = idle
    reg [8:0]    shift;    // {stop, data}; the start bit is driven on load

    assign ready = (left == 0);

    always @(posedge clk) begin
        if (rst) begin
            tx    <= 1'b1;
            cnt   <= 0;
            left  <= 0;
            shift <= 9'h1ff;
        end else if (left == 0) begin
            if (valid) begin
                tx    <= 1'b0;                 // start bit
                shift <= {1'b1, data};
                cnt   <= CLKS_PER_BIT - 1;
                left  <= 4'd10;
            end
        end else if (cnt == 0) begin
            left <= left - 1'b1;
            cnt  <= CLKS_PER_BIT - 1;
            if (left != 1) begin
                tx    <= shift[0];
                shift <= {1'b1, shift[8:1]};
            end
        end else cnt <= cnt - 1'b1;
    end
endmodule
`default_nettype wire
