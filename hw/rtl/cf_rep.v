// convflow RTL library: cf_rep -- a register of its own: a copy of a value that fans out too far.
//
// A register whose loads are spread over a large area gets a copy per group of loads through this module: the
// address of each PE's part of a split logic ROM (cf_mvu), the reset of each stage (the generated top).  Synthesis
// merges registers that hold the same value; keep_hierarchy keeps each copy in its own instance, where that merge
// cannot reach (yosys synth_ecp5: 40 flip-flops for 4 copies of 8 bits behind one 8-bit register, 16 without it).
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
