// convflow RTL library: cf_rep -- a register of its own: a copy of a value that fans out too far.
//
// A unit whose register drives hundreds of loads spread over a large area (cf_mvu's operand vector, broadcast to
// every PE's multipliers in LUTs) gives each group of loads its own copy through this module.  Synthesis merges
// registers that hold the same value; keep_hierarchy keeps each copy in its own instance, where that merge cannot
// reach (yosys synth_ecp5: 40 flip-flops for 4 copies of 8 bits behind one 8-bit register, 16 without it).
// LeNet-fmnist's Conv_1 on the ULX3S-85F: the operand net to 16 PEs x 40 multipliers was 14 ns of routing.
(* keep_hierarchy *)
module cf_rep #(
    parameter W = 1
) (
    input  wire         clk,
    input  wire [W-1:0] d,
    output reg  [W-1:0] q
);
    always @(posedge clk)
        q <= d;
endmodule
