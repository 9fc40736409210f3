// convflow RTL library: cf_mvu -- matrix-vector unit with PE x SIMD folding (Conv2D and Dense layers).
//
// Computes out[o] = bias[o] + sum_r x[r] * w[r][o] for every input vector x of MH = SF*SIMD elements and
// MW = NF*PE outputs.  The input vector arrives as SF beats of SIMD lanes (lane s of beat sf = x[sf*SIMD + s]);
// it is kept in a small buffer and replayed for each of the NF output groups ("neuron folds").  Output beat nf
// carries out[nf*PE + pe] in lane pe: the NHWC channel order.  One beat is consumed per cycle, so a vector takes
// SF * NF cycles.
//
// Weight ROM: NF*SF words of PE*SIMD*WBITS bits, word nf*SF + sf, lane pe*SIMD + s = w[sf*SIMD + s][nf*PE + pe]
// (two's complement).  Bias ROM: NF words of PE*ABITS bits.  Both are read through registers ($readmemh files
// named by WFILE/BFILE, resolved relative to the simulator's / synthesiser's working directory).
//
// Pipeline (free-running: no clock enable; a cycle without a beat travels down it as valid = 0):
//   stage 0  pick x (input stream during fold 0, else the buffer), address the ROMs; issue a beat
//   stage 1  x, w, bias registered                 (the weight ROM's read)
//   stage 1b x registered again; w: the addressed bank's register  (a banked ROM only: WBANK, below)
//   stage 1m x, w registered again                   (multiplier input registers -> ECP5 MULT18X18D)
//   stage 2  PE*SIMD products registered             (multiplier output registers; packed products: the
//            MULT18X18D's output registered, then split into two products in a stage 2b)
//   stage 3  adder tree: TD = ceil(log4(SIMD)) register stages of 4:1 sums (none for SIMD = 1); the flags and
//            the bias ride beside it, FD stages (TD and the cycles of stages 1b and 2b)
//   stage 4  accumulator; at the last fold the sum goes into the output FIFO (cf_outbuf).
// Back-pressure: the last beat of a vector (the one that makes an output word) is issued only while cf_outbuf has
// room for its word, a registered credit; the other beats always go.  (It used to freeze every stage with one
// enable from m_ready: a net to > 1,000 clock enables, LeNet-fmnist's critical path at 52.6 MHz; cf_outbuf.v.)
// The output FIFO holds ODEPTH - 1 words more than the pipeline can have in flight (OUT_DEPTH), where the generated
// top used to put a cf_fifo of ODEPTH words behind the unit's output register; the unit takes its place.
// Multipliers (USE_DSP, the compiler's choice per layer): 0 writes each product as a sum of shifted partial
// products, so synthesis builds it from LUTs instead of spending a DSP block on a 4x3-bit multiply; 1 writes `*`,
// which yosys maps to one MULT18X18D a product; 2 packs the products of PE lanes 2q and 2q+1 (same input, two
// weights) into one MULT18X18D: x * (w0 + w1 * 2^PW) = x*w0 + x*w1 * 2^PW, the low PW bits are x*w0 (it fits PW
// signed bits) and the rest, plus x*w0's sign, is x*w1 -- exact when IBITS + 1 + 2*WBITS <= 18 and PE is even.
// The weight ROM goes where synthesis puts it (WMEM = 0), or into block RAM (1) or logic (2): rom_style.
// WPACK > 1 stores WPACK consecutive weight words in one ROM word (word j, slice k = weight word j*WPACK + k, the last
// word padded) and picks the slice after the read: a ROM of ceil(NF*SF / WPACK) words of WPACK*PE*SIMD*WBITS bits,
// which packs into fewer ECP5 block RAMs when the plain word is a power of two wide and the EBR shapes are 9, 18 or
// 36 bits wide (e.g. 9 words of 32 bits in 2048 x 9 blocks: no unused parity bits).  Same cycles, same weights.
// WBANK > 0 (with WMEM = 1: the compiler's choice, MatrixVectorUnit.weight_bank) builds the ROM as banks of WBANK
// words, bank k read from the file {WBANKFILE, two decimal digits of k, ".hex"}, each bank's output registered
// before the multiplexers that pick the addressed bank and the WPACK slice: one cycle more from issue to the operand
// register (LAT).  For a ROM deeper than one row of blocks, or one bank (WBANK >= its depth) of packed words.  Left
// to synthesis, a deep ROM's block outputs meet in one multiplexer in the read's own cycle, and the slice
// multiplexer follows: CNV 2W2A's Conv_5 (8,192 words over 64 EBR), its slowest path at 61 MHz, 7.0 ns logic + 9.4
// ns routing from a block's output to the operand register; Gemm_1, Gemm_0, Conv_4 (one row, 8-16 words a ROM word)
// next at 63.9-67.7 MHz.
// Accumulation is modulo 2^ABITS, which is exact because the final value fits ABITS (the IR proves it).
module cf_mvu #(
    parameter SIMD    = 1,
    parameter PE      = 1,
    parameter SF      = 1,        // input beats per vector  (MH / SIMD)
    parameter NF      = 1,        // output beats per vector (MW / PE)
    parameter IBITS   = 8,
    parameter ISIGNED = 0,
    parameter WBITS   = 8,
    parameter ABITS   = 24,       // accumulator = output element bits (signed)
    parameter USE_DSP = 1,        // 0: shift-and-add in LUTs; 1: `*` (one MULT18X18D); 2: two products a MULT18X18D
    parameter WMEM    = 0,        // weight ROM: 0 where synthesis puts it, 1 block RAM, 2 logic
    parameter WPACK   = 1,        // weight words per ROM word
    parameter WBANK   = 0,        // ROM words per block-RAM bank (0: none; WMEM = 1 only; a power of two, or the
                                  // ROM's depth or more: one bank)
    parameter WBANKFILE = "",     // bank k's file: {WBANKFILE, k as two decimal digits, ".hex"} (when WBANK > 0)
    parameter ODEPTH  = 2,        // the output stream's FIFO depth in the plan (OUT_DEPTH adds the words in flight)
    parameter WFILE   = "",       // set by the generated top; "" (the default) leaves the ROM empty, so tools
    parameter BFILE   = ""        // that elaborate modules with default parameters do not look for a file
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [SIMD*IBITS-1:0] s_data,
    input  wire                  s_valid,
    output wire                  s_ready,
    output wire [PE*ABITS-1:0]   m_data,
    output wire                  m_valid,
    input  wire                  m_ready
);
    localparam XW    = SIMD * IBITS;
    localparam WWORD = PE * SIMD * WBITS;
    localparam PW    = IBITS + 1 + WBITS;            // product bits (input made signed by one extra bit)
    localparam WDEP  = NF * SF;
    localparam WAW   = (WDEP <= 2) ? 1 : $clog2(WDEP);
    localparam RDEP  = (WDEP + WPACK - 1) / WPACK;   // ROM words
    localparam RAW   = (RDEP <= 2) ? 1 : $clog2(RDEP);
    localparam KAW   = (WPACK <= 2) ? 1 : $clog2(WPACK);
    localparam BAW   = (NF <= 2) ? 1 : $clog2(NF);
    localparam SAW   = (SF <= 2) ? 1 : $clog2(SF);
    localparam SPLIT_WORDS = 16;                     // a logic ROM deeper than this is split by PE (below)
    localparam BANKED = (WMEM == 1 && WBANK > 0) ? 1 : 0;
    localparam NBANK  = BANKED ? (RDEP + WBANK - 1) / WBANK : 1;
    localparam BKW    = (WBANK <= 2) ? 1 : $clog2(WBANK);   // a bank's address bits
    localparam NBW    = (NBANK <= 2) ? 1 : $clog2(NBANK);   // the bank number's bits
    localparam PKREG  = (USE_DSP == 2) ? 1 : 0;              // packed products: registered before the split

    reg [PE*ABITS-1:0] brom [0:NF-1];
    initial begin
        if (BFILE != "")
            $readmemh(BFILE, brom);
    end

    reg [XW-1:0] ibuf [0:SF-1];

    // ---- stage 0: fold counters, and the issue of a beat ------------------------------------------------------
    reg [SAW-1:0] sf;
    reg [BAW-1:0] nf;
    reg [WAW-1:0] waddr;              // weight word nf*SF + sf
    reg [RAW-1:0] raddr;              // its ROM word (waddr / WPACK) and slice in it (waddr % WPACK)
    reg [KAW-1:0] rslice;
    wire room;                        // cf_outbuf: the output word of a beat issued now has its place
    wire fold0   = (nf == 0);
    wire last0   = (sf == SF - 1);    // this beat ends a vector: it makes an output word
    wire go      = room || !last0;
    assign s_ready = go && fold0;
    wire issue   = go && (!fold0 || s_valid);
    wire [XW-1:0] x0 = fold0 ? s_data : ibuf[sf];
    // the ROM word read in the next cycle (raddr's next value: the address copies of a split logic ROM take it too)
    wire rstep = issue && (waddr == WDEP - 1 || rslice == WPACK - 1);
    wire [RAW-1:0] raddr_next = rst ? {RAW{1'b0}} : !rstep ? raddr
                              : (waddr == WDEP - 1) ? {RAW{1'b0}} : raddr + 1'b1;

    // ---- the weight ROM, read into w1 (stage 1) ------------------------------------------------------------
    wire [WWORD-1:0] w1;
    wire [WPACK*WWORD-1:0] rq;
    generate
        if (BANKED) begin : g_wrom
            // Banks of WBANK words (the last one holds the rest); bank k's read is registered once more (qr) next
            // to its blocks, and the registered bank number (sel2) picks one in the next cycle.
            wire [NBW-1:0] sel2;
            if (NBANK > 1) begin : g_sel
                reg [NBW-1:0] sel1, sel;
                always @(posedge clk) begin
                    sel1 <= raddr[RAW-1:BKW];
                    sel <= sel1;
                end
                assign sel2 = sel;
            end else begin : g_sel
                assign sel2 = 0;
            end
            wire [NBANK*WPACK*WWORD-1:0] banks;
            genvar gk;
            for (gk = 0; gk < NBANK; gk = gk + 1) begin : g_bank
                localparam BDEP = (RDEP - gk * WBANK < WBANK) ? RDEP - gk * WBANK : WBANK;
                localparam [7:0] D1 = 48 + gk / 10;
                localparam [7:0] D0 = 48 + gk % 10;
                (* rom_style = "block" *) reg [WPACK*WWORD-1:0] wrom [0:BDEP-1];
                reg [WPACK*WWORD-1:0] q, qr;
                initial if (WBANKFILE != "") $readmemh({WBANKFILE, D1, D0, ".hex"}, wrom);
                always @(posedge clk) begin
                    q <= wrom[raddr[BKW-1:0]];
                    qr <= q;
                end
                assign banks[gk*WPACK*WWORD +: WPACK*WWORD] = qr;
            end
            assign rq = banks[sel2*WPACK*WWORD +: WPACK*WWORD];
        end else if (WMEM == 1) begin : g_wrom
            (* rom_style = "block" *) reg [WPACK*WWORD-1:0] wrom [0:RDEP-1];
            reg [WPACK*WWORD-1:0] q;
            initial if (WFILE != "") $readmemh(WFILE, wrom);
            always @(posedge clk) q <= wrom[raddr];
            assign rq = q;
        end else if (WMEM == 2 && PE > 1 && WPACK == 1 && RDEP > SPLIT_WORDS) begin : g_wrom
            // A logic ROM split by PE: each PE's weights in a ROM of their own, read at the PE's own copy of the
            // address (cf_rep).  One ROM of the whole word puts every output bit's LUTs on one address: on CNV's
            // Conv_1 (144 words x 512 bits) that block was 82 % of the routing overuse nextpnr could not resolve.
            // Each PE's ROM is declared with the whole word, from the one file; synthesis keeps the slice it reads.
            // Not for SPLIT_WORDS words or fewer: a bit is then one LUT4 on the address, with no decode to share,
            // and synthesis merges the LUTs of equal bit columns across PEs (LeNet-fmnist's 10 x 2,560-bit ROM,
            // split: 10.5k LUT4 more on the 85F).
            genvar gr;
            for (gr = 0; gr < PE; gr = gr + 1) begin : g_pe
                wire [RAW-1:0] ra;
                cf_rep #(.W(RAW)) u_a (.clk(clk), .d(raddr_next), .q(ra));
                (* rom_style = "logic" *) reg [WWORD-1:0] wrom [0:RDEP-1];
                reg [SIMD*WBITS-1:0] q;
                initial if (WFILE != "") $readmemh(WFILE, wrom);
                always @(posedge clk) q <= wrom[ra][gr*SIMD*WBITS +: SIMD*WBITS];
                assign rq[gr*SIMD*WBITS +: SIMD*WBITS] = q;
            end
        end else if (WMEM == 2) begin : g_wrom
            (* rom_style = "logic" *) reg [WPACK*WWORD-1:0] wrom [0:RDEP-1];
            reg [WPACK*WWORD-1:0] q;
            initial if (WFILE != "") $readmemh(WFILE, wrom);
            always @(posedge clk) q <= wrom[raddr];
            assign rq = q;
        end else begin : g_wrom
            reg [WPACK*WWORD-1:0] wrom [0:RDEP-1];
            reg [WPACK*WWORD-1:0] q;
            initial if (WFILE != "") $readmemh(WFILE, wrom);
            always @(posedge clk) q <= wrom[raddr];
            assign rq = q;
        end
        if (WPACK == 1) begin : g_wslice
            assign w1 = rq;
        end else begin : g_wslice
            reg [KAW-1:0] slice1, slice2;   // the slice of the word being read, registered with the read (twice
            always @(posedge clk) begin     // for a banked ROM)
                slice1 <= rslice;
                slice2 <= slice1;
            end
            assign w1 = rq[(BANKED ? slice2 : slice1)*WWORD +: WWORD];
        end
    endgenerate

    // ---- stage 1 / 2 registers -------------------------------------------------------------------------
    reg               v1, first1, last1, v2, first2, last2;
    reg [XW-1:0]       x1, xm;         // xm, wm: the multipliers' operands, a register after the ROM's output
    reg [WWORD-1:0]    wm;             // (a block RAM's data output is slow: 5.6 ns of a 10 ns cycle)
    reg                vm, firstm, lastm;
    reg [PE*ABITS-1:0] bm;
    reg [PE*ABITS-1:0] b1, b2;
    // The products' register p2 is written by each product's own always block (the product computed right there,
    // not first into a combinational bus) and marked split_var (a comment to synthesis: the same registers): so
    // each product gets a variable of its own in Verilator's model, computed straight into it, instead of being
    // shifted and masked in and out of multi-word vectors twice.  Instructions per simulated cycle (callgrind):
    // LeNet-fmnist 35.4k -> 30.2k, cnn-digits 5.98k -> 5.23k, mlp-mnist5k 3.80k -> 3.19k.
    reg  [PE*SIMD*PW-1:0] p2 /*verilator split_var*/;

    // x * w as WBITS shifted partial products (the sign bit of w has negative weight), summed as a balanced tree
    // (pairs, then pairs of pairs: up to 16 weight bits; a chain of WBITS adds took 10 ns at 8 bits).  One named
    // value per pair rather than an array of 16: Verilator keeps a function's array in the model and clears, fills
    // and sums it in memory for every product every cycle; with plain values the terms beyond WBITS fold away
    // (LeNet's rtlsim: 10 % fewer instructions).  The same adders, the same tree for synthesis (yosys proves the
    // two forms equivalent: tests/test_rtl_mul_lut.py).
    function signed [PW-1:0] pterm;           // partial product k: b[k] * a * 2^k (negative for the sign bit)
        input signed [IBITS:0]   a;
        input signed [WBITS-1:0] b;
        input integer            k;
        begin
            if (k >= WBITS || !b[k % WBITS])
                pterm = 0;
            else
                pterm = (k == WBITS - 1) ? -(a <<< k) : (a <<< k);
        end
    endfunction
    function signed [PW-1:0] mul_lut;
        input signed [IBITS:0]   a;
        input signed [WBITS-1:0] b;
        reg signed [PW-1:0] s01, s23, s45, s67, s89, sab, scd, sef;
        begin
            s01 = pterm(a, b, 0) + pterm(a, b, 1);
            s23 = pterm(a, b, 2) + pterm(a, b, 3);
            s45 = pterm(a, b, 4) + pterm(a, b, 5);
            s67 = pterm(a, b, 6) + pterm(a, b, 7);
            s89 = pterm(a, b, 8) + pterm(a, b, 9);
            sab = pterm(a, b, 10) + pterm(a, b, 11);
            scd = pterm(a, b, 12) + pterm(a, b, 13);
            sef = pterm(a, b, 14) + pterm(a, b, 15);
            s01 = s01 + s23;
            s45 = s45 + s67;
            s89 = s89 + sab;
            scd = scd + sef;
            mul_lut = (s01 + s45) + (s89 + scd);
        end
    endfunction

    genvar gp, gs;
    generate
        if (USE_DSP == 2) begin : g_packed
            for (gp = 0; gp < PE / 2; gp = gp + 1) begin : g_pair
                for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_simd
                    wire signed [IBITS:0]        xa = ISIGNED ? {xm[gs*IBITS + IBITS - 1], xm[gs*IBITS +: IBITS]}
                                                              : {1'b0, xm[gs*IBITS +: IBITS]};
                    wire signed [WBITS-1:0]      w0 = wm[((2*gp)*SIMD + gs)*WBITS +: WBITS];
                    wire signed [WBITS-1:0]      w1h = wm[((2*gp + 1)*SIMD + gs)*WBITS +: WBITS];
                    wire signed [PW+WBITS-1:0]   wpk = (w1h <<< PW) + w0;
                    // the packed product is registered as the MULT18X18D gives it, split in the next cycle (the
                    // split's adder behind the multiplier was CNV 2W2A's Gemm_2 at 63.5 MHz, 5.7 ns logic)
                    reg  signed [IBITS+PW+WBITS:0] pk;
                    always @(posedge clk) pk <= xa * wpk;
                    wire signed [PW-1:0]         lo = pk[PW-1:0];
                    wire signed [IBITS+WBITS:0]  hi = (pk >>> PW) + $signed({1'b0, lo[PW-1]});
                    always @(posedge clk) begin
                        p2[((2*gp)*SIMD + gs)*PW +: PW]     <= lo;
                        p2[((2*gp + 1)*SIMD + gs)*PW +: PW] <= hi[PW-1:0];
                    end
                end
            end
        end else begin : g_unpacked
            for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
                // (one operand register xm for all PEs: a copy per PE, tried on LeNet-fmnist's LUT multipliers, cost
                // 9k LUT4 on the 85F -- synthesis no longer shares the equal products of PEs -- for no Fmax)
                for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_simd
                    wire signed [IBITS:0]   xa = ISIGNED ? {xm[gs*IBITS + IBITS - 1], xm[gs*IBITS +: IBITS]}
                                                         : {1'b0, xm[gs*IBITS +: IBITS]};
                    wire signed [WBITS-1:0] wb = wm[(gp*SIMD + gs)*WBITS +: WBITS];
                    if (USE_DSP) begin : g_dsp
                        always @(posedge clk)
                            p2[(gp*SIMD + gs)*PW +: PW] <= xa * wb;
                    end else begin : g_lut
                        always @(posedge clk)
                            p2[(gp*SIMD + gs)*PW +: PW] <= mul_lut(xa, wb);
                    end
                end
            end
        end
    endgenerate

    // A banked ROM's weights come a cycle later (its bank registers): the input waits for them one more cycle (x1d:
    // stage 1's input as the operand register takes it).  The flags and the bias wait at the end, in their delay
    // line beside the adder tree (FD).
    wire [XW-1:0] x1d;
    generate
        if (BANKED) begin : g_bankwait
            reg [XW-1:0] xb;
            always @(posedge clk)
                xb <= x1;
            assign x1d = xb;
        end else begin : g_bankwait
            assign x1d = x1;
        end
    endgenerate

    always @(posedge clk) begin
        if (issue && fold0)
            ibuf[sf] <= s_data;
        x1 <= x0;
        xm <= x1d;
        wm <= w1;
        b1 <= brom[nf];
        bm <= b1;
        b2 <= bm;
    end

    // ---- stage 3: the adder tree, TD register stages of 4:1 sums (each PE lane's SIMD products) ------------------
    // Sums are modulo 2^ABITS like the accumulator (exact: the final value fits).  The valid / first / last flags and
    // the bias ride along, so the tree adds latency, never cycles per vector.
    function integer groups;                  // values left after s stages of 4:1 sums
        input integer n, s;
        integer k;
        begin
            groups = n;
            for (k = 0; k < s; k = k + 1)
                groups = (groups + 3) / 4;
        end
    endfunction
    function integer tree_depth;
        input integer n;
        integer k;
        begin
            tree_depth = 0;
            for (k = n; k > 1; k = (k + 3) / 4)
                tree_depth = tree_depth + 1;
        end
    endfunction
    function integer tree_offset;             // where stage s's values start in `tree`
        input integer s;
        integer k;
        begin
            tree_offset = 0;
            for (k = 0; k < s; k = k + 1)
                tree_offset = tree_offset + PE * groups(SIMD, k) * ABITS;
        end
    endfunction
    localparam TD = tree_depth(SIMD);
    localparam TREE_BITS = tree_offset(TD + 1);

    wire [TREE_BITS-1:0] tree;
    genvar gt, gl, gg;
    generate
        for (gl = 0; gl < PE; gl = gl + 1) begin : g_leaf
            for (gg = 0; gg < SIMD; gg = gg + 1) begin : g_prod
                wire signed [ABITS-1:0] e = $signed(p2[(gl*SIMD + gg)*PW +: PW]);
                assign tree[(gl*SIMD + gg)*ABITS +: ABITS] = e;
            end
        end
        for (gt = 0; gt < TD; gt = gt + 1) begin : g_stage
            localparam NIN  = groups(SIMD, gt);
            localparam NOUT = groups(SIMD, gt + 1);
            localparam IOFF = tree_offset(gt);
            localparam OOFF = tree_offset(gt + 1);
            for (gl = 0; gl < PE; gl = gl + 1) begin : g_lane
                for (gg = 0; gg < NOUT; gg = gg + 1) begin : g_sum
                    reg [ABITS-1:0] r;
                    integer q;
                    reg [ABITS-1:0] sum;
                    always @* begin
                        sum = 0;
                        for (q = 4 * gg; q < 4 * gg + 4; q = q + 1)
                            if (q < NIN)
                                sum = sum + tree[IOFF + (gl*NIN + q)*ABITS +: ABITS];
                    end
                    always @(posedge clk)
                        r <= sum;
                    assign tree[OOFF + (gl*NOUT + gg)*ABITS +: ABITS] = r;
                end
            end
        end
    endgenerate

    // the flags and the bias, delayed through the tree's stages and the cycles the data spent besides (FD): a banked
    // ROM's bank registers, the packed products' register
    localparam FD = TD + BANKED + PKREG;
    wire [FD:0]               vt, ft, lt;
    wire [(FD+1)*PE*ABITS-1:0] bt;
    assign vt[0] = v2;
    assign ft[0] = first2;
    assign lt[0] = last2;
    assign bt[0 +: PE*ABITS] = b2;
    generate
        for (gt = 0; gt < FD; gt = gt + 1) begin : g_delay
            reg v, f, l;
            reg [PE*ABITS-1:0] b;
            always @(posedge clk) begin
                v <= vt[gt] && !rst;
                f <= ft[gt]; l <= lt[gt]; b <= bt[gt*PE*ABITS +: PE*ABITS];
            end
            assign vt[gt + 1] = v;
            assign ft[gt + 1] = f;
            assign lt[gt + 1] = l;
            assign bt[(gt + 1)*PE*ABITS +: PE*ABITS] = b;
        end
    endgenerate
    wire                va = vt[FD], fa = ft[FD], la = lt[FD];
    wire [PE*ABITS-1:0] ba = bt[FD*PE*ABITS +: PE*ABITS];

    // ---- stage 4: accumulator; at the last fold the sum goes into the output FIFO ---------------------------
    reg [PE*ABITS-1:0] acc, acc_next;
    integer i;
    always @* begin
        for (i = 0; i < PE; i = i + 1)
            acc_next[i*ABITS +: ABITS] = (fa ? ba[i*ABITS +: ABITS] : acc[i*ABITS +: ABITS])
                                         + tree[TREE_BITS - (PE - i)*ABITS +: ABITS];
    end

    // The output FIFO: words in flight = output words among LAT + 1 consecutive beats (LAT = 4 + TD cycles from
    // issue to the word's place in the FIFO and its pop, as cf_outbuf counts them, one more for a banked ROM and one
    // for packed products): one word in SF beats.
    localparam LAT       = 4 + TD + BANKED + PKREG;
    localparam IN_FLIGHT = (LAT + 1 + SF - 1) / SF;
    localparam OUT_DEPTH = ODEPTH + IN_FLIGHT - 1;
    cf_outbuf #(.WIDTH(PE * ABITS), .DEPTH(OUT_DEPTH)) u_outbuf (
        .clk(clk), .rst(rst),
        .issue(issue && last0), .room(room),
        .s_data(acc_next), .s_valid(va && la),
        .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready)
    );

    always @(posedge clk) begin
        if (va)
            acc <= acc_next;
        raddr <= raddr_next;
        first1 <= (sf == 0);
        last1 <= last0;
        firstm <= first1; lastm <= last1;
        first2 <= firstm; last2 <= lastm;
        if (rst) begin
            sf <= 0; nf <= 0; waddr <= 0; rslice <= 0;
            v1 <= 1'b0; vm <= 1'b0; v2 <= 1'b0;
        end else begin
            v1 <= issue;
            vm <= v1;
            v2 <= vm;
            if (issue) begin
                if (sf == SF - 1) begin
                    sf <= 0;
                    nf <= (nf == NF - 1) ? {BAW{1'b0}} : nf + 1'b1;
                end else
                    sf <= sf + 1'b1;
                waddr <= (waddr == WDEP - 1) ? {WAW{1'b0}} : waddr + 1'b1;
                if (waddr == WDEP - 1 || rslice == WPACK - 1)
                    rslice <= 0;
                else
                    rslice <= rslice + 1'b1;
            end
        end
    end
endmodule
