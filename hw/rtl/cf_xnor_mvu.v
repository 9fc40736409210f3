// convflow RTL library: cf_xnor_mvu -- the matrix-vector unit of a binarised layer (XNOR and popcount).
//
// The input elements are the bits b of a bipolar tensor (values 2b - 1), the weights are +WSTEP or -WSTEP, kept
// as their sign bits s (1: +WSTEP).  Then sum_r b[r] * w[r][o] = WSTEP * (popcount(xnor(b, s)) + P[o] - MH): an
// XNOR and a popcount per weight bit instead of a multiplier, and one constant multiply per output.  The compiler
// folds WSTEP * (P[o] - MH) into the bias ROM, so out[o] = bias'[o] + WSTEP * popcount over the vector.
//
// Folding, the input buffer, the ROM layout (one bit per weight: word nf*SF + sf, bit pe*SIMD + s), the
// free-running pipeline and the output FIFO with its credit (cf_outbuf: the last beat of a vector is issued only
// while its word has a place) are those of cf_mvu; stage 2 registers a popcount of SIMD bits per PE instead of
// PE*SIMD products, and the accumulator is stage 3.
module cf_xnor_mvu #(
    parameter SIMD  = 1,
    parameter PE    = 1,
    parameter SF    = 1,          // input beats per vector  (MH / SIMD)
    parameter NF    = 1,          // output beats per vector (MW / PE)
    parameter WSTEP = 1,          // every weight is +WSTEP or -WSTEP
    parameter ABITS = 16,         // output element bits (signed)
    parameter ODEPTH = 2,         // the output stream's FIFO depth in the plan (OUT_DEPTH adds the words in flight)
    parameter WFILE = "",
    parameter BFILE = ""
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [SIMD-1:0]     s_data,
    input  wire                s_valid,
    output wire                s_ready,
    output wire [PE*ABITS-1:0] m_data,
    output wire                m_valid,
    input  wire                m_ready
);
    localparam WWORD = PE * SIMD;
    localparam WDEP  = NF * SF;
    localparam WAW   = (WDEP <= 2) ? 1 : $clog2(WDEP);
    localparam BAW   = (NF <= 2) ? 1 : $clog2(NF);
    localparam SAW   = (SF <= 2) ? 1 : $clog2(SF);
    localparam PCW   = $clog2(SIMD + 1);            // popcount of one beat
    localparam CW    = $clog2(SF * SIMD + 1);       // popcount of a whole vector

    reg [WWORD-1:0]    wrom [0:WDEP-1];
    reg [PE*ABITS-1:0] brom [0:NF-1];
    initial begin
        if (WFILE != "")
            $readmemh(WFILE, wrom);
        if (BFILE != "")
            $readmemh(BFILE, brom);
    end

    reg [SIMD-1:0] ibuf [0:SF-1];

    // ---- stage 0: fold counters, and the issue of a beat ------------------------------------------------------
    reg [SAW-1:0] sf;
    reg [BAW-1:0] nf;
    reg [WAW-1:0] waddr;
    wire room;                        // cf_outbuf: the output word of a beat issued now has its place
    wire fold0   = (nf == 0);
    wire last0   = (sf == SF - 1);    // this beat ends a vector: it makes an output word
    wire go      = room || !last0;
    assign s_ready = go && fold0;
    wire issue   = go && (!fold0 || s_valid);
    wire [SIMD-1:0] x0 = fold0 ? s_data : ibuf[sf];

    // ---- stage 1 / 2: operands, then one popcount per PE --------------------------------------------------
    reg               v1, first1, last1, v2, first2, last2;
    reg [SIMD-1:0]     x1;
    reg [WWORD-1:0]    w1;
    reg [PE*ABITS-1:0] b1, b2;
    reg [PE*PCW-1:0]   pc2, pc;
    integer i, j;
    always @* begin
        for (i = 0; i < PE; i = i + 1) begin
            pc[i*PCW +: PCW] = 0;
            for (j = 0; j < SIMD; j = j + 1)
                pc[i*PCW +: PCW] = pc[i*PCW +: PCW] + {{(PCW - 1){1'b0}}, ~(x1[j] ^ w1[i*SIMD + j])};
        end
    end

    always @(posedge clk) begin
        if (issue && fold0)
            ibuf[sf] <= s_data;
        x1 <= x0;
        w1 <= wrom[waddr];
        b1 <= brom[nf];
        pc2 <= pc;
        b2 <= b1;
    end

    // ---- stage 3: popcount accumulator; at the last fold bias' + WSTEP * count goes into the output FIFO ---------
    reg [PE*CW-1:0]    acc, acc_next;
    reg [PE*ABITS-1:0] result;
    reg signed [63:0]  scaled;
    integer k, l;
    always @* begin
        for (k = 0; k < PE; k = k + 1) begin
            acc_next[k*CW +: CW] = (first2 ? {CW{1'b0}} : acc[k*CW +: CW])
                                   + {{(CW - PCW){1'b0}}, pc2[k*PCW +: PCW]};
            scaled = 0;
            for (l = 0; l < 32; l = l + 1)       // WSTEP * count as shifts and adds (WSTEP is a constant)
                if (WSTEP[l])
                    scaled = scaled + ({{(64 - CW){1'b0}}, acc_next[k*CW +: CW]} << l);
            result[k*ABITS +: ABITS] = b2[k*ABITS +: ABITS] + scaled[ABITS-1:0];
        end
    end

    // The output FIFO: words in flight = output words among LAT + 1 consecutive beats (LAT = 3 cycles from issue
    // to the word's place in the FIFO and its pop, as cf_outbuf counts them): one word in SF beats.
    localparam LAT       = 3;
    localparam IN_FLIGHT = (LAT + 1 + SF - 1) / SF;
    localparam OUT_DEPTH = ODEPTH + IN_FLIGHT - 1;
    cf_outbuf #(.WIDTH(PE * ABITS), .DEPTH(OUT_DEPTH)) u_outbuf (
        .clk(clk), .rst(rst),
        .issue(issue && last0), .room(room),
        .s_data(result), .s_valid(v2 && last2),
        .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready)
    );

    always @(posedge clk) begin
        if (v2)
            acc <= acc_next;
        first1 <= (sf == 0);
        last1 <= last0;
        first2 <= first1; last2 <= last1;
        if (rst) begin
            sf <= 0; nf <= 0; waddr <= 0;
            v1 <= 1'b0; v2 <= 1'b0;
        end else begin
            v1 <= issue;
            v2 <= v1;
            if (issue) begin
                if (sf == SF - 1) begin
                    sf <= 0;
                    nf <= (nf == NF - 1) ? {BAW{1'b0}} : nf + 1'b1;
                end else
                    sf <= sf + 1'b1;
                waddr <= (waddr == WDEP - 1) ? {WAW{1'b0}} : waddr + 1'b1;
            end
        end
    end
endmodule
