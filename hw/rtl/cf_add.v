// convflow RTL library: cf_add -- element-wise out = a * MUL_A + b * MUL_B of two streams (residual Add).
//
// Both inputs carry L lanes of the same elements (same NHWC order); a beat is consumed from both at once.  The
// constant multipliers bring both operands to the output scale; they are built as shifts and adds (no DSP).
// One output register with a global enable.
module cf_add #(
    parameter L       = 1,
    parameter ABITS   = 8,
    parameter ASIGNED = 1,
    parameter BBITS   = 8,
    parameter BSIGNED = 1,
    parameter OBITS   = 9,
    parameter MUL_A   = 1,
    parameter MUL_B   = 1
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [L*ABITS-1:0] a_data,
    input  wire               a_valid,
    output wire               a_ready,
    input  wire [L*BBITS-1:0] b_data,
    input  wire               b_valid,
    output wire               b_ready,
    output wire [L*OBITS-1:0] m_data,
    output wire               m_valid,
    input  wire               m_ready
);
    // x * c for a constant c (either sign) as shifts and adds, in 64-bit two's complement
    function signed [63:0] mulc;
        input signed [63:0] x;
        input integer c;
        integer k;
        reg [31:0] mag;
        reg signed [63:0] sum;
        begin
            mag = (c < 0) ? -c : c;
            sum = 0;
            for (k = 0; k < 32; k = k + 1)
                if (mag[k])
                    sum = sum + (x <<< k);
            mulc = (c < 0) ? -sum : sum;
        end
    endfunction

    reg               out_valid;
    reg [L*OBITS-1:0] out_data, result;
    wire en   = !out_valid || m_ready;
    wire fire = en && a_valid && b_valid;
    assign a_ready = en && b_valid;
    assign b_ready = en && a_valid;
    assign m_valid = out_valid;
    assign m_data  = out_data;

    reg signed [63:0] av, bv, r;
    integer l;
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            if (ASIGNED)
                av = $signed(a_data[l*ABITS +: ABITS]);
            else
                av = {{(64 - ABITS){1'b0}}, a_data[l*ABITS +: ABITS]};
            if (BSIGNED)
                bv = $signed(b_data[l*BBITS +: BBITS]);
            else
                bv = {{(64 - BBITS){1'b0}}, b_data[l*BBITS +: BBITS]};
            r = mulc(av, MUL_A) + mulc(bv, MUL_B);
            result[l*OBITS +: OBITS] = r[OBITS-1:0];
        end
    end

    always @(posedge clk) begin
        if (rst)
            out_valid <= 1'b0;
        else if (en) begin
            out_valid <= a_valid && b_valid;
            if (a_valid && b_valid)
                out_data <= result;
        end
    end
endmodule
