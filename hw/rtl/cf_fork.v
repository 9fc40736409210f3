// convflow RTL library: cf_fork -- duplicates one valid/ready stream into two (a tensor read by two layers).
//
// A beat is taken when both outputs can accept it, and offered to each output only when the other one is ready
// too, so both copies see exactly the same beats in the same order.  The generated top puts a FIFO after each
// output (the one feeding an Add directly holds a whole frame), which also keeps these ready -> valid paths short.
module cf_fork #(
    parameter WIDTH = 8
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [WIDTH-1:0] s_data,
    input  wire             s_valid,
    output wire             s_ready,
    output wire [WIDTH-1:0] m0_data,
    output wire             m0_valid,
    input  wire             m0_ready,
    output wire [WIDTH-1:0] m1_data,
    output wire             m1_valid,
    input  wire             m1_ready
);
    assign s_ready  = m0_ready && m1_ready;
    assign m0_data  = s_data;
    assign m1_data  = s_data;
    assign m0_valid = s_valid && m1_ready;
    assign m1_valid = s_valid && m0_ready;
endmodule
