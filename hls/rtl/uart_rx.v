// UART receiver, 8N1, LSB first. The line idles high; a byte is a low start bit, 8 data bits, a high
// stop bit. Sampling happens in the middle of each bit so a clock/baud mismatch of a few percent
// still decodes. Part of hwkit's board wrapper (see hls/rtl/UART_PROTOCOL.md).
`default_nettype none
module uart_rx #(
    parameter integer CLKS_PER_BIT = 217   // round(f_clk / baud); >= 4
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,          // serial line from the host (idle high)
    output reg  [7:0] data,
    output reg        valid,       // one-cycle pulse with each received byte
    output reg        frame_err    // one-cycle pulse: stop bit was low (byte dropped)
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    localparam [1:0] IDLE = 2'd0, START = 2'd1, DATA = 2'd2, STOP = 2'd3;

    // Two flops: the line is asynchronous to clk (metastability guard). Reset to idle-high.
    reg rx_m, rx_s;
    always @(posedge clk) begin
        if (rst) begin
            rx_m <= 1'b1;
            rx_s <= 1'b1;
        end else begin
            rx_m <= rx;
            rx_s <= rx_m;
        end
    end

    reg [1:0]    state;
    reg [CW-1:0] cnt;
    reg [2:0]    bitn;
    reg [7:0]    shift;

    always @(posedge clk) begin
        valid     <= 1'b0;
        frame_err <= 1'b0;
        if (rst) begin
            state <= IDLE;
            cnt   <= 0;
            bitn  <= 0;
            shift <= 8'd0;
            data  <= 8'd0;
        end else begin
            case (state)
            IDLE: if (!rx_s) begin
                state <= START;
                cnt   <= CLKS_PER_BIT / 2 - 1;   // to the middle of the start bit
            end
            START: if (cnt == 0) begin
                if (rx_s) state <= IDLE;          // a glitch, not a start bit
                else begin
                    state <= DATA;
                    cnt   <= CLKS_PER_BIT - 1;
                    bitn  <= 0;
                end
            end else cnt <= cnt - 1'b1;
            DATA: if (cnt == 0) begin
                shift <= {rx_s, shift[7:1]};
                cnt   <= CLKS_PER_BIT - 1;
                bitn  <= bitn + 1'b1;
                if (bitn == 3'd7) state <= STOP;
            end else cnt <= cnt - 1'b1;
            STOP: if (cnt == 0) begin
                // Back to IDLE in mid stop bit: leaves half a bit of slack for a fast sender.
                state <= IDLE;
                if (rx_s) begin
                    data  <= shift;
                    valid <= 1'b1;
                end else frame_err <= 1'b1;
            end else cnt <= cnt - 1'b1;
            endcase
        end
    end
endmodule
`default_nettype wire
