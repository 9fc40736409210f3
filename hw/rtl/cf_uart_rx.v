// cf_uart_rx: 8N1 UART receiver (convflow board top).
// One start bit, 8 data bits LSB first, one stop bit; no parity.  The line is
// synchronised through two flip-flops, a start bit is accepted when it is still
// low half a bit after the falling edge (glitch filter), every bit is sampled in
// its middle.  A byte whose stop bit reads low is dropped and flagged in
// `frame_err` for one cycle.
`default_nettype none
module cf_uart_rx #(
    parameter integer CLKS_PER_BIT = 217      // clock frequency / baud rate (>= 4)
) (
    input  wire       clk,
    input  wire       rst,                   // synchronous, active high
    input  wire       rx,                    // serial line, idle high
    output reg  [7:0] data,
    output reg        valid,                 // one-cycle pulse with `data`
    output reg        frame_err              // one-cycle pulse: stop bit was low
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    localparam [1:0] S_IDLE = 2'd0, S_START = 2'd1, S_DATA = 2'd2, S_STOP = 2'd3;

    reg [1:0] sync;
    always @(posedge clk) begin
        if (rst) sync <= 2'b11;
        else     sync <= {sync[0], rx};
    end
    wire line = sync[1];

    reg [1:0]    state;
    reg [CW-1:0] count;
    reg [2:0]    bit_idx;
    reg [7:0]    shift;

    always @(posedge clk) begin
        valid     <= 1'b0;
        frame_err <= 1'b0;
        if (rst) begin
            state   <= S_IDLE;
            count   <= {CW{1'b0}};
            bit_idx <= 3'd0;
            shift   <= 8'd0;
            data    <= 8'd0;
        end else begin
            case (state)
            S_IDLE: if (!line) begin
                state <= S_START;
                count <= CLKS_PER_BIT / 2 - 1;
            end
            S_START: if (count == 0) begin
                if (!line) begin                 // still low in the middle: a real start bit
                    state   <= S_DATA;
                    count   <= CLKS_PER_BIT - 1;
                    bit_idx <= 3'd0;
                end else begin
                    state <= S_IDLE;             // a glitch
                end
            end else count <= count - 1'b1;
            S_DATA: if (count == 0) begin
                shift <= {line, shift[7:1]};
                count <= CLKS_PER_BIT - 1;
                if (bit_idx == 3'd7) state <= S_STOP;
                bit_idx <= bit_idx + 1'b1;
            end else count <= count - 1'b1;
            S_STOP: if (count == 0) begin
                // Back to idle in the middle of the stop bit: the next start edge
                // is caught even from a sender whose clock runs slightly fast.
                state <= S_IDLE;
                if (line) begin
                    data  <= shift;
                    valid <= 1'b1;
                end else begin
                    frame_err <= 1'b1;
                end
            end else count <= count - 1'b1;
            endcase
        end
    end
endmodule
`default_nettype wire
