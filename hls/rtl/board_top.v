// hwkit board wrapper: the accelerator `hwkit_core` behind a UART. Bytes from the host are framed
// into samples (hls/rtl/UART_PROTOCOL.md), buffered whole in a FIFO, packed into input beats;
// output beats are cut into little-endian bytes and sent back. Reset comes from a power-on counter
// or the board button. Parameters must match the core's core.json; hwkit/implement sets them.
`default_nettype none
module board_top #(
    parameter integer CLK_HZ         = 25000000,
    parameter integer BAUD           = 115200,
    parameter integer IN_BITS        = 8,     // bits of one input element
    parameter integer IN_SIGNED      = 0,
    parameter integer IN_EPB         = 1,     // input elements per beat (lane 0 in the LSBs)
    parameter integer IN_BEATS       = 64,    // input beats per sample
    parameter integer OUT_BITS       = 8,
    parameter integer OUT_SIGNED     = 0,
    parameter integer OUT_EPB        = 1,
    parameter integer OUT_BEATS      = 10,
    parameter integer FIFO_AW        = 0,     // log2 of the sample FIFO bytes; 0 = room for 2 samples
    parameter integer RESYNC_BITS    = 200,   // a silence this long (in bit times) aborts a frame
    parameter integer POR_BITS       = 16,    // power-on reset lasts 2^POR_BITS clocks
    parameter integer BTN_ACTIVE_LOW = 1,
    parameter integer LED_ACTIVE_LOW = 0
) (
    input  wire       clk,
    input  wire       btn,        // reset button
    input  wire       uart_rx,    // host -> FPGA
    output wire       uart_tx,    // FPGA -> host
    output wire [1:0] led         // [0] heartbeat, [1] protocol error since the last info request
);
    localparam integer CPB      = (CLK_HZ + BAUD / 2) / BAUD;
    localparam integer IN_W     = IN_BITS * IN_EPB;
    localparam integer OUT_W    = OUT_BITS * OUT_EPB;
    localparam integer IBPE     = (IN_BITS + 7) / 8;      // bytes per input element
    localparam integer OBPE     = (OUT_BITS + 7) / 8;     // bytes per output element
    localparam integer IN_ELEMS = IN_EPB * IN_BEATS;
    localparam integer OUT_ELEMS = OUT_EPB * OUT_BEATS;
    localparam integer FRAME    = IN_ELEMS * IBPE;        // payload bytes of one sample
    localparam integer AW       = FIFO_AW > 0 ? FIFO_AW : $clog2(FRAME) + 1;
    localparam integer DEPTH    = 1 << AW;
    localparam integer WINDOW   = DEPTH / FRAME > 255 ? 255 : DEPTH / FRAME;
    localparam integer RESYNC   = RESYNC_BITS * CPB;
    localparam integer INFO_LEN = 11;
    localparam [7:0] CMD_SAMPLE = 8'h01, CMD_INFO = 8'h02;

    // ---------------- reset: power-on counter OR button (synchronized) ----------------
    reg [POR_BITS-1:0] por = {POR_BITS{1'b0}};
    reg btn_m = 1'b0, btn_s = 1'b0;
    always @(posedge clk) begin
        btn_m <= BTN_ACTIVE_LOW ? ~btn : btn;
        btn_s <= btn_m;
        if (btn_s) por <= {POR_BITS{1'b0}};
        else if (~&por) por <= por + 1'b1;
    end
    // registered: the reset fans out to every block of the core, and a 16-input AND in front of that
    // fanout was the design's critical path
    reg rst = 1'b1;
    always @(posedge clk) rst <= ~&por;

    // ---------------- UART ----------------
    wire [7:0] rx_data;
    wire       rx_valid, rx_ferr;
    uart_rx #(.CLKS_PER_BIT(CPB)) u_rx (
        .clk(clk), .rst(rst), .rx(uart_rx), .data(rx_data), .valid(rx_valid), .frame_err(rx_ferr));

    reg  [7:0] tx_data;
    reg        tx_valid;
    wire       tx_ready;
    uart_tx #(.CLKS_PER_BIT(CPB)) u_tx (
        .clk(clk), .rst(rst), .data(tx_data), .valid(tx_valid), .ready(tx_ready), .tx(uart_tx));

    // ---------------- frame receiver -> sample FIFO ----------------
    // A frame's bytes become visible to the reader only when the frame is complete (wr_commit), so
    // an aborted frame never reaches the core and the core's sample boundaries stay aligned.
    // no_rw_check: a byte is used only when read below wr_commit, and a write lands at wr_ptr with
    // wr_ptr - rd_ptr < DEPTH, never on that byte; without it yosys puts a write bypass after the RAM
    (* no_rw_check *) reg  [7:0]  mem [0:DEPTH-1];
    reg  [AW:0] wr_ptr, wr_commit, rd_ptr;
    reg         in_frame;
    reg  [$clog2(FRAME+1)-1:0]  fcnt;
    reg  [$clog2(RESYNC+1)-1:0] idle;
    reg  [2:0]  err;            // sticky {overflow, timeout, framing}
    reg         info_pending;
    wire [AW:0] used = wr_ptr - rd_ptr;
    wire        full = used[AW];
    wire        we   = rx_valid && in_frame && !full;

    always @(posedge clk)
        if (we) mem[wr_ptr[AW-1:0]] <= rx_data;

    reg  info_start;            // from the TX side: info response begins (clears err)
    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= 0; wr_commit <= 0; in_frame <= 1'b0; fcnt <= 0; idle <= 0;
            err <= 3'b000; info_pending <= 1'b0;
        end else begin
            if (info_start) begin
                info_pending <= 1'b0;
                err <= 3'b000;
            end
            if (rx_ferr) begin
                err[0] <= 1'b1;
                if (in_frame) begin in_frame <= 1'b0; wr_ptr <= wr_commit; end
            end else if (rx_valid) begin
                idle <= 0;
                if (!in_frame) begin
                    if (rx_data == CMD_SAMPLE) begin in_frame <= 1'b1; fcnt <= 0; end
                    else if (rx_data == CMD_INFO) info_pending <= 1'b1;
                end else if (full) begin
                    err[2] <= 1'b1;               // host exceeded the window: drop the frame
                    in_frame <= 1'b0;
                    wr_ptr <= wr_commit;
                end else begin
                    wr_ptr <= wr_ptr + 1'b1;
                    if (fcnt == FRAME - 1) begin
                        in_frame <= 1'b0;
                        wr_commit <= wr_ptr + 1'b1;
                    end else fcnt <= fcnt + 1'b1;
                end
            end else if (in_frame) begin
                if (idle == RESYNC - 1) begin
                    err[1] <= 1'b1;
                    in_frame <= 1'b0;
                    wr_ptr <= wr_commit;
                    idle <= 0;
                end else idle <= idle + 1'b1;
            end
        end
    end

    // ---------------- FIFO -> input beats ----------------
    // One read in flight at a time (a byte every 3 clocks is far above any UART rate) keeps the
    // synchronous-read RAM simple enough to map to block RAM.
    reg  [7:0]        rdata, rdata2;
    reg               rd_pend, rd_pend2;
    reg  [IN_W-1:0]   beat;
    reg               beat_full;
    reg  [IBPE*8-1:0] ebuf;
    reg  [$clog2(IBPE+1)-1:0]   bi;
    reg  [$clog2(IN_EPB+1)-1:0] li;
    wire              in_ready;
    wire              issue = (wr_commit != rd_ptr) && !beat_full && !rd_pend && !rd_pend2;
    wire [IBPE*8-1:0] ebuf_next = {rdata2, ebuf} >> 8;           // little-endian bytes
    wire [IN_W-1:0]   beat_next = {ebuf_next[IN_BITS-1:0], beat} >> IN_BITS;  // lane 0 lowest

    // read every cycle: the byte is used only two cycles after an issue, and rd_ptr holds until the next
    // one, so no enable (a compare of two pointers routed to the block RAM) is needed. rdata2, a plain copy,
    // becomes the block's output register (hwkit.implement.bram_outreg): the RAM's slow clock-to-out then
    // drives no logic
    always @(posedge clk) begin
        rdata <= mem[rd_ptr[AW-1:0]];
        rdata2 <= rdata;
    end

    always @(posedge clk) begin
        if (rst) begin
            rd_ptr <= 0; rd_pend <= 1'b0; rd_pend2 <= 1'b0; beat_full <= 1'b0; bi <= 0; li <= 0;
            beat <= 0; ebuf <= 0;
        end else begin
            rd_pend <= issue;
            rd_pend2 <= rd_pend;
            if (issue) rd_ptr <= rd_ptr + 1'b1;
            if (beat_full && in_ready) beat_full <= 1'b0;
            if (rd_pend2) begin
                ebuf <= ebuf_next;
                if (bi == IBPE - 1) begin
                    bi <= 0;
                    beat <= beat_next;
                    if (li == IN_EPB - 1) begin li <= 0; beat_full <= 1'b1; end
                    else li <= li + 1'b1;
                end else bi <= bi + 1'b1;
            end
        end
    end

    // ---------------- the accelerator ----------------
    wire [OUT_W-1:0] out_data;
    wire             out_valid;
    reg              ohave;
    hwkit_core u_core (
        .clk(clk), .rst(rst),
        .in_data(beat), .in_valid(beat_full), .in_ready(in_ready),
        .out_data(out_data), .out_valid(out_valid), .out_ready(!ohave));

    // ---------------- output beats -> bytes ----------------
    reg  [OUT_W-1:0]  obeat;
    reg  [$clog2(OUT_EPB+1)-1:0] olane;
    reg  [OBPE*8-1:0] obytes;
    reg  [$clog2(OBPE+1)-1:0]    obi;
    reg               osending;
    wire [OUT_BITS-1:0] oelem = obeat[OUT_BITS-1:0];
    wire              osign = (OUT_SIGNED != 0) && oelem[OUT_BITS-1];
    wire [OBPE*8+OUT_BITS-1:0] owide = {{(OBPE*8){osign}}, oelem};   // sign-extend to whole bytes
    wire [OUT_W+OUT_BITS-1:0]  oshift = {{OUT_BITS{1'b0}}, obeat} >> OUT_BITS;

    reg               info_active;
    reg  [3:0]        info_idx;
    reg  [2:0]        info_err;
    reg  [7:0]        info_byte;
    always @(*) begin
        case (info_idx)
        4'd0: info_byte = 8'h48;                                   // 'H'
        4'd1: info_byte = 8'h57;                                   // 'W'
        4'd2: info_byte = 8'd1;                                    // protocol version
        4'd3: info_byte = (IN_SIGNED != 0 ? 8'h80 : 8'h00) | IN_BITS % 128;
        4'd4: info_byte = (OUT_SIGNED != 0 ? 8'h80 : 8'h00) | OUT_BITS % 128;
        4'd5: info_byte = IN_ELEMS % 256;
        4'd6: info_byte = IN_ELEMS / 256 % 256;
        4'd7: info_byte = OUT_ELEMS % 256;
        4'd8: info_byte = OUT_ELEMS / 256 % 256;
        4'd9: info_byte = WINDOW % 256;
        default: info_byte = {5'd0, info_err};
        endcase
    end

    always @(*) begin
        info_start = info_pending && !info_active && !osending;
        tx_valid   = info_active || osending;
        tx_data    = info_active ? info_byte : obytes[7:0];
    end

    always @(posedge clk) begin
        if (rst) begin
            ohave <= 1'b0; olane <= 0; obeat <= 0; obytes <= 0; obi <= 0; osending <= 1'b0;
            info_active <= 1'b0; info_idx <= 0; info_err <= 3'b000;
        end else begin
            if (out_valid && !ohave) begin
                obeat <= out_data;
                ohave <= 1'b1;
            end else if (ohave && !osending) begin
                obytes   <= owide[OBPE*8-1:0];
                osending <= 1'b1;
                obi      <= 0;
                obeat    <= oshift[OUT_W-1:0];
                if (olane == OUT_EPB - 1) begin olane <= 0; ohave <= 1'b0; end
                else olane <= olane + 1'b1;
            end
            if (info_start) begin
                info_active <= 1'b1;
                info_idx <= 0;
                info_err <= err;
            end else if (info_active) begin
                if (tx_ready) begin
                    if (info_idx == INFO_LEN - 1) info_active <= 1'b0;
                    info_idx <= info_idx + 1'b1;
                end
            end else if (osending && tx_ready) begin
                obytes <= obytes >> 8;
                if (obi == OBPE - 1) osending <= 1'b0;
                else obi <= obi + 1'b1;
            end
        end
    end

    // ---------------- LEDs ----------------
    reg [24:0] hb = 25'd0;
    always @(posedge clk) hb <= hb + 1'b1;
    wire [1:0] led_on = {|err, hb[24]};
    assign led = LED_ACTIVE_LOW ? ~led_on : led_on;
endmodule
`default_nettype wire
