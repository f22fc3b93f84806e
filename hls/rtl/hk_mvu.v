// Folded matrix-vector unit: acc[o] = sum_i W[o,i] * x[i] + bias[o] for an MH x MW matrix, PE output
// channels x SIMD inputs per cycle, NF*SF = (MH/PE)*(MW/SIMD) cycles per vector.
//
// Input beats carry SIMD elements (element s at bits [s*XB +: XB]); output beats carry PE accumulators
// (AB bits each, two's complement). The vector is taken from the stream during the first neuron fold
// and kept in a small buffer for the other NF-1 folds.
// Weight word at address nf*SF+sf holds W[nf*PE+p][sf*SIMD+s] at bits [(p*SIMD+s)*WB +: WB].
// TRANSPOSED=1 reads a word of another unit's memory (PE, SIMD swapped) as K^T, element (p,s) at bits
// [(s*PE+p)*WB +: WB]. TAPS=1 (matrix K): address sf*NF+nf. TAPS=T (conv K, T=KH*KW window taps, K^T is
// the adjoint conv: column (tap t, o) of K^T = K column (tap T-1-t, c)): sf = t*(SF/T) + of walks
// address of*T*NF + (T-1-t)*NF + nf. EXT_ROM=1 exposes the read port so two units share a ROM.
// PACK > 1 (own table, TAPS=1 order): PACK consecutive words share one memory row (word j of row r at
// bits [j*PE*SIMD*WB +: PE*SIMD*WB]); the row is read PACK times and a lane multiplexer picks the word.
// A 2-bit table in rows of 9 words fills a DP16KD's 18-bit width, parity bits included: 16 -> 18 Kbit.
// Datapaths: XBIP&WBIP -> XNOR + popcount (acc += 2*pop - SIMD); one bipolar side -> sign flip;
// otherwise signed/unsigned low-bit multiply (LUTMUL: shift-add in LUTs, else '*' for DSP blocks).
// Pipeline: fetch -> ROM/input register [-> IL: a block-RAM input buffer's register] [-> RLAT stages of a
// tiled table's read] -> ROM output register
// -> products [-> MLAT stages of a wide LUT product's row tree] -> adder tree (clog2(SIMD) stages) ->
// accumulate/output register -> output FIFO (OQ words). Only the fetch stage stalls: it issues
// an output fold only while a credit counter shows a free FIFO slot for it, so the stages after it never
// wait and need no clock enable. The downstream ready then reaches one counter instead of every
// pipeline register and block RAM, which is what limits Fmax on designs with many block RAMs.
module hk_mvu #(
    parameter MW = 8, parameter MH = 8, parameter PE = 2, parameter SIMD = 2,
    parameter XB = 4, parameter XS = 0, parameter XBIP = 0,
    parameter WB = 2, parameter WS = 1, parameter WBIP = 0,
    parameter AB = 16,
    parameter HAS_BIAS = 0, parameter BB = 16,
    parameter WFILE = "w.mem", parameter BFILE = "b.mem",
    parameter BLOCK = 1, parameter TRANSPOSED = 0, parameter EXT_ROM = 0, parameter TAPS = 1,
    parameter LUTMUL = 1,   // 1: products from LUT shift-add logic; 0: '*' (may map to DSP blocks)
    // a weight table deeper than one block RAM: tiles of BANKD x BANKW, read RLAT cycles later (hk_rom)
    parameter BANKD = 0, parameter BANKW = 0, parameter RLAT = 0,
    parameter PACK = 1,     // words per table row (hwkit.estimate.memory.pack_words)
    // the input buffer is a block RAM (hwkit: ibuf_in_bram): its read reaches a plain register before
    // the input select, one cycle later, and the weights and flags wait that cycle too
    parameter IBLOCK = 0
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [SIMD*XB-1:0]   in_data,
    input  wire                 in_valid,
    output wire                 in_ready,
    output wire [PE*AB-1:0]     out_data,
    output wire                 out_valid,
    input  wire                 out_ready,
    output wire                 rom_en,
    output wire [$clog2(MW/SIMD*MH/PE > 1 ? MW/SIMD*MH/PE : 2)-1:0] rom_addr,
    input  wire [PE*SIMD*WB-1:0] rom_data
);
    localparam SF = MW / SIMD;
    localparam NF = MH / PE;
    localparam DEPTH = SF * NF;
    localparam RAW = $clog2(DEPTH > 1 ? DEPTH : 2);
    localparam WW = PE * SIMD * WB;                            // one table word
    localparam PD = (DEPTH + PACK - 1) / PACK;                 // table rows
    localparam PAW = $clog2(PD > 1 ? PD : 2);
    localparam PLW = $clog2(PACK > 1 ? PACK : 2);
    localparam XNOR = XBIP && WBIP;
    localparam PB = XNOR ? 2 : (XB + 1) + (WB + 1);           // signed product width
    localparam LAT = $clog2(SIMD);
    localparam TW = PB + LAT;                                  // tree output width
    localparam AI = AB + 2;                                    // internal accumulator (signed)
    // a LUT product of more than 4 shift-add rows registers the rows, then sums them in a tree registered
    // every two levels (hwkit.kinds.mvu.row_tree_stages mirrors this rule for the cost model)
    localparam NS = (WB <= XB) ? WB : XB;
    localparam MTREE = !XNOR && !XBIP && !WBIP && LUTMUL && NS > 4;
    localparam MLAT = MTREE ? ($clog2(NS) + 1) / 2 : 0;       // product stages beyond the first
    localparam IL = IBLOCK ? 1 : 0;
    localparam ELAT = (EXT_ROM ? 0 : RLAT) + MLAT + IL;        // stages beyond the basic pipeline

    localparam OQ = LAT + ELAT + 8;                            // output FIFO words: the pipeline's depth
    localparam QW = $clog2(OQ + 1);
    wire q_ready;
    reg [QW-1:0] credit;                                       // output words issued and not yet taken
    wire room = (credit != OQ);

    // ---- fetch: counters over (nf, sf); input from the stream in fold 0, else from the buffer
    reg [$clog2(SF > 1 ? SF : 2)-1:0] sf;
    reg [$clog2(NF > 1 ? NF : 2)-1:0] nf;
    reg [RAW-1:0] addr;
    // K^T of a conv: the address of fold (nf, sf = t*OFN + of) jumps T*NF per output-fold step of K
    // and back NF per tap; tb holds the address of (t, of=0), so no multiplier is needed
    localparam OFN = SF / TAPS;
    localparam TB0 = (TAPS - 1) * NF;
    reg [RAW-1:0] tb;
    reg [PAW-1:0] prow;
    reg [PLW-1:0] plane;
    reg [$clog2(OFN > 1 ? OFN : 2)-1:0] of;
    wire last_of = (of == OFN - 1);
    wire need_in = (nf == 0);
    wire go = room && (!need_in || in_valid);
    assign in_ready = room && need_in;
    wire last_sf = (sf == SF - 1);
    wire last_nf = (nf == NF - 1);
    wire [SIMD*XB-1:0] x1;         // the fetched input, IL cycles after the other stage-1 signals
    reg v1, first1, last1;
    always @(posedge clk) begin
        first1 <= (sf == 0);
        last1 <= last_sf;
    end
    generate
        if (IBLOCK) begin : g_ibuf_block
            // a write and a read of one address meet only in fold 0, where the read is not used
            (* ram_style = "block", no_rw_check *) reg [SIMD*XB-1:0] ibuf [0:SF-1];
            reg [SIMD*XB-1:0] ib1, ib2, xin1, xin2;
            reg sel1, sel2;
            always @(posedge clk) begin
                if (go && need_in) ibuf[sf] <= in_data;
                ib1 <= ibuf[sf];
                ib2 <= ib1;
                xin1 <= in_data; xin2 <= xin1;
                sel1 <= need_in; sel2 <= sel1;
            end
            assign x1 = sel2 ? xin2 : ib2;
        end else begin : g_ibuf
            reg [SIMD*XB-1:0] ibuf [0:SF-1];
            reg [SIMD*XB-1:0] xr;
            always @(posedge clk) begin
                xr <= need_in ? in_data : ibuf[sf];
                if (go && need_in) ibuf[sf] <= in_data;
            end
            assign x1 = xr;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            sf <= 0; nf <= 0; v1 <= 0; of <= 0;
            addr <= TRANSPOSED ? TB0 : 0; tb <= TB0; credit <= 0; prow <= 0; plane <= 0;
        end else begin
            v1 <= go;
            credit <= credit + (go && last_sf) - (out_valid && out_ready);
            if (go) begin
                sf <= last_sf ? 0 : sf + 1'b1;
                if (last_sf) nf <= last_nf ? 0 : nf + 1'b1;
                if (TRANSPOSED) begin
                    of <= last_of ? 0 : of + 1'b1;
                    if (last_sf) begin
                        addr <= TB0 + (last_nf ? 0 : nf + 1'b1);
                        tb   <= TB0 + (last_nf ? 0 : nf + 1'b1);
                    end else if (last_of) begin
                        addr <= tb - NF;
                        tb   <= tb - NF;
                    end else begin
                        addr <= addr + TAPS * NF;
                    end
                end else begin
                    addr <= (addr == DEPTH - 1) ? 0 : addr + 1'b1;
                    if (PACK > 1) begin   // the row and lane of the next address
                        if (addr == DEPTH - 1 || plane == PACK - 1) plane <= 0;
                        else plane <= plane + 1'b1;
                        if (addr == DEPTH - 1) prow <= 0;
                        else if (plane == PACK - 1) prow <= prow + 1'b1;
                    end
                end
            end
        end
    end

    // ---- weights (registered read, same cycle as x1; read every cycle: the address register holds the
    // fetch's address until the next one, and stage 1b takes x1 and w1 on the cycle after the fetch)
    wire [PE*SIMD*WB-1:0] w0, w1;
    assign rom_en = 1'b1;
    assign rom_addr = addr;
    generate
        if (EXT_ROM) begin : g_ext
            assign w0 = rom_data;
        end else if (PACK > 1) begin : g_packed
            // the lane of the row read with x1 (registered with it), delayed as long as a tiled read
            wire [PACK*WW-1:0] row;
            reg [(RLAT+1)*PLW-1:0] lane;
            always @(posedge clk) lane <= {lane, plane};
            hk_rom #(.W(PACK*WW), .DEPTH(PD), .FILE(WFILE), .BLOCK(BLOCK), .BANKD(BANKD), .BANKW(BANKW),
                     .RLAT(RLAT)) u_rom (.clk(clk), .en(1'b1), .addr(prow), .data(row));
            assign w0 = row[lane[RLAT*PLW +: PLW]*WW +: WW];
        end else begin : g_rom
            hk_rom #(.W(WW), .DEPTH(DEPTH), .FILE(WFILE), .BLOCK(BLOCK), .BANKD(BANKD), .BANKW(BANKW),
                     .RLAT(RLAT)) u_rom (.clk(clk), .en(1'b1), .addr(addr), .data(w0));
        end
        if (IBLOCK) begin : g_wdly
            reg [PE*SIMD*WB-1:0] wd;
            always @(posedge clk) wd <= w0;
            assign w1 = wd;
        end else begin : g_nowdly
            assign w1 = w0;
        end
    endgenerate
    // the input and flags wait as long as a tiled table's extra read stages (RLAT)
    // (and the flags the input buffer's extra cycle IL)
    localparam RL = EXT_ROM ? 0 : RLAT;
    localparam FD = RL + IL;
    wire [SIMD*XB-1:0] x1r;
    wire v1r, first1r, last1r;
    generate
        if (RL > 0) begin : g_rdly
            reg [RL*SIMD*XB-1:0] xd;
            always @(posedge clk) xd <= {xd, x1};
            assign x1r = xd[(RL-1)*SIMD*XB +: SIMD*XB];
        end else begin : g_nordly
            assign x1r = x1;
        end
        if (FD > 0) begin : g_fdly
            reg [FD-1:0] vd, fd, ld;
            always @(posedge clk) begin
                if (rst) vd <= 0;
                else vd <= {vd, v1};
                fd <= {fd, first1}; ld <= {ld, last1};
            end
            assign v1r = vd[FD-1];
            assign first1r = fd[FD-1];
            assign last1r = ld[FD-1];
        end else begin : g_nofdly
            assign v1r = v1;
            assign first1r = first1;
            assign last1r = last1;
        end
    endgenerate

    // ---- one more register after the ROM: a block RAM's clock-to-out (5.6 ns on ECP5) leaves no
    // time for logic in the same cycle; Yosys can fold this stage into the RAM's output register
    reg [SIMD*XB-1:0] x1b;
    reg [PE*SIMD*WB-1:0] w1b;
    reg v1b, first1b, last1b;
    always @(posedge clk) begin
        if (rst) v1b <= 0;
        else v1b <= v1r;
        x1b <= x1r; w1b <= w1; first1b <= first1r; last1b <= last1r;
    end

    // ---- products
    wire [PE*SIMD*PB-1:0] p2;
    reg v2, first2, last2;
    genvar p, s;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            for (s = 0; s < SIMD; s = s + 1) begin : g_simd
                wire [XB-1:0] xe = x1b[s*XB +: XB];
                wire [WB-1:0] we = TRANSPOSED ? w1b[(s*PE+p)*WB +: WB] : w1b[(p*SIMD+s)*WB +: WB];
                wire signed [XB:0] xv = XS ? {xe[XB-1], xe} : {1'b0, xe};
                wire signed [WB:0] wv = WS ? {we[WB-1], we} : {1'b0, we};
                wire signed [PB-1:0] prod;
                if (XNOR) begin : g_xnor
                    assign prod = {1'b0, ~(xe[0] ^ we[0])};
                end else if (XBIP && WBIP == 0) begin : g_xbip
                    assign prod = xe[0] ? wv : -wv;
                end else if (WBIP && XBIP == 0) begin : g_wbip
                    assign prod = we[0] ? xv : -xv;
                end else if (MTREE) begin : g_lutmul_tree
                    // rows of the shift-add, registered, then summed by a tree registered every two adder
                    // levels: products of 8-bit and wider operands. The row register matters: with the
                    // rows' select logic in front of the first adder, synth_ecp5 rebuilt a lane whose two
                    // top weight bits were equal (all weights within +-64) into a chain feeding each sum
                    // bit back into the next operand bit, 1.45 ns per 2 bits (the jet MLP then: 68.8 MHz).
                    // A signed selector's top row is subtracted: -sh = ~sh + 1, the row inverted (a LUT,
                    // no carry chain of its own) and its +1 put in row 1's bit 0, always 0 there (sh<<<1)
                    // (mod 2^PB, as prod keeps PB bits)
                    localparam SSG = (WB <= XB) ? WS : XS;
                    wire [NS-1:0] sel = (WB <= XB) ? we : xe;
                    wire signed [PB-1:0] oth = (WB <= XB) ? xv : wv;
                    wire neg = SSG && sel[NS-1];
                    wire [NS*PB-1:0] rows;
                    genvar j;
                    for (j = 0; j < NS; j = j + 1) begin : g_row
                        wire [PB-1:0] sh = oth <<< j;
                        wire [PB-1:0] r = !sel[j] ? {PB{1'b0}} : (SSG && j == NS - 1) ? ~sh : sh;
                        assign rows[j*PB +: PB] = (j == 1) ? {r[PB-1:1], neg} : r;
                    end
                    reg [NS*PB-1:0] rows_r;
                    always @(posedge clk) rows_r <= rows;
                    wire signed [PB+$clog2(NS)-1:0] tsum;
                    hk_addtree #(.N(NS), .IW(PB), .LAT($clog2(NS)), .K(2)) u_rows (
                        .clk(clk), .en(1'b1), .in_data(rows_r), .sum(tsum));
                    assign prod = tsum[PB-1:0];
                end else if (LUTMUL) begin : g_lutmul
                    // shift-and-add over the narrower operand's bits: plain LUT logic, so synthesis
                    // keeps the scarce hard multipliers (28 on an ECP5-25F) for wide products
                    localparam NS = (WB <= XB) ? WB : XB;
                    localparam SSG = (WB <= XB) ? WS : XS;
                    wire [NS-1:0] sel = (WB <= XB) ? we : xe;
                    wire signed [PB-1:0] oth = (WB <= XB) ? xv : wv;
                    reg signed [PB-1:0] acc_m;
                    integer j;
                    always @(*) begin
                        acc_m = 0;
                        for (j = 0; j < NS; j = j + 1)
                            if (sel[j]) begin
                                if (SSG && j == NS - 1) acc_m = acc_m - (oth <<< j);
                                else acc_m = acc_m + (oth <<< j);
                            end
                    end
                    assign prod = acc_m;
                end else begin : g_mul
                    assign prod = xv * wv;
                end
                if (MTREE) begin : g_pt
                    assign p2[(p*SIMD+s)*PB +: PB] = prod;         // registered inside the row tree
                end else begin : g_preg
                    reg [PB-1:0] pr;
                    always @(posedge clk) pr <= prod;
                    assign p2[(p*SIMD+s)*PB +: PB] = pr;
                end
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) v2 <= 0;
        else v2 <= v1b;
        first2 <= first1b; last2 <= last1b;
    end

    // ---- adder trees, flags delayed alongside (and along the row trees' extra stages)
    localparam FL = LAT + MLAT;
    wire [PE*TW-1:0] sums;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_tree
            hk_addtree #(.N(SIMD), .IW(PB), .LAT(LAT)) u_tree (
                .clk(clk), .en(1'b1), .in_data(p2[p*SIMD*PB +: SIMD*PB]), .sum(sums[p*TW +: TW]));
        end
    endgenerate
    wire v3, first3, last3;
    generate
        if (FL > 0) begin : g_dly
            reg [FL-1:0] vq, fq, lq;
            always @(posedge clk) begin
                if (rst) vq <= 0;
                else vq <= {vq, v2};
                fq <= {fq, first2}; lq <= {lq, last2};
            end
            assign v3 = vq[FL-1];
            assign first3 = fq[FL-1];
            assign last3 = lq[FL-1];
        end else begin : g_nodly
            assign v3 = v2;
            assign first3 = first2;
            assign last3 = last2;
        end
    endgenerate

    // ---- bias (small LUT table indexed by the output fold) and accumulation
    reg [$clog2(NF > 1 ? NF : 2)-1:0] onf;
    wire [PE*BB-1:0] bias_word;
    generate
        if (HAS_BIAS) begin : g_bias
            reg [PE*BB-1:0] btab [0:NF-1];
            initial $readmemh(BFILE, btab);
            assign bias_word = btab[onf];
        end else begin : g_nobias
            assign bias_word = 0;
        end
    endgenerate
    reg signed [AI-1:0] acc [0:PE-1];
    reg [PE*AB-1:0] y4;
    reg v4;
    integer q;
    always @(posedge clk) begin
        if (rst) begin
            v4 <= 0; onf <= 0;
        end else begin
            v4 <= v3 && last3;
            if (v3 && last3) onf <= (onf == NF - 1) ? 0 : onf + 1'b1;
        end
        if (v3) begin
            for (q = 0; q < PE; q = q + 1) begin : acc_loop
                reg signed [AI-1:0] base, contrib, nxt;
                base = first3 ? $signed(bias_word[q*BB +: BB]) : acc[q];
                contrib = XNOR ? ($signed(sums[q*TW +: TW]) <<< 1) - SIMD : $signed(sums[q*TW +: TW]);
                nxt = base + contrib;
                acc[q] <= nxt;
                if (last3) y4[q*AB +: AB] <= nxt[AB-1:0];
            end
        end
    end
    // never full: the fetch stage reserved a slot for every word (q_ready is not needed)
    hk_fifo #(.W(PE*AB), .DEPTH(OQ)) u_oq (
        .clk(clk), .rst(rst), .in_data(y4), .in_valid(v4), .in_ready(q_ready),
        .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready));
endmodule
