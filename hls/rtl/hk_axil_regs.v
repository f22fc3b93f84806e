// AXI4-Lite status registers of the AXI4-Stream wrapper (32-bit, byte addresses, read-only except
// ERRORS, where writing 1 to a bit clears it). Map (also in hls/rtl/README.md):
//   0x00 ID 0x48574B31 ("HWK1")   0x04 MODEL_HASH   0x08 II_CYCLES   0x0C LATENCY (measured cycles)
//   0x10 IN_SAMPLES   0x14 OUT_SAMPLES   0x18 ERRORS (bit 0: input TLAST framing error)
//   0x1C ELEMS {out elements, in elements}   0x20 BITS {out signed, out bits, in signed, in bits}
// One write and one read in flight, no bursts: all AXI4-Lite needs; responses always OKAY.
`default_nettype none
module hk_axil_regs #(
    parameter [31:0] MODEL_HASH = 32'h0,
    parameter integer II_CYCLES = 1,
    parameter integer IN_ELEMS  = 1,
    parameter integer OUT_ELEMS = 1,
    parameter integer IN_BITS   = 8,
    parameter integer IN_SIGNED = 0,
    parameter integer OUT_BITS  = 8,
    parameter integer OUT_SIGNED = 0
) (
    input  wire        aclk,
    input  wire        aresetn,
    input  wire [5:0]  s_axil_awaddr,
    input  wire        s_axil_awvalid,
    output wire        s_axil_awready,
    input  wire [31:0] s_axil_wdata,
    input  wire [3:0]  s_axil_wstrb,
    input  wire        s_axil_wvalid,
    output wire        s_axil_wready,
    output wire [1:0]  s_axil_bresp,
    output reg         s_axil_bvalid,
    input  wire        s_axil_bready,
    input  wire [5:0]  s_axil_araddr,
    input  wire        s_axil_arvalid,
    output wire        s_axil_arready,
    output reg  [31:0] s_axil_rdata,
    output wire [1:0]  s_axil_rresp,
    output reg         s_axil_rvalid,
    input  wire        s_axil_rready,
    input  wire        framing_error,
    input  wire [31:0] in_samples,
    input  wire [31:0] out_samples,
    input  wire [31:0] latency,
    output reg         err_clear
);
    // address and data are taken together, so the write needs no holding registers
    wire wr = s_axil_awvalid && s_axil_wvalid && !s_axil_bvalid;
    assign s_axil_awready = wr;
    assign s_axil_wready  = wr;
    assign s_axil_bresp   = 2'b00;
    assign s_axil_arready = !s_axil_rvalid;
    assign s_axil_rresp   = 2'b00;

    reg [31:0] rd;
    always @(*) begin
        case (s_axil_araddr[5:2])
        4'h0: rd = 32'h48574B31;
        4'h1: rd = MODEL_HASH;
        4'h2: rd = II_CYCLES;
        4'h3: rd = latency;
        4'h4: rd = in_samples;
        4'h5: rd = out_samples;
        4'h6: rd = {31'd0, framing_error};
        4'h7: rd = {OUT_ELEMS[15:0], IN_ELEMS[15:0]};
        4'h8: rd = {7'd0, OUT_SIGNED[0], OUT_BITS[7:0], 7'd0, IN_SIGNED[0], IN_BITS[7:0]};
        default: rd = 32'd0;
        endcase
    end

    always @(posedge aclk) begin
        if (!aresetn) begin
            s_axil_bvalid <= 1'b0; s_axil_rvalid <= 1'b0; s_axil_rdata <= 32'd0; err_clear <= 1'b0;
        end else begin
            err_clear <= wr && s_axil_awaddr[5:2] == 4'h6 && s_axil_wstrb[0] && s_axil_wdata[0];
            if (wr) s_axil_bvalid <= 1'b1;
            else if (s_axil_bready) s_axil_bvalid <= 1'b0;
            if (s_axil_arvalid && !s_axil_rvalid) begin
                s_axil_rvalid <= 1'b1;
                s_axil_rdata  <= rd;
            end else if (s_axil_rready) s_axil_rvalid <= 1'b0;
        end
    end
endmodule
`default_nettype wire
