// Read-only memory initialised from a $readmemh file named RELATIVE to the working directory
// (YoWASP tools only see relative paths). The read is registered and clock-enabled, the form Yosys
// maps onto ECP5 DP16KD / iCE40 SB_RAM40_4K; BLOCK=0 leaves small tables to LUTs.
module hk_rom #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter FILE = "rom.mem",
    parameter BLOCK = 1
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire [$clog2(DEPTH > 1 ? DEPTH : 2)-1:0] addr,
    output reg  [W-1:0]             data
);
    generate
        if (BLOCK) begin : g_block
            (* ram_style = "block", rom_style = "block" *) reg [W-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) data <= mem[addr];
        end else begin : g_logic
            (* ram_style = "logic", rom_style = "logic" *) reg [W-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) data <= mem[addr];
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
