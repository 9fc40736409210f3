// cf_board_top: a convflow accelerator (module cf_accel, see hw/flows/ecp5.py) behind
// a UART, as one self-contained FPGA design.
//   UART rx -> cf_frame_rx (frame check, WINDOW frame slots) -> cf_fifo (2) -> cf_accel -> cf_fifo (one output frame)
//           -> cf_frame_tx -> UART tx
// The host protocol (version 2, pipelined) is in docs/uart-protocol.md.  A power-on reset
// counter holds the design in reset after configuration; `rst_btn` (active high) resets
// it at run time.
// The board top measures the accelerator itself: for every frame the cycles from its
// first input beat to its last output beat (latency), and the cycles since the previous
// frame's last output beat during which the accelerator had work (a frame inside it or
// one waiting in a slot): the initiation interval when frames queue up, the latency when
// they come one at a time.  Both go back in the frame's RESULT.
// LEDs: 0 heartbeat, 1 busy (a frame is in a slot or the accelerator), 2 last request good,
//       3 last request bad (ERROR sent), 4 receiving, 5 sending, 6 in reset, 7 off.
`default_nettype none
module cf_board_top #(
    parameter integer IN_BITS      = 8,
    parameter integer IN_SIGNED    = 1,
    parameter integer OUT_BITS     = 8,
    parameter integer OUT_SIGNED   = 1,
    parameter integer IN_ELEMS     = 16,
    parameter integer OUT_ELEMS    = 16,
    parameter integer WINDOW       = 4,         // frame slots: INFERs in flight
    parameter integer CLKS_PER_BIT = 217,       // 25 MHz / 115200 baud
    parameter integer CLK_KHZ      = 25000,     // reported in the INFO frame
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
    localparam integer FW = $clog2(WINDOW + 1);
    localparam integer OW = $clog2(OUT_ELEMS + 1);
    localparam integer IW = $clog2(IN_ELEMS + 1);

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
    wire                info_req, err_req, frame_start, pending, receiving, sending;
    wire [7:0]          err_code;
    wire [15:0]         req_seq, frame_seq;
    wire [IN_BITS-1:0]  f_in_data, a_in_data;
    wire                f_in_valid, f_in_ready, a_in_valid, a_in_ready;
    wire [OUT_BITS-1:0] a_out_data;
    wire                a_out_valid, a_out_ready;

    // frames started into the accelerator whose RESULT is not complete: at most WINDOW
    reg [FW-1:0] owed;
    wire         can_start = owed != WINDOW;

    cf_frame_rx #(.IN_BITS(IN_BITS), .IN_ELEMS(IN_ELEMS), .WINDOW(WINDOW), .TIMEOUT_CLKS(TIMEOUT_CLKS)) u_deframe (
        .clk(clk), .rst(rst), .rx_data(rx_byte), .rx_valid(rx_valid), .can_start(can_start),
        .info_req(info_req), .err_req(err_req), .err_code(err_code), .req_seq(req_seq),
        .frame_start(frame_start), .frame_seq(frame_seq), .pending(pending), .receiving(receiving),
        .m_data(f_in_data), .m_valid(f_in_valid), .m_ready(f_in_ready));

    // a register stage between the frame buffer's block RAM and the accelerator's first stage: the block's output is
    // slow and the first stage may sit anywhere on the die (CNV 2W2A on the 85F: 6.5 ns logic + 7.7 ns routing from
    // the buffer to Conv_0's line buffer, one cycle)
    cf_fifo #(.WIDTH(IN_BITS), .DEPTH(2)) u_in_reg (
        .clk(clk), .rst(rst), .s_data(f_in_data), .s_valid(f_in_valid), .s_ready(f_in_ready),
        .m_data(a_in_data), .m_valid(a_in_valid), .m_ready(a_in_ready));

    cf_accel u_accel (
        .clk(clk), .rst(rst),
        .s_data(a_in_data), .s_valid(a_in_valid), .s_ready(a_in_ready),
        .m_data(a_out_data), .m_valid(a_out_valid), .m_ready(a_out_ready));

    // ---- the accelerator's output waits in a FIFO of one frame, so the accelerator never waits for the UART within
    //      a frame (only when the previous RESULT is still on the line) and its cycle counts are its own ----
    wire [OUT_BITS-1:0] o_data;
    wire                o_valid, o_ready;
    cf_fifo #(.WIDTH(OUT_BITS), .DEPTH(OUT_ELEMS < 2 ? 2 : OUT_ELEMS)) u_out_fifo (
        .clk(clk), .rst(rst), .s_data(a_out_data), .s_valid(a_out_valid), .s_ready(a_out_ready),
        .m_data(o_data), .m_valid(o_valid), .m_ready(o_ready));

    // ---- the meter: sequence numbers and cycle counts of the frames in the accelerator ----
    //   in flight (first input beat .. last output beat): sequence number, start cycle
    //   finished (last output beat .. RESULT sent):      sequence number, latency, busy cycles
    reg  [31:0]   now;
    reg  [IW-1:0] in_count;
    reg  [OW-1:0] out_count;
    reg  [15:0]   fly_seq   [0:WINDOW-1];
    reg  [31:0]   fly_start [0:WINDOW-1];
    reg  [FW-1:0] fly_n, fly_rd, fly_wr;
    reg  [15:0]   done_seq  [0:WINDOW-1];
    reg  [31:0]   done_lat  [0:WINDOW-1];
    reg  [31:0]   done_busy [0:WINDOW-1];
    reg  [FW-1:0] done_n, done_rd, done_wr;
    reg  [31:0]   busy;
    reg  [15:0]   start_seq;                  // sequence number of the frame now streaming in
    wire          result_sent;
    wire in_fire  = a_in_valid && a_in_ready;
    wire out_fire = a_out_valid && a_out_ready;
    wire first_in = in_fire && in_count == 0;
    wire last_out = out_fire && out_count == OUT_ELEMS - 1;

    function [FW-1:0] next_ptr(input [FW-1:0] p);
        next_ptr = (p == WINDOW - 1) ? {FW{1'b0}} : p + 1'b1;
    endfunction

    always @(posedge clk) begin
        if (first_in) begin
            fly_seq[fly_wr]   <= start_seq;
            fly_start[fly_wr] <= now;
        end
        if (last_out) begin
            done_seq[done_wr]  <= fly_seq[fly_rd];
            done_lat[done_wr]  <= now - fly_start[fly_rd] + 1'b1;
            done_busy[done_wr] <= busy + 1'b1;
        end
    end

    always @(posedge clk) begin
        now <= now + 1'b1;
        if (rst) begin
            now <= 32'd0; in_count <= {IW{1'b0}}; out_count <= {OW{1'b0}};
            fly_n <= {FW{1'b0}}; fly_rd <= {FW{1'b0}}; fly_wr <= {FW{1'b0}};
            done_n <= {FW{1'b0}}; done_rd <= {FW{1'b0}}; done_wr <= {FW{1'b0}};
            busy <= 32'd0; start_seq <= 16'd0; owed <= {FW{1'b0}};
        end else begin
            if (frame_start) start_seq <= frame_seq;
            if (in_fire) in_count <= (in_count == IN_ELEMS - 1) ? {IW{1'b0}} : in_count + 1'b1;
            if (out_fire) out_count <= (out_count == OUT_ELEMS - 1) ? {OW{1'b0}} : out_count + 1'b1;
            if (first_in) fly_wr <= next_ptr(fly_wr);
            if (last_out) begin fly_rd <= next_ptr(fly_rd); done_wr <= next_ptr(done_wr); end
            if (result_sent) done_rd <= next_ptr(done_rd);
            fly_n  <= fly_n + (first_in ? 1'b1 : 1'b0) - (last_out ? 1'b1 : 1'b0);
            done_n <= done_n + (last_out ? 1'b1 : 1'b0) - (result_sent ? 1'b1 : 1'b0);
            // from the start of its streaming until its RESULT is sent: at most WINDOW frames, so both FIFOs fit
            owed <= owed + (frame_start ? 1'b1 : 1'b0) - (result_sent ? 1'b1 : 1'b0);
            // busy: cycles since the last frame finished in which the accelerator had work
            if (last_out) busy <= 32'd0;
            else if (fly_n != 0 || pending) busy <= busy + 1'b1;
        end
    end

    cf_frame_tx #(.OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .OUT_ELEMS(OUT_ELEMS),
                  .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .IN_ELEMS(IN_ELEMS), .WINDOW(WINDOW),
                  .CLKS_PER_BIT(CLKS_PER_BIT), .CLK_KHZ(CLK_KHZ), .DESIGN_ID(DESIGN_ID)) u_frame (
        .clk(clk), .rst(rst),
        .result_ready(done_n != 0), .result_seq(done_seq[done_rd]),
        .result_latency(done_lat[done_rd]), .result_busy(done_busy[done_rd]),
        .info_req(info_req), .err_req(err_req), .err_code(err_code), .req_seq(req_seq),
        .sending(sending), .result_sent(result_sent),
        .s_data(o_data), .s_valid(o_valid), .s_ready(o_ready),
        .tx_data(tx_byte), .tx_valid(tx_valid), .tx_ready(tx_ready));

    // ---- status LEDs ----
    reg [BLINK_BIT:0] beat = {(BLINK_BIT + 1){1'b0}};
    reg               good, bad;
    always @(posedge clk) begin
        beat <= beat + 1'b1;
        if (rst) begin
            good <= 1'b0; bad <= 1'b0;
        end else begin
            if (frame_start || info_req) begin good <= 1'b1; bad <= 1'b0; end
            if (err_req)                 begin good <= 1'b0; bad <= 1'b1; end
        end
    end
    assign led = {1'b0, rst, sending, receiving, bad, good, pending || owed != 0, beat[BLINK_BIT]};

    // rx_ferr (a byte with a broken stop bit) is dropped by the UART; the frame it
    // belonged to then fails its CRC or times out.
    wire unused_ok = rx_ferr;
endmodule
`default_nettype wire
