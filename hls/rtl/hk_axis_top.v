// hwkit_core behind AXI4-Stream. One core beat = one AXI4-Stream transfer, so the wrapper adds no
// latency and keeps the core's II: TDATA carries the core beat's elements packed densely
// (element k in bits [k*BITS +: BITS], two's complement) and zero-padded up to whole bytes.
// TLAST marks the last transfer of each output sample. The input's TLAST is only checked against
// the beat count (the core frames samples by counting beats): a mismatch sets the sticky
// framing-error flag, cleared by err_clear. Status counters feed the optional AXI4-Lite block.
`default_nettype none
module hk_axis_top #(
    parameter integer IN_W      = 64,   // core input beat width (elements x bits)
    parameter integer IN_BEATS  = 8,    // core beats per input sample
    parameter integer OUT_W     = 40,
    parameter integer OUT_BEATS = 2
) (
    input  wire                          aclk,
    input  wire                          aresetn,   // synchronous, active low (AXI convention)
    input  wire [((IN_W + 7) / 8) * 8-1:0]  s_axis_tdata,
    input  wire                          s_axis_tvalid,
    output wire                          s_axis_tready,
    input  wire                          s_axis_tlast,
    output wire [((OUT_W + 7) / 8) * 8-1:0] m_axis_tdata,
    output wire                          m_axis_tvalid,
    input  wire                          m_axis_tready,
    output wire                          m_axis_tlast,
    input  wire                          err_clear,
    output reg                           framing_error,
    output reg  [31:0]                   in_samples,
    output reg  [31:0]                   out_samples,
    output reg  [31:0]                   latency      // first input beat -> last output beat, cycles
);
    localparam integer OUT_TW = ((OUT_W + 7) / 8) * 8;
    wire rst = !aresetn;
    wire [OUT_W-1:0] core_out;

    hwkit_core u_core (
        .clk(aclk), .rst(rst),
        .in_data(s_axis_tdata[IN_W-1:0]), .in_valid(s_axis_tvalid), .in_ready(s_axis_tready),
        .out_data(core_out), .out_valid(m_axis_tvalid), .out_ready(m_axis_tready));

    generate
        if (OUT_TW > OUT_W) begin : g_pad
            assign m_axis_tdata = {{(OUT_TW - OUT_W){1'b0}}, core_out};
        end else begin : g_nopad
            assign m_axis_tdata = core_out;
        end
    endgenerate

    reg [$clog2(IN_BEATS + 1)-1:0]  ib;
    reg [$clog2(OUT_BEATS + 1)-1:0] ob;
    wire in_fire   = s_axis_tvalid && s_axis_tready;
    wire out_fire  = m_axis_tvalid && m_axis_tready;
    wire in_last   = (ib == IN_BEATS - 1);
    assign m_axis_tlast = (ob == OUT_BEATS - 1);

    // Latency of one sample at a time: the next sample starting while none is being timed.
    reg        timing;
    reg [31:0] lat_cnt, lat_idx;

    always @(posedge aclk) begin
        if (rst) begin
            ib <= 0; ob <= 0; framing_error <= 1'b0; in_samples <= 0; out_samples <= 0;
            latency <= 0; timing <= 1'b0; lat_cnt <= 0; lat_idx <= 0;
        end else begin
            if (err_clear) framing_error <= 1'b0;
            if (in_fire) begin
                if (s_axis_tlast != in_last) framing_error <= 1'b1;
                if (in_last) begin ib <= 0; in_samples <= in_samples + 1'b1; end
                else ib <= ib + 1'b1;
            end
            if (out_fire) begin
                if (m_axis_tlast) begin ob <= 0; out_samples <= out_samples + 1'b1; end
                else ob <= ob + 1'b1;
            end
            if (timing) lat_cnt <= lat_cnt + 1'b1;
            if (in_fire && ib == 0 && !timing) begin
                timing <= 1'b1; lat_cnt <= 1; lat_idx <= in_samples;
            end
            if (timing && out_fire && m_axis_tlast && out_samples == lat_idx) begin
                timing <= 1'b0; latency <= lat_cnt + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
