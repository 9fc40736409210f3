// convflow RTL library: cf_dwmvu -- the depthwise vector unit (a depthwise convolution after cf_swg).
//
// For every output pixel the window arrives as KK positions x C channels in cf_swg's (ky, kx, c) order, in beats of
// SIMD channels: beat k*CF + cf carries channels cf*SIMD .. cf*SIMD + SIMD - 1 of window position k (CF = C / SIMD).
// Each channel has its own KK-tap filter: out[c] = bias[c] + sum_k x[k][c] * w[k][c].  The C accumulators live in a
// bank of CF words of SIMD lanes; during the last window position each group is complete as it is updated, so the
// output beat cf (SIMD lanes, NHWC channel order) leaves right away: one beat in per cycle, KK * CF cycles a pixel.
//
// Weight ROM: KK*CF words of SIMD*WBITS bits, word k*CF + cf, lane s = w[k][cf*SIMD + s] (two's complement).  Bias
// ROM: CF words of SIMD*ABITS bits.  Pipeline as cf_mvu (free-running, a cycle without a beat travels as valid = 0):
// stage 1 operands registered, stage 2 products registered, stage 3 accumulate (reading and writing the bank in the
// same stage, so back-to-back updates of one group need no forwarding).  Accumulation is modulo 2^ABITS, exact
// because the final value fits ABITS.  Back-pressure as cf_mvu: a beat of the last window position (it makes an
// output word) is issued only while the output FIFO (cf_outbuf) has room for its word; the others always go.
module cf_dwmvu #(
    parameter SIMD    = 1,
    parameter KK      = 9,        // window positions
    parameter CF      = 1,        // channel groups: C / SIMD
    parameter IBITS   = 8,
    parameter ISIGNED = 0,
    parameter WBITS   = 8,
    parameter ABITS   = 24,
    parameter USE_DSP = 1,
    parameter ODEPTH  = 2,        // the output stream's FIFO depth in the plan (OUT_DEPTH adds the words in flight)
    parameter WFILE   = "",
    parameter BFILE   = ""
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [SIMD*IBITS-1:0] s_data,
    input  wire                  s_valid,
    output wire                  s_ready,
    output wire [SIMD*ABITS-1:0] m_data,
    output wire                  m_valid,
    input  wire                  m_ready
);
    localparam WWORD = SIMD * WBITS;
    localparam PW    = IBITS + 1 + WBITS;
    localparam WDEP  = KK * CF;
    localparam WAW   = (WDEP <= 2) ? 1 : $clog2(WDEP);
    localparam CAW   = (CF <= 2) ? 1 : $clog2(CF);
    localparam KAW   = (KK <= 2) ? 1 : $clog2(KK);

    reg [WWORD-1:0]      wrom [0:WDEP-1];
    reg [SIMD*ABITS-1:0] brom [0:CF-1];
    initial begin
        if (WFILE != "")
            $readmemh(WFILE, wrom);
        if (BFILE != "")
            $readmemh(BFILE, brom);
    end

    // ---- stage 0: position and group counters, and the issue of a beat -----------------------------------------
    reg [KAW-1:0] k;
    reg [CAW-1:0] cf;
    reg [WAW-1:0] waddr;
    wire room;                        // cf_outbuf: the output word of a beat issued now has its place
    wire last0 = (k == KK - 1);       // the last window position: each beat makes an output word
    assign s_ready = room || !last0;
    wire issue = s_ready && s_valid;

    // ---- stage 1 / 2 -----------------------------------------------------------------------------------
    reg                  v1, v2, first1, first2, last1, last2;
    reg [CAW-1:0]        cf1, cf2;
    reg [SIMD*IBITS-1:0] x1;
    reg [WWORD-1:0]      w1;
    reg [SIMD*ABITS-1:0] b1, b2;
    wire [SIMD*PW-1:0]   prod;
    reg  [SIMD*PW-1:0]   p2;

    function signed [PW-1:0] mul_lut;
        input signed [IBITS:0]   a;
        input signed [WBITS-1:0] b;
        integer j;
        reg signed [PW-1:0] sum;
        begin
            sum = 0;
            for (j = 0; j < WBITS - 1; j = j + 1)
                if (b[j])
                    sum = sum + (a <<< j);
            if (b[WBITS-1])
                sum = sum - (a <<< (WBITS - 1));
            mul_lut = sum;
        end
    endfunction

    genvar gs;
    generate
        for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_lane
            wire signed [IBITS:0]   xa = ISIGNED ? {x1[gs*IBITS + IBITS - 1], x1[gs*IBITS +: IBITS]}
                                                 : {1'b0, x1[gs*IBITS +: IBITS]};
            wire signed [WBITS-1:0] wb = w1[gs*WBITS +: WBITS];
            if (USE_DSP) begin : g_dsp
                assign prod[gs*PW +: PW] = xa * wb;
            end else begin : g_lut
                assign prod[gs*PW +: PW] = mul_lut(xa, wb);
            end
        end
    endgenerate

    always @(posedge clk) begin
        x1 <= s_data;
        w1 <= wrom[waddr];
        b1 <= brom[cf];
        p2 <= prod;
        b2 <= b1;
        cf1 <= cf;
        cf2 <= cf1;
    end

    // ---- stage 3: the accumulator bank -------------------------------------------------------------------
    reg [SIMD*ABITS-1:0] bank [0:CF-1];
    reg [SIMD*ABITS-1:0] sum;
    reg signed [ABITS-1:0] lane;
    integer i;
    always @* begin
        for (i = 0; i < SIMD; i = i + 1) begin
            lane = first2 ? b2[i*ABITS +: ABITS] : bank[cf2][i*ABITS +: ABITS];
            sum[i*ABITS +: ABITS] = lane + $signed(p2[i*PW +: PW]);
        end
    end

    // The output FIFO: words in flight = output words among LAT + 1 consecutive beats (LAT = 3 cycles from issue
    // to the word's place in the FIFO and its pop, as cf_outbuf counts them).  The output beats come in runs of CF
    // (the last window position) every KK*CF beats: at most full periods * CF + min(CF, the rest).
    localparam LAT       = 3;
    localparam PERIOD    = KK * CF;
    localparam IN_FLIGHT = (LAT + 1) / PERIOD * CF + (((LAT + 1) % PERIOD < CF) ? (LAT + 1) % PERIOD : CF);
    localparam OUT_DEPTH = ODEPTH + IN_FLIGHT - 1;
    cf_outbuf #(.WIDTH(SIMD * ABITS), .DEPTH(OUT_DEPTH)) u_outbuf (
        .clk(clk), .rst(rst),
        .issue(issue && last0), .room(room),
        .s_data(sum), .s_valid(v2 && last2),
        .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready)
    );

    always @(posedge clk) begin
        if (v2)
            bank[cf2] <= sum;
        first1 <= (k == 0);
        last1 <= last0;
        first2 <= first1; last2 <= last1;
        if (rst) begin
            k <= 0; cf <= 0; waddr <= 0;
            v1 <= 1'b0; v2 <= 1'b0;
        end else begin
            v1 <= issue;
            v2 <= v1;
            if (issue) begin
                if (cf == CF - 1) begin
                    cf <= 0;
                    k <= (k == KK - 1) ? {KAW{1'b0}} : k + 1'b1;
                end else
                    cf <= cf + 1'b1;
                waddr <= (waddr == WDEP - 1) ? {WAW{1'b0}} : waddr + 1'b1;
            end
        end
    end
endmodule
