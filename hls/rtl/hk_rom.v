// Read-only memory initialised from a $readmemh file named RELATIVE to the working directory
// (YoWASP tools only see relative paths). The read is registered and clock-enabled, the form Yosys
// maps onto ECP5 DP16KD / iCE40 SB_RAM40_4K; BLOCK=0 leaves small tables to LUTs.
//
// BANKD > 0 (a table deeper than one block RAM at its width): the table is cut into tiles of BANKD
// words x BANKW bits, each exactly one block RAM, read from the files "t<bank:3>_<column:3>_<FILE>"
// (hwkit.backends.rtl.rom_tiles writes them). Left to synthesis, a stacked table reads through a LUT
// multiplexer straight off the block RAMs' unregistered outputs (5.6 ns clock-to-out on ECP5), the
// critical path of block-RAM-heavy designs. Here every tile's output is registered and the bank is
// chosen by a multiplexer of RLAT-1 registered stages (at most 8 inputs each): the data arrives RLAT
// enabled cycles later than with BANKD = 0. BANKD >= DEPTH (a table one block deep but several wide):
// one bank of columns, each block's output registered, no multiplexer: RLAT = 1. Untiled, an unregistered
// block output may be routed across the die in the same cycle (LFC W1A2's tables: 64 blocks side by side).
module hk_rom #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter FILE = "rom.mem",
    parameter BLOCK = 1,
    parameter BANKD = 0,
    parameter BANKW = 0,
    parameter RLAT = 0
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire [$clog2(DEPTH > 1 ? DEPTH : 2)-1:0] addr,
    output wire [W-1:0]             data
);
    localparam AW = $clog2(DEPTH > 1 ? DEPTH : 2);
    // words before level k of the tiled multiplexer tree: NP + NP/2^RB + ... (k terms)
    function integer level_offset(input integer k);
        integer j, np, rb, bw, s;
        begin
            bw = AW - $clog2(BANKD > 0 ? BANKD : 1);
            s = RLAT > 1 ? RLAT - 1 : 1;
            rb = (bw + s - 1) / s;
            np = 1 << (rb * s);
            level_offset = 0;
            for (j = 0; j < k; j = j + 1) level_offset = level_offset + (np >> (j * rb));
        end
    endfunction
    generate
        if (BANKD > 0 && BANKD >= DEPTH) begin : g_cols
            localparam NC = (W + BANKW - 1) / BANKW;
            localparam BA = $clog2(BANKD);
            wire [BA-1:0] ta = addr;                         // zero-extended: the tile holds BANKD words
            genvar c;
            for (c = 0; c < NC; c = c + 1) begin : g_col
                localparam CW = (W - c * BANKW < BANKW) ? W - c * BANKW : BANKW;
                localparam [7:0] C2 = 48 + c / 100, C1 = 48 + (c / 10) % 10, C0 = 48 + c % 10;
                (* ram_style = "block", rom_style = "block" *) reg [CW-1:0] mem [0:BANKD-1];
                initial $readmemh({"t000_", C2, C1, C0, "_", FILE}, mem);
                reg [CW-1:0] rd, q;
                always @(posedge clk) if (en) begin
                    rd <= mem[ta];
                    q <= rd;                                 // the tile's output register
                end
                assign data[c*BANKW +: CW] = q;
            end
        end else if (BANKD > 0) begin : g_tiled
            localparam NB = (DEPTH + BANKD - 1) / BANKD;
            localparam NC = (W + BANKW - 1) / BANKW;
            localparam BA = $clog2(BANKD);
            localparam BW = AW - BA;                         // bank index bits
            localparam S = RLAT - 1;                         // multiplexer stages
            localparam RB = (BW + S - 1) / S;                // index bits one stage decodes
            localparam NP = 1 << (RB * S);                   // banks, padded to a full tree
            // level k of the tree holds NP >> (k*RB) words; the levels lie side by side in one vector
            wire [2*NP*W-1:0] lv;
            reg [(S+1)*BW-1:0] sel;                          // word k+1: the bank index of level k's words
            always @(posedge clk) if (en) sel <= {sel, addr[AW-1:BA]};
            genvar b, c, k, g;
            for (b = 0; b < NP; b = b + 1) begin : g_bank
                if (b < NB) begin : g_used
                    for (c = 0; c < NC; c = c + 1) begin : g_col
                        localparam CW = (W - c * BANKW < BANKW) ? W - c * BANKW : BANKW;
                        localparam [7:0] B2 = 48 + b / 100, B1 = 48 + (b / 10) % 10, B0 = 48 + b % 10;
                        localparam [7:0] C2 = 48 + c / 100, C1 = 48 + (c / 10) % 10, C0 = 48 + c % 10;
                        (* ram_style = "block", rom_style = "block" *) reg [CW-1:0] mem [0:BANKD-1];
                        initial $readmemh({"t", B2, B1, B0, "_", C2, C1, C0, "_", FILE}, mem);
                        reg [CW-1:0] rd, q;
                        always @(posedge clk) if (en) begin
                            rd <= mem[addr[BA-1:0]];
                            q <= rd;                         // the tile's output register
                        end
                        assign lv[b*W + c*BANKW +: CW] = q;
                    end
                end else begin : g_pad
                    assign lv[b*W +: W] = {W{1'b0}};
                end
            end
            // stage k: word g of level k+1 = word g*2^RB + (digit k of the bank index) of level k
            for (k = 0; k < S; k = k + 1) begin : g_stage
                localparam NO = NP >> ((k + 1) * RB);
                localparam OI = level_offset(k);
                localparam OO = level_offset(k + 1);
                wire [BW-1:0] idx = sel[(k+1)*BW +: BW];
                wire [RB-1:0] dig = idx >> (k * RB);
                for (g = 0; g < NO; g = g + 1) begin : g_mux
                    reg [W-1:0] o;
                    always @(posedge clk) if (en) o <= lv[(OI + (g << RB) + dig) * W +: W];
                    assign lv[(OO + g) * W +: W] = o;
                end
            end
            assign data = lv[level_offset(S) * W +: W];
        end else if (BLOCK) begin : g_block
            (* ram_style = "block", rom_style = "block" *) reg [W-1:0] mem [0:DEPTH-1];
            reg [W-1:0] q;
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) q <= mem[addr];
            assign data = q;
        end else begin : g_logic
            (* ram_style = "logic", rom_style = "logic" *) reg [W-1:0] mem [0:DEPTH-1];
            reg [W-1:0] q;
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) q <= mem[addr];
            assign data = q;
        end
    endgenerate
endmodule

// Two read ports on one memory: the stable symmetric block reads K and K^T from the same words.
module hk_rom_dp #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter FILE = "rom.mem",
    parameter BLOCK = 1
) (
    input  wire                     clk,
    input  wire                     en_a,
    input  wire [$clog2(DEPTH > 1 ? DEPTH : 2)-1:0] addr_a,
    output reg  [W-1:0]             data_a,
    input  wire                     en_b,
    input  wire [$clog2(DEPTH > 1 ? DEPTH : 2)-1:0] addr_b,
    output reg  [W-1:0]             data_b
);
    generate
        if (BLOCK) begin : g_block
            (* ram_style = "block", rom_style = "block" *) reg [W-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) begin
                if (en_a) data_a <= mem[addr_a];
                if (en_b) data_b <= mem[addr_b];
            end
        end else begin : g_logic
            (* ram_style = "logic", rom_style = "logic" *) reg [W-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) begin
                if (en_a) data_a <= mem[addr_a];
                if (en_b) data_b <= mem[addr_b];
            end
        end
    endgenerate
endmodule
