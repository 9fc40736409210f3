// convflow RTL library: cf_dwmvu -- the depthwise vector unit (a depthwise convolution after cf_swg).
//
// For every output pixel the window arrives as KK positions x C channels in cf_swg's (ky, kx, c) order, in beats of
// SIMD channels: beat k*CF + cf carries channels cf*SIMD .. cf*SIMD + SIMD - 1 of window position k (CF = C / SIMD).
// Each channel has its own KK-tap filter: out[c] = bias[c] + sum_k x[k][c] * w[k][c].  The C accumulators live in a
// bank of CF words of SIMD lanes; during the last window position each group is complete as it is updated, so the
// output beat cf (SIMD lanes, NHWC channel order) leaves right away: one beat in per cycle, KK * CF cycles a pixel.
//
// Weight ROM: KK*CF words of SIMD*WBITS bits, word k*CF + cf, lane s = w[k][cf*SIMD + s] (two's complement).  Bias
// ROM: CF words of SIMD*ABITS bits.  Pipeline as cf_mvu: stage 1 operands registered, stage 2 products registered,
// stage 3 accumulate (reading and writing the bank in the same stage, so back-to-back updates of one group need no
// forwarding).  Accumulation is modulo 2^ABITS, exact because the final value fits ABITS.
module cf_dwmvu #(
    parameter SIMD    = 1,
    parameter KK      = 9,        // window positions
    parameter CF      = 1,        // channel groups: C / SIMD
    parameter IBITS   = 8,
    parameter ISIGNED = 0,
    parameter WBITS   = 8,
    parameter ABITS   = 24,
    parameter USE_DSP = 1,
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

    // ---- stage 0: position and group counters ---------------------------------------------------------
    reg [KAW-1:0] k;
    reg [CAW-1:0] cf;
    reg [WAW-1:0] waddr;
    reg           out_valid;
    wire en    = !out_valid || m_ready;
    wire issue = en && s_valid;
    assign s_ready = en;

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
        if (en) begin
            x1 <= s_data;
            w1 <= wrom[waddr];
            b1 <= brom[cf];
            p2 <= prod;
            b2 <= b1;
            cf1 <= cf;
            cf2 <= cf1;
        end
    end

    // ---- stage 3: the accumulator bank -------------------------------------------------------------------
    reg [SIMD*ABITS-1:0] bank [0:CF-1];
    reg [SIMD*ABITS-1:0] sum, out_data;
    reg signed [ABITS-1:0] lane;
    integer i;
    always @* begin
        for (i = 0; i < SIMD; i = i + 1) begin
            lane = first2 ? b2[i*ABITS +: ABITS] : bank[cf2][i*ABITS +: ABITS];
            sum[i*ABITS +: ABITS] = lane + $signed(p2[i*PW +: PW]);
        end
    end

    assign m_valid = out_valid;
    assign m_data  = out_data;

    always @(posedge clk) begin
        if (en && v2)
            bank[cf2] <= sum;
        if (rst) begin
            k <= 0; cf <= 0; waddr <= 0;
            v1 <= 1'b0; v2 <= 1'b0; out_valid <= 1'b0;
            first1 <= 1'b0; first2 <= 1'b0; last1 <= 1'b0; last2 <= 1'b0;
        end else if (en) begin
            v1 <= issue;
            first1 <= (k == 0);
            last1 <= (k == KK - 1);
            v2 <= v1; first2 <= first1; last2 <= last1;
            out_valid <= v2 && last2;
            if (v2 && last2)
                out_data <= sum;
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
