// convflow RTL library: cf_shift -- power-of-two re-quantisation: out = clip(round_half_even(x * 2^-SHIFT), LO, HI).
//
// SHIFT > 0 divides with round half to even (as QONNX ROUND and tf.round), SHIFT <= 0 is an exact left shift.
// Element-wise on L lanes; one output register (global enable).  Arithmetic is done in 64-bit signed, which holds
// every value the IR allows (the interpreter computes in int64); synthesis trims the unused bits.
module cf_shift #(
    parameter L       = 1,
    parameter IBITS   = 16,
    parameter ISIGNED = 1,
    parameter OBITS   = 8,
    parameter SHIFT   = 0,
    parameter signed [63:0] LO = 0,
    parameter signed [63:0] HI = 255
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
    localparam SR = (SHIFT > 0) ? SHIFT : 1;      // a legal shift amount when SHIFT <= 0 (branch unused)
    localparam SLEFT = (SHIFT < 0) ? -SHIFT : 0;

    reg               out_valid;
    reg [L*OBITS-1:0] out_data, result;
    wire en = !out_valid || m_ready;
    assign s_ready = en;
    assign m_valid = out_valid;
    assign m_data  = out_data;

    reg signed [63:0] x, fl, rem, r;
    integer l;
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            if (ISIGNED)
                x = $signed(s_data[l*IBITS +: IBITS]);
            else
                x = {{(64 - IBITS){1'b0}}, s_data[l*IBITS +: IBITS]};
            if (SHIFT > 0) begin
                fl  = x >>> SR;
                rem = x - (fl <<< SR);
                r = fl;
                if (rem > (64'sd1 <<< (SR - 1)) || (rem == (64'sd1 <<< (SR - 1)) && fl[0]))
                    r = fl + 64'sd1;
            end else
                r = x <<< SLEFT;
            if (r < LO)
                r = LO;
            if (r > HI)
                r = HI;
            result[l*OBITS +: OBITS] = r[OBITS-1:0];
        end
    end

    always @(posedge clk) begin
        if (rst)
            out_valid <= 1'b0;
        else if (en) begin
            out_valid <= s_valid;
            out_data <= result;
        end
    end
endmodule
