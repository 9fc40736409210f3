// convflow RTL library: cf_outbuf -- the output FIFO of a free-running pipelined unit, and the credit that keeps
// it from overflowing (cf_mvu, cf_xnor_mvu, cf_dwmvu).
//
// Why: those units used to stall by freezing every pipeline register with one enable, en = !m_valid || m_ready,
// m_ready being the next FIFO's fill level.  On LeNet-fmnist folded for the ECP5-85F that net reached the clock
// enable of more than 1,000 flip-flops of one unit and was the critical path: 0.76 ns of logic and 18.27 ns of
// routing (14.9 ns on that one net), 52.6 MHz.  Now the pipeline runs free (a beat nobody issued travels as
// valid = 0) and only the issue of new work waits: the unit issues a beat that produces an output word only while
// `room` is 1, and every word it issues has its place in this FIFO before it leaves the pipeline, so the FIFO never
// has to refuse one (its s_ready is not needed).
//
// `used` counts the words issued and not yet taken by the consumer (in the pipeline or stored here); room is
// registered: room = (used < DEPTH) for the coming cycle, from this cycle's issue and pop.  So neither m_ready nor
// s_valid of the unit reaches more than this counter, and the unit's s_ready comes from a register.  A unit that is
// never back-pressured keeps issuing a word every cycle it may when DEPTH >= the most words it can have counted at
// once (its words in flight, `most words in LAT + 1 beats`: each unit's own function); the unit sizes DEPTH so.
// m_valid and m_data come from cf_fifo (its fill level), so this output, like every FIFO's, breaks the
// combinational valid/ready path to the next stage.
module cf_outbuf #(
    parameter WIDTH = 8,
    parameter DEPTH = 2         // words (>= 1)
) (
    input  wire             clk,
    input  wire             rst,          // synchronous, active high
    input  wire             issue,        // a beat that will produce an output word was issued this cycle
    output reg              room,         // a word issued this cycle has its place (registered)
    input  wire [WIDTH-1:0] s_data,       // the word leaving the pipeline; never refused
    input  wire             s_valid,
    output wire [WIDTH-1:0] m_data,
    output wire             m_valid,
    input  wire             m_ready
);
    localparam CW = $clog2(DEPTH + 1);

    cf_fifo #(.WIDTH(WIDTH), .DEPTH(DEPTH)) u_fifo (
        .clk(clk), .rst(rst),
        .s_data(s_data), .s_valid(s_valid), .s_ready(),
        .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready)
    );

    reg  [CW-1:0] used;
    wire          pop       = m_valid && m_ready;
    wire [CW-1:0] used_next = used + issue - pop;       // (CW bits: issue and pop are zero-extended)
    always @(posedge clk) begin
        if (rst) begin
            used <= 0;
            room <= 1'b1;
        end else begin
            used <= used_next;
            room <= (used_next < DEPTH);
        end
    end
endmodule
