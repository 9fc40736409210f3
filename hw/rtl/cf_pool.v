// convflow RTL library: cf_pool -- window reduction for MaxPool and SumPool, after a cf_swg.
//
// Input : windows from cf_swg, each KK = KH*KW positions of CF = C/L beats (L lanes of channel cf*L + lane).
// Output: per window CF beats, lane = max (MODE 0) or sum (MODE 1) over the KK positions of that channel.
// A bank of CF partial results (one per channel group) is updated as positions arrive; the last position sends
// the result to the output register instead.  Values are compared / added in XW-bit signed arithmetic.
module cf_pool #(
    parameter L       = 1,
    parameter CF      = 1,
    parameter KK      = 4,
    parameter IBITS   = 8,
    parameter ISIGNED = 0,
    parameter OBITS   = 8,
    parameter MODE    = 0         // 0 = max, 1 = sum
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
    localparam XW  = ((IBITS > OBITS) ? IBITS : OBITS) + 1;
    localparam CW  = (CF <= 2) ? 1 : $clog2(CF);
    localparam KWD = (KK <= 2) ? 1 : $clog2(KK);

    reg [L*XW-1:0]    bank [0:CF-1];
    reg [CW-1:0]      cf;
    reg [KWD-1:0]     k;
    reg               out_valid;
    reg [L*OBITS-1:0] out_data, result;
    reg [L*XW-1:0]    merged;

    wire en = !out_valid || m_ready;
    assign s_ready = en;
    assign m_valid = out_valid;
    assign m_data  = out_data;
    wire fire = en && s_valid;

    reg signed [XW-1:0] xe, prev, nv;
    integer l;
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            if (ISIGNED)
                xe = $signed(s_data[l*IBITS +: IBITS]);
            else
                xe = {1'b0, s_data[l*IBITS +: IBITS]};
            prev = bank[cf][l*XW +: XW];
            if (k == 0)
                nv = xe;
            else if (MODE == 0)
                nv = (xe > prev) ? xe : prev;
            else
                nv = prev + xe;
            merged[l*XW +: XW] = nv;
            result[l*OBITS +: OBITS] = nv[OBITS-1:0];
        end
    end

    always @(posedge clk) begin
        if (fire)
            bank[cf] <= merged;
        if (rst) begin
            cf <= 0;
            k <= 0;
            out_valid <= 1'b0;
        end else if (en) begin
            out_valid <= s_valid && (k == KK - 1);
            out_data <= result;
            if (s_valid) begin
                if (cf == CF - 1) begin
                    cf <= 0;
                    k <= (k == KK - 1) ? {KWD{1'b0}} : k + 1'b1;
                end else
                    cf <= cf + 1'b1;
            end
        end
    end
endmodule
