// Vector-vector unit (depthwise convolution, FINN's VVAU): acc[c] = sum_t W[c,t] * x[t,c] + bias[c]
// per window of T taps over C channels, PE channels per cycle, T*C/PE cycles per window.
//
// Input beats come from hk_swg with SIMD=PE, window order (tap, channel): beat (t, cf) carries
// channels cf*PE .. cf*PE+PE-1 of tap t (element p at bits [p*XB +: XB]). The channels of one tap are
// spread over CF = C/PE beats, so the unit keeps CF words of PE accumulators (registers/LUT RAM) and
// emits word cf during the last tap: one output beat of PE accumulators (AB bits each) per CF inputs.
// Weight word at address t*CF+cf holds W[cf*PE+p][t] at bits [p*WB +: WB]; bias word cf holds
// bias[cf*PE+p] at bits [p*AB +: AB]. Sums wrap modulo 2**AB: the final sum fits AB bits by the type
// rule, so partial sums that do not are still exact once complete.
// Pipeline (moves together on en, so backpressure freezes it): fetch -> ROM/input register -> ROM
// output register -> products -> accumulate/output register.
module hk_vvu #(
    parameter C = 4, parameter T = 9, parameter PE = 1,
    parameter XB = 4, parameter XS = 0, parameter XBIP = 0,
    parameter WB = 2, parameter WS = 1, parameter WBIP = 0,
    parameter AB = 16, parameter HAS_BIAS = 0,
    parameter WFILE = "w.mem", parameter BFILE = "b.mem", parameter BLOCK = 0
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [PE*XB-1:0]   in_data,
    input  wire               in_valid,
    output wire               in_ready,
    output reg  [PE*AB-1:0]   out_data,
    output reg                out_valid,
    input  wire               out_ready
);
    localparam CF = C / PE;
    localparam DEPTH = T * CF;
    localparam RAW = $clog2(DEPTH > 1 ? DEPTH : 2);
    localparam CFW = $clog2(CF > 1 ? CF : 2);
    localparam TW = $clog2(T > 1 ? T : 2);
    localparam PB = (XB + 1) + (WB + 1);

    wire en = !out_valid || out_ready;
    assign in_ready = en;
    wire go = en && in_valid;

    // ---- fetch: (t, cf) counters and the weight address t*CF + cf
    reg [CFW-1:0] cf;
    reg [TW-1:0] t;
    reg [RAW-1:0] addr;
    wire last_cf = (cf == CF - 1), last_t = (t == T - 1);
    reg [PE*XB-1:0] x1;
    reg [CFW-1:0] cf1;
    reg v1, first1, last1;
    always @(posedge clk) begin
        if (rst) begin
            cf <= 0; t <= 0; addr <= 0; v1 <= 0;
        end else if (en) begin
            v1 <= go;
            if (go) begin
                x1 <= in_data; cf1 <= cf; first1 <= (t == 0); last1 <= last_t;
                cf <= last_cf ? 0 : cf + 1'b1;
                if (last_cf) t <= last_t ? 0 : t + 1'b1;
                addr <= (addr == DEPTH - 1) ? 0 : addr + 1'b1;
            end
        end
    end
    wire [PE*WB-1:0] w1;
    hk_rom #(.W(PE*WB), .DEPTH(DEPTH), .FILE(WFILE), .BLOCK(BLOCK)) u_rom (
        .clk(clk), .en(go), .addr(addr), .data(w1));

    // ---- the ROM's output register (a block RAM's clock-to-out leaves no time for the product)
    reg [PE*XB-1:0] x1b;
    reg [PE*WB-1:0] w1b;
    reg [CFW-1:0] cf1b;
    reg v1b, first1b, last1b;
    always @(posedge clk) begin
        if (rst) v1b <= 0;
        else if (en) v1b <= v1;
        if (en) begin
            x1b <= x1; w1b <= w1; cf1b <= cf1; first1b <= first1; last1b <= last1;
        end
    end

    // ---- products (one per channel lane)
    reg [PE*PB-1:0] p2;
    reg [CFW-1:0] cf2;
    reg v2, first2, last2;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [XB-1:0] xe = x1b[p*XB +: XB];
            wire [WB-1:0] we = w1b[p*WB +: WB];
            wire signed [XB:0] xv = XBIP ? (xe[0] ? 1 : -1) : XS ? {xe[XB-1], xe} : {1'b0, xe};
            wire signed [WB:0] wv = WBIP ? (we[0] ? 1 : -1) : WS ? {we[WB-1], we} : {1'b0, we};
            wire signed [PB-1:0] prod = xv * wv;
            always @(posedge clk) if (en) p2[p*PB +: PB] <= prod;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) v2 <= 0;
        else if (en) v2 <= v1b;
        if (en) begin
            cf2 <= cf1b; first2 <= first1b; last2 <= last1b;
        end
    end

    // ---- accumulate into word cf (the first tap starts from the bias), emit on the last tap
    wire [PE*AB-1:0] bias_word;
    generate
        if (HAS_BIAS) begin : g_bias
            reg [PE*AB-1:0] btab [0:CF-1];
            initial $readmemh(BFILE, btab);
            assign bias_word = btab[cf2];
        end else begin : g_nobias
            assign bias_word = 0;
        end
    endgenerate
    reg [PE*AB-1:0] accm [0:CF-1];
    wire [PE*AB-1:0] acc_word = accm[cf2];
    wire [PE*AB-1:0] nxt;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_acc
            wire signed [PB-1:0] pv = p2[p*PB +: PB];
            wire signed [AB+PB-1:0] pext = pv;    // sign-extended, then cut to AB bits (modulo)
            assign nxt[p*AB +: AB] = (first2 ? bias_word[p*AB +: AB] : acc_word[p*AB +: AB]) + pext[AB-1:0];
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) out_valid <= 0;
        else if (en) out_valid <= v2 && last2;
        if (en && v2) begin
            accm[cf2] <= nxt;
            if (last2) out_data <= nxt;
        end
    end
endmodule
