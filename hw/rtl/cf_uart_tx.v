// cf_uart_tx: 8N1 UART transmitter (convflow board top).
// Valid/ready byte input: a byte is taken when `valid && ready`; `ready` is high
// while the transmitter is idle.  The line idles high.
`default_nettype none
module cf_uart_tx #(
    parameter integer CLKS_PER_BIT = 217      // clock frequency / baud rate
) (
    input  wire       clk,
    input  wire       rst,                   // synchronous, active high
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output reg        tx
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);

    reg [8:0]    shift;                      // {data, start bit}; shifted out LSB first
    reg [3:0]    bits_left;                  // start + 8 data + stop = 10 bit times
    reg [CW-1:0] count;

    assign ready = (bits_left == 4'd0);

    always @(posedge clk) begin
        if (rst) begin
            tx        <= 1'b1;
            shift     <= 9'h1ff;
            bits_left <= 4'd0;
            count     <= {CW{1'b0}};
        end else if (bits_left == 4'd0) begin
            if (valid) begin
                tx        <= 1'b0;           // start bit
                shift     <= {1'b1, data};   // data bits, then the stop level
                bits_left <= 4'd10;
                count     <= CLKS_PER_BIT - 1;
            end
        end else if (count == 0) begin
            bits_left <= bits_left - 1'b1;
            count     <= CLKS_PER_BIT - 1;
            if (bits_left != 4'd1) begin
                tx    <= shift[0];
                shift <= {1'b1, shift[8:1]};
            end
        end else begin
            count <= count - 1'b1;
        end
    end
endmodule
`default_nettype wire
