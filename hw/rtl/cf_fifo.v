// convflow RTL library: cf_fifo -- synchronous first-word-fall-through FIFO on a valid/ready stream.
//
// Sits between dataflow stages: s_ready depends only on the fill level and m_valid only on the fill level, so a
// FIFO breaks every combinational valid/ready path between two stages.  DEPTH >= 2 keeps a full-rate stream
// flowing (one beat per cycle) even though s_ready is registered.  Verilog-2005 (yosys + Verilator).
module cf_fifo #(
    parameter WIDTH = 8,        // bits per beat
    parameter DEPTH = 2         // entries (any value >= 1)
) (
    input  wire             clk,
    input  wire             rst,          // synchronous, active high
    input  wire [WIDTH-1:0] s_data,
    input  wire             s_valid,
    output wire             s_ready,
    output wire [WIDTH-1:0] m_data,
    output wire             m_valid,
    input  wire             m_ready
);
    localparam AW = (DEPTH <= 2) ? 1 : $clog2(DEPTH);

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0]    wp, rp;
    reg [AW:0]      count;

    assign s_ready = (count != DEPTH);
    assign m_valid = (count != 0);
    assign m_data  = mem[rp];

    wire push = s_valid && s_ready;
    wire pop  = m_valid && m_ready;

    always @(posedge clk) begin
        if (push)
            mem[wp] <= s_data;
    end

    always @(posedge clk) begin
        if (rst) begin
            wp <= 0;
            rp <= 0;
            count <= 0;
        end else begin
            if (push)
                wp <= (wp == DEPTH - 1) ? {AW{1'b0}} : wp + 1'b1;
            if (pop)
                rp <= (rp == DEPTH - 1) ? {AW{1'b0}} : rp + 1'b1;
            if (push && !pop)
                count <= count + 1'b1;
            else if (pop && !push)
                count <= count - 1'b1;
        end
    end
endmodule
