// convflow RTL library: cf_thresh -- multi-threshold activation (re-quantisation, folded BatchNorm, ReLU).
//
// out[c] = OBASE + #{ j : x[c] >= T[c][j] }  for N thresholds per channel.  The stream carries L lanes of
// channel c = g*L + lane in beat g (g = 0 .. C/L-1, then repeating for the next pixel).
// Threshold ROM: C/L words of L*N*TBITS bits, lane l / threshold j at bits [(l*N + j)*TBITS +: TBITS], signed;
// the compiler clips thresholds to [min(x), max(x)+1] so TBITS = the input bits + 1 or 2 always suffices.
// Pipeline: stage 1 registers x and the channel group's thresholds (ROM read), stage 2 compares and registers the
// N comparison bits, stage 3 counts them into the output register (global enable en = !m_valid || m_ready; the
// compares and the count in one cycle were a critical path at 65 MHz).
module cf_thresh #(
    parameter L       = 1,
    parameter C       = 1,        // channels (multiple of L)
    parameter N       = 1,        // thresholds per channel
    parameter IBITS   = 16,
    parameter ISIGNED = 1,
    parameter TBITS   = 18,
    parameter OBITS   = 4,
    parameter OBASE   = 0,
    parameter TFILE   = ""        // set by the generated top ("" leaves the ROM empty)
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [L*IBITS-1:0] s_data,
    input  wire               s_valid,
    output wire               s_ready,
    output wire [L*OBITS-1:0] m_data,
    output wire               m_valid,
    input  wire               m_ready
);
    localparam G  = C / L;
    localparam GW = (G <= 2) ? 1 : $clog2(G);
    localparam TW = L * N * TBITS;

    reg [TW-1:0] trom [0:G-1];
    initial
        if (TFILE != "")
            $readmemh(TFILE, trom);

    reg [GW-1:0]      g;
    reg               v1, v2, out_valid;
    reg [L*N-1:0]     ge2;
    reg [L*IBITS-1:0] x1;
    reg [TW-1:0]      t1;
    reg [L*OBITS-1:0] out_data, result;

    wire en = !out_valid || m_ready;
    assign s_ready = en;
    assign m_valid = out_valid;
    assign m_data  = out_data;

    reg signed [TBITS-1:0] xe;
    reg [L*N-1:0]          ge;
    reg [31:0]             count;
    integer l, j;
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            if (ISIGNED)
                xe = $signed(x1[l*IBITS +: IBITS]);
            else
                xe = x1[l*IBITS +: IBITS];
            for (j = 0; j < N; j = j + 1)
                ge[l*N + j] = (xe >= $signed(t1[(l*N + j)*TBITS +: TBITS]));
        end
    end
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            count = OBASE;
            for (j = 0; j < N; j = j + 1)
                count = count + ge2[l*N + j];
            result[l*OBITS +: OBITS] = count[OBITS-1:0];
        end
    end

    always @(posedge clk) begin
        if (en) begin
            x1 <= s_data;
            t1 <= trom[g];
            ge2 <= ge;
        end
        if (rst) begin
            g <= 0;
            v1 <= 1'b0;
            v2 <= 1'b0;
            out_valid <= 1'b0;
        end else if (en) begin
            v1 <= s_valid;
            v2 <= v1;
            out_valid <= v2;
            out_data <= result;
            if (s_valid)
                g <= (g == G - 1) ? {GW{1'b0}} : g + 1'b1;
        end
    end
endmodule
