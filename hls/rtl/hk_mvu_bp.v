// Bit-plane matrix-vector unit for any-precision networks: ONE weight memory of WB-bit two's-complement
// weights serves every precision k (1..WB) chosen at run time. The k-bit weights are the top k planes,
// w_k = w >>> (WB-k); acc[o] = sum_i w_k[o][i] * x[i] is computed plane by plane, MSB first, Horner
// style: at the first tile of plane p, acc <= 2*acc + s*ps, later tiles acc <= acc + s*ps, where ps is
// the SIMD-wide sum of the inputs whose weight bit (WB-1-p) is set and s = -1 for the sign plane.
// Cycles per sample: SF (load) + NF * (k*SF + 2): they scale with k.
// The precision arrives as a tag stream (prec_*), one tag per sample, taken with the sample's first beat:
// switching precision between samples needs no weight reload. Weight word at address nf*SF+sf holds
// W[nf*PE+p][sf*SIMD+s] at bits [(p*SIMD+s)*WB +: WB] (hk_mvu's layout). No bias: the thresholds
// after it hold one table per precision.
module hk_mvu_bp #(
    parameter MW = 16, parameter MH = 8, parameter PE = 2, parameter SIMD = 4,
    parameter XB = 4, parameter XS = 0,
    parameter WB = 8, parameter AB = 16, parameter PB = 4,
    parameter WFILE = "w.mem", parameter BLOCK = 0
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [SIMD*XB-1:0] in_data,
    input  wire               in_valid,
    output wire               in_ready,
    output wire [PE*AB-1:0]   out_data,
    output reg                out_valid,
    input  wire               out_ready,
    input  wire [PB-1:0]      prec_data,
    input  wire               prec_valid,
    output wire               prec_ready
);
    localparam SF = MW / SIMD;
    localparam NF = MH / PE;
    localparam SFW = $clog2(SF > 1 ? SF : 2);
    localparam NFW = $clog2(NF > 1 ? NF : 2);
    localparam DEPTH = SF * NF;
    localparam AW = $clog2(DEPTH > 1 ? DEPTH : 2);
    localparam IW = AB + WB + 2;                    // Horner intermediates, with room to spare
    localparam PSW = XB + 2 + $clog2(SIMD + 1);

    localparam S_LOAD = 2'd0, S_RUN = 2'd1, S_WAIT = 2'd2;
    reg [1:0] state;
    reg [SFW-1:0] sf;                               // load / issue position inside a plane
    reg [NFW-1:0] nf;
    reg [PB-1:0] k;                                 // this sample's precision
    reg [PB-1:0] plane;                             // 0 = the sign plane
    reg [SIMD*XB-1:0] xbuf [0:SF-1];

    // ---- load the input vector; the sample's precision tag comes with its first beat
    wire first_beat = (sf == 0);
    assign in_ready = (state == S_LOAD) && (!first_beat || prec_valid);
    wire in_fire = in_valid && in_ready;
    assign prec_ready = in_fire && first_beat;

    // ---- issue one weight tile per cycle
    wire issue = (state == S_RUN);
    wire last_sf = (sf == SF - 1);
    wire last_plane = (plane == k - 1);
    reg [AW-1:0] addr;
    wire [PE*SIMD*WB-1:0] wword;
    hk_rom #(.W(PE*SIMD*WB), .DEPTH(DEPTH), .FILE(WFILE), .BLOCK(BLOCK)) u_rom (
        .clk(clk), .en(issue), .addr(addr), .data(wword));

    reg v1, first1, msb1, done1;
    reg [PB-1:0] bit1;
    reg [SIMD*XB-1:0] x1;
    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD; sf <= 0; nf <= 0; plane <= 0; addr <= 0; v1 <= 0; k <= WB;
        end else begin
            v1 <= issue;
            case (state)
                S_LOAD: if (in_fire) begin
                    xbuf[sf] <= in_data;
                    if (first_beat) k <= (prec_data == 0 || prec_data > WB) ? WB : prec_data;
                    if (last_sf) begin
                        state <= S_RUN; sf <= 0; nf <= 0; plane <= 0; addr <= 0;
                    end else sf <= sf + 1'b1;
                end
                S_RUN: begin
                    first1 <= (sf == 0); msb1 <= (plane == 0); done1 <= last_sf && last_plane;
                    bit1 <= WB - 1 - plane; x1 <= xbuf[sf];
                    if (!last_sf) begin
                        sf <= sf + 1'b1; addr <= addr + 1'b1;
                    end else begin
                        sf <= 0;
                        if (!last_plane) begin
                            plane <= plane + 1'b1; addr <= addr - (SF - 1);      // the same tiles again
                        end else state <= S_WAIT;
                    end
                end
                S_WAIT: if (out_valid && out_ready) begin
                    plane <= 0;
                    if (nf == NF - 1) begin
                        state <= S_LOAD; nf <= 0;
                    end else begin
                        state <= S_RUN; nf <= nf + 1'b1; addr <= (nf + 1'b1) * SF;
                    end
                end
                default: state <= S_LOAD;
            endcase
        end
    end

    // ---- one plane of a tile: PE sums of the inputs whose weight bit is set, shift-added
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            reg signed [IW-1:0] acc;                // one register per lane (not an array: no RAM inference)
            reg signed [PSW-1:0] ps;
            integer s;
            always @(*) begin
                ps = 0;
                for (s = 0; s < SIMD; s = s + 1)
                    if (wword[(p*SIMD+s)*WB + bit1])
                        ps = ps + (XS ? $signed({{(PSW-XB){x1[s*XB+XB-1]}}, x1[s*XB +: XB]})
                                      : $signed({{(PSW-XB){1'b0}}, x1[s*XB +: XB]}));
            end
            wire signed [IW-1:0] term = msb1 ? -{{(IW-PSW){ps[PSW-1]}}, ps} : {{(IW-PSW){ps[PSW-1]}}, ps};
            always @(posedge clk)
                if (v1) acc <= (first1 ? (msb1 ? {IW{1'b0}} : acc <<< 1) : acc) + term;
            assign out_data[p*AB +: AB] = acc[AB-1:0];
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) out_valid <= 0;
        else if (v1 && done1) out_valid <= 1;
        else if (out_ready) out_valid <= 0;
    end
endmodule
