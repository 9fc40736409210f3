// cf_frame_rx: the receiving half of the convflow UART protocol (docs/uart-protocol.md).
// Parses frames  A5 5A | TYPE | LEN lo,hi | PAYLOAD | CRC lo,hi  from a byte stream,
// stores the payload of an INFER frame in an on-chip frame buffer (one word per
// element), and only after the CRC has been checked streams the IN_ELEMS elements
// out on a valid/ready port (to cf_accel).  Everything else becomes a one-cycle
// request to the transmitter: `info_req`, or `err_req` with `err_code`.
// A broken frame never reaches the accelerator; after any error (or a gap of more
// than TIMEOUT_CLKS inside a frame) the parser hunts for the sync bytes again.
`default_nettype none
module cf_frame_rx #(
    parameter integer IN_BITS      = 8,
    parameter integer IN_ELEMS     = 16,
    parameter integer TIMEOUT_CLKS = 1000000
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [7:0]         rx_data,
    input  wire               rx_valid,
    input  wire               busy,          // a previous INFER is still being answered
    output reg                start,         // one cycle: a good INFER frame is in the buffer
    output reg                info_req,      // one cycle: a good INFO frame arrived
    output reg                err_req,       // one cycle: answer with an ERROR frame ...
    output reg  [7:0]         err_code,      // ... carrying this code
    output reg                streaming,     // elements of the current frame still to hand out
    output reg  [IN_BITS-1:0] m_data,
    output reg                m_valid,
    input  wire               m_ready
);
    localparam integer IN_BYTES = (IN_BITS + 7) / 8;
    localparam integer W        = IN_BYTES * 8;
    localparam integer PAYLOAD  = IN_ELEMS * IN_BYTES;
    localparam integer AW       = $clog2(IN_ELEMS + 1);
    localparam integer TW       = $clog2(TIMEOUT_CLKS + 1);
    localparam integer BW       = $clog2(IN_BYTES + 1);

    localparam [7:0] SYNC0 = 8'hA5, SYNC1 = 8'h5A;
    localparam [7:0] T_INFER = 8'h01, T_INFO = 8'h02;
    localparam [7:0] E_CRC = 8'h01, E_LENGTH = 8'h02, E_TYPE = 8'h03, E_TIMEOUT = 8'h04, E_BUSY = 8'h05;

    localparam [2:0] S_HUNT = 3'd0, S_SYNC1 = 3'd1, S_TYPE = 3'd2, S_LEN0 = 3'd3,
                     S_LEN1 = 3'd4, S_PAYLOAD = 3'd5, S_CRC0 = 3'd6, S_CRC1 = 3'd7;

    reg [2:0]    state;
    reg [7:0]    ftype;
    reg [15:0]   len;
    reg [15:0]   remaining;
    reg [15:0]   crc;
    reg [7:0]    crc_lo;
    reg          store;          // this frame's payload goes into the buffer
    reg          was_busy;       // an INFER arrived while the previous one was in flight
    reg [TW-1:0] idle;
    reg [BW-1:0] bsel;           // byte of the current element
    reg [W-1:0]  acc;            // element being assembled, little endian
    reg [AW-1:0] widx;

    wire [15:0] crc_next;
    cf_crc16 u_crc (.crc_in(crc), .data(rx_data), .crc_out(crc_next));

    // the element completed by this byte: previous bytes in acc's top, this byte on top
    wire [W+7:0]  ext_byte  = {{W{1'b0}}, rx_data};
    wire [W-1:0]  assembled = (acc >> 8) | (ext_byte << (W - 8));
    wire          last_byte = (bsel == IN_BYTES - 1);
    wire          we        = rx_valid && state == S_PAYLOAD && store && last_byte;

    // ---- frame buffer (inferred as EBR or LUT RAM) ----
    reg  [IN_BITS-1:0] mem [0:IN_ELEMS-1];
    reg  [AW-1:0]      ridx;
    wire take = m_valid && m_ready;
    wire load = streaming && (ridx != IN_ELEMS) && (!m_valid || take);

    always @(posedge clk) begin
        if (we)   mem[widx] <= assembled[IN_BITS-1:0];
        if (load) m_data    <= mem[ridx];
    end

    always @(posedge clk) begin
        start    <= 1'b0;
        info_req <= 1'b0;
        err_req  <= 1'b0;
        if (rst) begin
            state     <= S_HUNT;
            ftype     <= 8'd0;
            len       <= 16'd0;
            remaining <= 16'd0;
            crc       <= 16'hFFFF;
            crc_lo    <= 8'd0;
            store     <= 1'b0;
            was_busy  <= 1'b0;
            idle      <= {TW{1'b0}};
            bsel      <= {BW{1'b0}};
            acc       <= {W{1'b0}};
            widx      <= {AW{1'b0}};
            err_code  <= 8'd0;
            streaming <= 1'b0;
            m_valid   <= 1'b0;
            ridx      <= {AW{1'b0}};
        end else begin
            // ---- parser ----
            if (rx_valid) idle <= {TW{1'b0}};
            else if (state != S_HUNT) idle <= idle + 1'b1;

            if (!rx_valid && state != S_HUNT && idle == TIMEOUT_CLKS) begin
                state    <= S_HUNT;
                err_req  <= 1'b1;
                err_code <= E_TIMEOUT;
            end else if (rx_valid) begin
                case (state)
                S_HUNT:  if (rx_data == SYNC0) state <= S_SYNC1;
                S_SYNC1: if (rx_data == SYNC1) state <= S_TYPE;
                         else if (rx_data != SYNC0) state <= S_HUNT;
                S_TYPE: begin
                    ftype <= rx_data;
                    crc   <= crc_next;           // crc was reset to FFFF in S_HUNT
                    state <= S_LEN0;
                end
                S_LEN0: begin
                    len[7:0] <= rx_data;
                    crc      <= crc_next;
                    state    <= S_LEN1;
                end
                S_LEN1: begin
                    len[15:8] <= rx_data;
                    remaining <= {rx_data, len[7:0]};
                    crc       <= crc_next;
                    was_busy  <= busy;
                    store     <= ftype == T_INFER && {rx_data, len[7:0]} == PAYLOAD && !busy;
                    bsel      <= {BW{1'b0}};
                    widx      <= {AW{1'b0}};
                    state     <= ({rx_data, len[7:0]} == 16'd0) ? S_CRC0 : S_PAYLOAD;
                end
                S_PAYLOAD: begin
                    crc       <= crc_next;
                    acc       <= assembled;
                    remaining <= remaining - 1'b1;
                    if (last_byte) begin
                        bsel <= {BW{1'b0}};
                        widx <= widx + 1'b1;
                    end else begin
                        bsel <= bsel + 1'b1;
                    end
                    if (remaining == 16'd1) state <= S_CRC0;
                end
                S_CRC0: begin
                    crc_lo <= rx_data;
                    state  <= S_CRC1;
                end
                S_CRC1: begin
                    state <= S_HUNT;
                    if ({rx_data, crc_lo} != crc) begin
                        err_req <= 1'b1; err_code <= E_CRC;
                    end else if (ftype == T_INFER) begin
                        if (len != PAYLOAD)      begin err_req <= 1'b1; err_code <= E_LENGTH; end
                        else if (was_busy)       begin err_req <= 1'b1; err_code <= E_BUSY;   end
                        else                     start <= 1'b1;
                    end else if (ftype == T_INFO) begin
                        if (len != 16'd0)        begin err_req <= 1'b1; err_code <= E_LENGTH; end
                        else                     info_req <= 1'b1;
                    end else begin
                        err_req <= 1'b1; err_code <= E_TYPE;
                    end
                end
                default: state <= S_HUNT;
                endcase
            end
            if (state == S_HUNT) crc <= 16'hFFFF;

            // ---- streamer: buffer -> element stream ----
            if (load) begin
                m_valid <= 1'b1;
                ridx    <= ridx + 1'b1;
            end else if (take) begin
                m_valid <= 1'b0;
            end
            if (start) begin
                streaming <= 1'b1;
                ridx      <= {AW{1'b0}};
            end else if (streaming && ridx == IN_ELEMS && (!m_valid || take)) begin
                streaming <= 1'b0;
            end
        end
    end
endmodule
`default_nettype wire
