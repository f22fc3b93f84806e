// Stream FIFO. in_ready and out_valid come from registers only, so a FIFO between two blocks cuts
// every combinational ready/valid path: the top can chain blocks without long handshake paths.
// BLOCK = 0: storage read asynchronously (registers or LUT RAM), which suits the small depths between
// layers. BLOCK = 1 (hwkit sets it where the memory maps to block RAM): an asynchronous read would leave
// the block RAM's output unregistered and put out_ready into its read address, the critical path of
// block-RAM-heavy designs; instead words are read ahead, through two registers, into a ring of four
// registers (a read is issued while fewer than four words are read and not taken, so out_ready only
// moves counters), and out_data is one of those registers. It holds DEPTH + 4 words; a word takes 4
// cycles through an empty FIFO instead of 1; a full rate stream keeps its rate.
module hk_fifo #(
    parameter W = 8,
    parameter DEPTH = 2,
    parameter BLOCK = 0
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] in_data,
    input  wire         in_valid,
    output wire         in_ready,
    output wire [W-1:0] out_data,
    output wire         out_valid,
    input  wire         out_ready
);
    localparam AW = (DEPTH < 2) ? 1 : $clog2(DEPTH);
    reg [AW-1:0] wp, rp;
    reg [AW:0]   count;          // words in the memory
    // count != DEPTH and count != 0, kept as registers: a compare of the count in front of in_ready
    // started the longest ready chains of CNV (count -> in_ready -> converter -> threshold enables)
    reg not_full, not_empty;
    wire wr = in_valid && in_ready;
    wire rd;                     // a word leaves the memory
    wire [AW:0] count_n = count + (wr ? 1'b1 : 1'b0) - (rd ? 1'b1 : 1'b0);
    assign in_ready = not_full;
    always @(posedge clk) begin
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0; not_full <= 1'b1; not_empty <= 1'b0;
        end else begin
            if (wr) wp <= (wp == DEPTH - 1) ? 0 : wp + 1'b1;
            if (rd) rp <= (rp == DEPTH - 1) ? 0 : rp + 1'b1;
            count <= count_n;
            not_full <= (count_n != DEPTH);
            not_empty <= (count_n != 0);
        end
    end
    wire take = out_valid && out_ready;
    generate if (BLOCK) begin : g_block
        (* ram_style = "block", no_rw_check *) reg [W-1:0] mem [0:DEPTH-1];
        // the block RAM's read register, then a plain register the placer can keep beside the RAM: the
        // RAM's slow clock-to-out (ECP5 DP16KD: 5.8 ns) then only drives a short wire
        reg [W-1:0] rdata, rdata2;
        reg         arrive, arrive2;     // rdata / rdata2 hold a word read one / two cycles ago
        reg [2:0]   ahead;               // words read and not taken (in flight or queued)
        (* ram_style = "logic" *) reg [W-1:0] q [0:3];   // a ring of four registers
        reg [1:0]   qw, qr;
        reg [2:0]   queued;              // ahead less the words in flight, kept so out_valid is one compare
        assign rd = not_empty && (ahead != 4);
        assign out_valid = (queued != 0);
        assign out_data = q[qr];
        always @(posedge clk) begin
            if (wr) mem[wp] <= in_data;
            if (rd) rdata <= mem[rp];
            rdata2 <= rdata;
            if (arrive2) q[qw] <= rdata2;
            if (rst) begin
                arrive <= 0; arrive2 <= 0; ahead <= 0; qw <= 0; qr <= 0; queued <= 0;
            end else begin
                arrive <= rd;
                arrive2 <= arrive;
                if (arrive2) qw <= qw + 1'b1;
                if (take) qr <= qr + 1'b1;
                ahead <= ahead + (rd ? 1'b1 : 1'b0) - (take ? 1'b1 : 1'b0);
                queued <= queued + (arrive2 ? 1'b1 : 1'b0) - (take ? 1'b1 : 1'b0);
            end
        end
    end else begin : g_async
        reg [W-1:0] mem [0:DEPTH-1];
        assign rd = take;
        assign out_valid = not_empty;
        assign out_data = mem[rp];
        always @(posedge clk)
            if (wr) mem[wp] <= in_data;
    end endgenerate
`ifdef HWKIT_FIFO_PROBE
    // simulation only (hwkit.backends.rtl.fifos): the most words this FIFO ever held
    wire [AW+1:0] held;
    generate if (BLOCK) begin : g_held
        assign held = count + g_block.ahead;
    end else begin : g_held
        assign held = {1'b0, count};
    end endgenerate
    reg [AW+1:0] peak;
    always @(posedge clk) begin
        if (rst) peak <= 0;
        else if (held > peak) peak <= held;
    end
    final $display("HWKIT_FIFO %m %0d %0d %0d", W, DEPTH, peak);
`endif
endmodule
