// cf_board_top: a convflow accelerator (module cf_accel, see hw/flows/ecp5.py) behind
// a UART, as one self-contained FPGA design.
//   UART rx -> cf_frame_rx (frame check, frame buffer) -> cf_accel -> cf_frame_tx -> UART tx
// The host protocol is in docs/uart-protocol.md.  A power-on reset counter holds the
// design in reset after configuration; `rst_btn` (active high) resets it at run time.
// LEDs: 0 heartbeat, 1 busy (a frame is being computed/answered), 2 last request good,
//       3 last request bad (ERROR sent), 4 receiving, 5 sending, 6 in reset, 7 off.
`default_nettype none
module cf_board_top #(
    parameter integer IN_BITS      = 8,
    parameter integer IN_SIGNED    = 1,
    parameter integer OUT_BITS     = 8,
    parameter integer OUT_SIGNED   = 1,
    parameter integer IN_ELEMS     = 16,
    parameter integer OUT_ELEMS    = 16,
    parameter integer CLKS_PER_BIT = 217,       // 25 MHz / 115200 baud
    parameter integer TIMEOUT_CLKS = 2500000,   // gap inside a frame that aborts it (0.1 s at 25 MHz)
    parameter integer POR_BITS     = 16,        // power-on reset lasts 2**POR_BITS cycles
    parameter integer BLINK_BIT    = 23,        // heartbeat LED = bit of a free-running counter
    parameter [31:0]  DESIGN_ID    = 32'h0      // reported in the INFO frame
) (
    input  wire       clk,
    input  wire       rst_btn,
    input  wire       uart_rx,
    output wire       uart_tx,
    output wire [7:0] led
);
    // ---- reset: power-on counter, then a synchronised button ----
    reg [POR_BITS:0] por = {(POR_BITS + 1){1'b0}};
    reg [1:0]        btn_sync = 2'b00;
    reg              rst = 1'b1;
    always @(posedge clk) begin
        btn_sync <= {btn_sync[0], rst_btn};
        if (!por[POR_BITS]) por <= por + 1'b1;
        rst <= !por[POR_BITS] || btn_sync[1];
    end

    // ---- UART ----
    wire [7:0] rx_byte;
    wire       rx_valid, rx_ferr;
    cf_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst(rst), .rx(uart_rx), .data(rx_byte), .valid(rx_valid), .frame_err(rx_ferr));

    wire [7:0] tx_byte;
    wire       tx_valid, tx_ready;
    cf_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .data(tx_byte), .valid(tx_valid), .ready(tx_ready), .tx(uart_tx));

    // ---- frames <-> element streams ----
    wire                start, info_req, err_req, streaming, result_owed;
    wire [7:0]          err_code;
    wire [IN_BITS-1:0]  a_in_data;
    wire                a_in_valid, a_in_ready;
    wire [OUT_BITS-1:0] a_out_data;
    wire                a_out_valid, a_out_ready;

    cf_frame_rx #(.IN_BITS(IN_BITS), .IN_ELEMS(IN_ELEMS), .TIMEOUT_CLKS(TIMEOUT_CLKS)) u_deframe (
        .clk(clk), .rst(rst), .rx_data(rx_byte), .rx_valid(rx_valid),
        .busy(streaming || result_owed),
        .start(start), .info_req(info_req), .err_req(err_req), .err_code(err_code),
        .streaming(streaming),
        .m_data(a_in_data), .m_valid(a_in_valid), .m_ready(a_in_ready));

    cf_accel u_accel (
        .clk(clk), .rst(rst),
        .s_data(a_in_data), .s_valid(a_in_valid), .s_ready(a_in_ready),
        .m_data(a_out_data), .m_valid(a_out_valid), .m_ready(a_out_ready));

    cf_frame_tx #(.OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .OUT_ELEMS(OUT_ELEMS),
                  .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .IN_ELEMS(IN_ELEMS),
                  .DESIGN_ID(DESIGN_ID)) u_frame (
        .clk(clk), .rst(rst),
        .result_req(start), .info_req(info_req), .err_req(err_req), .err_code(err_code),
        .result_owed(result_owed),
        .s_data(a_out_data), .s_valid(a_out_valid), .s_ready(a_out_ready),
        .tx_data(tx_byte), .tx_valid(tx_valid), .tx_ready(tx_ready));

    // ---- status LEDs ----
    reg [BLINK_BIT:0] beat = {(BLINK_BIT + 1){1'b0}};
    reg               good, bad;
    reg [15:0]        rx_stretch, tx_stretch;
    always @(posedge clk) begin
        beat <= beat + 1'b1;
        if (rst) begin
            good <= 1'b0; bad <= 1'b0; rx_stretch <= 16'd0; tx_stretch <= 16'd0;
        end else begin
            if (start || info_req) begin good <= 1'b1; bad <= 1'b0; end
            if (err_req)           begin good <= 1'b0; bad <= 1'b1; end
            rx_stretch <= !uart_rx ? 16'hFFFF : (rx_stretch != 0 ? rx_stretch - 1'b1 : 16'd0);
            tx_stretch <= !uart_tx ? 16'hFFFF : (tx_stretch != 0 ? tx_stretch - 1'b1 : 16'd0);
        end
    end
    assign led = {1'b0, rst, tx_stretch != 0, rx_stretch != 0, bad, good,
                  streaming || result_owed, beat[BLINK_BIT]};

    // rx_ferr (a byte with a broken stop bit) is dropped by the UART; the frame it
    // belonged to then fails its CRC or times out.
    wire unused_ok = rx_ferr;
endmodule
`default_nettype wire
