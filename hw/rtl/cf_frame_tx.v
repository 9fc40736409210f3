// cf_frame_tx: the transmitting half of the convflow UART protocol, version 2 (docs/uart-protocol.md).
// Sends  A5 5A | TYPE | SEQ lo,hi | LEN lo,hi | PAYLOAD | CRC lo,hi  frames to the UART:
//   RESULT (0x81): OUT_ELEMS elements taken from the accelerator's output stream, each
//                  sign/zero-extended to OUT_BYTES bytes, little endian, then the frame's
//                  latency and busy cycle counts (4 bytes each, little endian);
//   INFO   (0x82): a fixed 28-byte description of the design;
//   ERROR  (0xEE): one byte, the error code.
// A RESULT is started whenever `result_ready` (a frame has left the accelerator: its
// elements wait in the board top's output FIFO) and the transmitter is idle; its header
// carries `result_seq`, its trailer `result_latency` and `result_busy`; `result_sent`
// pulses when its last byte has been handed to the UART.
// INFO and ERROR requests wait in one pending slot each and go before a RESULT; an
// error that arrives while another is pending is not reported (the host's time-out
// covers it).
`default_nettype none
module cf_frame_tx #(
    parameter integer OUT_BITS     = 8,
    parameter integer OUT_SIGNED   = 1,
    parameter integer OUT_ELEMS    = 16,
    parameter integer IN_BITS      = 8,        // for the INFO frame only
    parameter integer IN_SIGNED    = 1,
    parameter integer IN_ELEMS     = 16,
    parameter integer WINDOW       = 4,
    parameter integer CLKS_PER_BIT = 217,
    parameter integer CLK_KHZ      = 0,        // design clock in kHz (0: not known)
    parameter [31:0]  DESIGN_ID    = 32'h0
) (
    input  wire                clk,
    input  wire                rst,
    input  wire                result_ready,   // a finished frame's RESULT is owed
    input  wire [15:0]         result_seq,
    input  wire [31:0]         result_latency,
    input  wire [31:0]         result_busy,
    input  wire                info_req,
    input  wire                err_req,
    input  wire [7:0]          err_code,
    input  wire [15:0]         req_seq,
    output wire                sending,
    output reg                 result_sent,
    input  wire [OUT_BITS-1:0] s_data,
    input  wire                s_valid,
    output wire                s_ready,
    output reg  [7:0]          tx_data,
    output reg                 tx_valid,
    input  wire                tx_ready
);
    localparam integer OUT_BYTES = (OUT_BITS + 7) / 8;
    localparam integer IN_BYTES  = (IN_BITS + 7) / 8;
    localparam integer W         = OUT_BYTES * 8;
    localparam integer RES_BYTES = OUT_ELEMS * OUT_BYTES;
    localparam integer RES_LEN   = RES_BYTES + 8;
    localparam integer INFO_LEN  = 28;
    localparam integer BW        = $clog2(OUT_BYTES + 1);
    localparam [7:0] VERSION = 8'd2;
    localparam [7:0] T_RESULT = 8'h81, T_INFO = 8'h82, T_ERROR = 8'hEE;

    localparam [3:0] S_IDLE = 4'd0, S_SYNC1 = 4'd1, S_TYPE = 4'd2, S_SEQ0 = 4'd3, S_SEQ1 = 4'd4,
                     S_LEN0 = 4'd5, S_LEN1 = 4'd6, S_PAYLOAD = 4'd7, S_CRC0 = 4'd8, S_CRC1 = 4'd9;
    localparam [1:0] K_RESULT = 2'd0, K_INFO = 2'd1, K_ERROR = 2'd2;

    // the INFO payload, byte 0 in bits [7:0]
    localparam [31:0] OUT_ELEMS_W = OUT_ELEMS, IN_ELEMS_W = IN_ELEMS, CLK_KHZ_W = CLK_KHZ;
    localparam [15:0] CPB_H = CLKS_PER_BIT;
    localparam [7:0]  OUT_BYTES_B = OUT_BYTES, IN_BYTES_B = IN_BYTES, OUT_SIGNED_B = OUT_SIGNED,
                      OUT_BITS_B = OUT_BITS, IN_SIGNED_B = IN_SIGNED, IN_BITS_B = IN_BITS, WINDOW_B = WINDOW;
    localparam [INFO_LEN*8-1:0] INFO_WORDS = {
        16'd0, CPB_H, CLK_KHZ_W, DESIGN_ID, OUT_ELEMS_W, IN_ELEMS_W,
        WINDOW_B, OUT_BYTES_B, IN_BYTES_B, OUT_SIGNED_B, OUT_BITS_B, IN_SIGNED_B, IN_BITS_B, VERSION
    };

    reg        pend_info, pend_err;
    reg [7:0]  pend_code;
    reg [15:0] pend_info_seq, pend_err_seq;
    reg [3:0]  state;
    reg [1:0]  kind;
    reg [7:0]  code;
    reg [15:0] seq;
    reg [15:0] len;
    reg [15:0] count;            // payload bytes sent so far
    reg [15:0] crc;
    reg [W-1:0] elem;            // current output element, shifted out a byte at a time
    reg [BW-1:0] bsel;

    reg  [7:0]  tx_data_next;    // the byte the current state sends (combinational)
    wire [15:0] crc_next;
    cf_crc16 u_crc (.crc_in(crc), .data(tx_data_next), .crc_out(crc_next));

    assign sending = state != S_IDLE;

    // may a new byte be put on tx_data this cycle?
    wire slot = !tx_valid || tx_ready;
    // a RESULT payload byte needs a fresh element at each element boundary
    wire in_elems  = count < RES_BYTES;
    wire need_elem = state == S_PAYLOAD && kind == K_RESULT && in_elems && bsel == 0;
    assign s_ready = slot && need_elem;
    wire have_byte = !(need_elem && !s_valid);

    wire [W-1:0] s_ext = OUT_SIGNED ? {{W{s_data[OUT_BITS-1]}}, s_data} : {{W{1'b0}}, s_data};
    wire [INFO_LEN*8-1:0] info_shifted = INFO_WORDS >> (count[4:0] * 8);
    wire [63:0] trailer = {result_busy, result_latency} >> ((count - RES_BYTES) * 8);

    always @(*) begin
        case (state)
        S_IDLE:    tx_data_next = 8'hA5;
        S_SYNC1:   tx_data_next = 8'h5A;
        S_TYPE:    tx_data_next = kind == K_RESULT ? T_RESULT : kind == K_INFO ? T_INFO : T_ERROR;
        S_SEQ0:    tx_data_next = seq[7:0];
        S_SEQ1:    tx_data_next = seq[15:8];
        S_LEN0:    tx_data_next = len[7:0];
        S_LEN1:    tx_data_next = len[15:8];
        S_PAYLOAD: tx_data_next = kind == K_RESULT ? (!in_elems ? trailer[7:0]
                                                      : bsel == 0 ? s_ext[7:0] : elem[7:0])
                                : kind == K_INFO   ? info_shifted[7:0] : code;
        S_CRC0:    tx_data_next = crc[7:0];
        default:   tx_data_next = crc[15:8];
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            pend_info <= 1'b0; pend_err <= 1'b0; pend_code <= 8'd0; pend_info_seq <= 16'd0; pend_err_seq <= 16'd0;
            state <= S_IDLE; kind <= K_RESULT; code <= 8'd0; seq <= 16'd0; len <= 16'd0; count <= 16'd0;
            crc <= 16'hFFFF; elem <= {W{1'b0}}; bsel <= {BW{1'b0}};
            tx_data <= 8'd0; tx_valid <= 1'b0; result_sent <= 1'b0;
        end else begin
            result_sent <= 1'b0;
            if (info_req) begin pend_info <= 1'b1; pend_info_seq <= req_seq; end
            if (err_req && !pend_err) begin pend_err <= 1'b1; pend_code <= err_code; pend_err_seq <= req_seq; end

            if (tx_valid && tx_ready) tx_valid <= 1'b0;

            if (slot) case (state)
            S_IDLE: if (pend_err || pend_info || result_ready) begin
                tx_data  <= tx_data_next;
                tx_valid <= 1'b1;
                crc      <= 16'hFFFF;
                count    <= 16'd0;
                bsel     <= {BW{1'b0}};
                state    <= S_SYNC1;
                if (pend_err) begin
                    kind <= K_ERROR; len <= 16'd1; code <= pend_code; seq <= pend_err_seq; pend_err <= 1'b0;
                end else if (pend_info) begin
                    kind <= K_INFO; len <= INFO_LEN; seq <= pend_info_seq; pend_info <= 1'b0;
                end else begin
                    kind <= K_RESULT; len <= RES_LEN; seq <= result_seq;
                end
            end
            S_SYNC1: begin
                tx_data <= tx_data_next; tx_valid <= 1'b1; state <= S_TYPE;
            end
            S_TYPE, S_SEQ0, S_SEQ1, S_LEN0, S_LEN1: begin
                tx_data  <= tx_data_next;
                tx_valid <= 1'b1;
                crc      <= crc_next;
                state    <= state + 1'b1;
            end
            S_PAYLOAD: if (have_byte) begin
                tx_data  <= tx_data_next;
                tx_valid <= 1'b1;
                crc      <= crc_next;
                count    <= count + 1'b1;
                if (kind == K_RESULT && in_elems) begin
                    elem <= (bsel == 0 ? s_ext[W-1:0] : elem) >> 8;
                    bsel <= (bsel == OUT_BYTES - 1) ? {BW{1'b0}} : bsel + 1'b1;
                end
                if (count + 1'b1 == len) state <= S_CRC0;
            end
            S_CRC0: begin
                tx_data <= tx_data_next; tx_valid <= 1'b1; state <= S_CRC1;
            end
            default: begin
                tx_data <= tx_data_next; tx_valid <= 1'b1; state <= S_IDLE;
                result_sent <= kind == K_RESULT;
            end
            endcase
        end
    end
endmodule
`default_nettype wire
