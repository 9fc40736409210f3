// convflow RTL library: cf_concat -- channel concatenation of two streams (NHWC): for every pixel, the AF words of
// a (its CA = AF * L channels), then the BF words of b (CB = BF * L channels).
//
// Both inputs carry L lanes; a word counter says which input the next output word comes from, so each input is
// read only while its channels are due (the other one waits: the FIFOs behind the forks feeding the two branches
// are sized for that by the compiler).  Elements are sign- or zero-extended to OBITS.  One output register with a
// global enable.
module cf_concat #(
    parameter L       = 1,
    parameter AF      = 1,      // words of a per pixel
    parameter BF      = 1,      // words of b per pixel
    parameter ABITS   = 8,
    parameter ASIGNED = 1,
    parameter BBITS   = 8,
    parameter BSIGNED = 1,
    parameter OBITS   = 8
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
    localparam CW = (AF + BF) > 1 ? $clog2(AF + BF) : 1;

    reg [CW-1:0]      word;             // position of the next output word within the pixel
    reg               out_valid;
    reg [L*OBITS-1:0] out_data, extended;
    wire from_a = word < AF;
    wire en     = !out_valid || m_ready;
    wire take   = en && (from_a ? a_valid : b_valid);
    assign a_ready = en && from_a;
    assign b_ready = en && !from_a;
    assign m_valid = out_valid;
    assign m_data  = out_data;

    integer l;
    always @* begin
        for (l = 0; l < L; l = l + 1) begin
            if (from_a)
                extended[l*OBITS +: OBITS] = ASIGNED ? {{OBITS{a_data[l*ABITS + ABITS - 1]}}, a_data[l*ABITS +: ABITS]}
                                                     : {{OBITS{1'b0}}, a_data[l*ABITS +: ABITS]};
            else
                extended[l*OBITS +: OBITS] = BSIGNED ? {{OBITS{b_data[l*BBITS + BBITS - 1]}}, b_data[l*BBITS +: BBITS]}
                                                     : {{OBITS{1'b0}}, b_data[l*BBITS +: BBITS]};
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            word <= 0;
        end else if (en) begin
            out_valid <= take;
            if (take) begin
                out_data <= extended;
                word <= (word == AF + BF - 1) ? 0 : word + 1'b1;
            end
        end
    end
endmodule
