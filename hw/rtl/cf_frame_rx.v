// cf_frame_rx: the receiving half of the convflow UART protocol, version 2 (docs/uart-protocol.md).
// Parses frames  A5 5A | TYPE | SEQ lo,hi | LEN lo,hi | PAYLOAD | CRC lo,hi  from a byte stream.
// The payload of an INFER frame is written into one of WINDOW frame slots (a ring in
// one on-chip RAM, one word per element) while it arrives; the slot is committed only
// after the CRC and the length have checked out, so a broken frame never reaches the
// accelerator.  Committed slots are streamed, in order, out of the valid/ready port
// (to cf_accel) one after the other, each as soon as `can_start` allows (the board top
// holds it low while WINDOW frames are in the accelerator unanswered).
// Everything else becomes a one-cycle request to the transmitter: `info_req`, or
// `err_req` with `err_code`; `req_seq` carries the sequence number of the frame
// (16'hFFFF when the frame's header cannot be trusted: bad CRC, time-out).
// After any error (or a gap of more than TIMEOUT_CLKS inside a frame) the parser hunts
// for the sync bytes again.
`default_nettype none
module cf_frame_rx #(
    parameter integer IN_BITS      = 8,
    parameter integer IN_ELEMS     = 16,
    parameter integer WINDOW       = 4,       // frame slots (the protocol's window)
    parameter integer TIMEOUT_CLKS = 1000000
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [7:0]         rx_data,
    input  wire               rx_valid,
    input  wire               can_start,     // the next slot may start streaming
    output reg                info_req,      // one cycle: a good INFO frame arrived
    output reg                err_req,       // one cycle: answer with an ERROR frame ...
    output reg  [7:0]         err_code,      // ... carrying this code
    output reg  [15:0]        req_seq,       // sequence number for info_req / err_req
    output reg                frame_start,   // one cycle: a slot starts streaming ...
    output reg  [15:0]        frame_seq,     // ... the INFER that filled it had this sequence number
    output wire               pending,       // a committed slot waits or streams
    output reg                receiving,     // inside a frame
    output reg  [IN_BITS-1:0] m_data,
    output reg                m_valid,
    input  wire               m_ready
);
    localparam integer IN_BYTES = (IN_BITS + 7) / 8;
    localparam integer W        = IN_BYTES * 8;
    localparam integer PAYLOAD  = IN_ELEMS * IN_BYTES;
    localparam integer DEPTH    = IN_ELEMS * WINDOW;
    localparam integer AW       = $clog2(DEPTH + 1);
    localparam integer EW       = $clog2(IN_ELEMS + 1);
    localparam integer SW       = $clog2(WINDOW + 1);
    localparam integer TW       = $clog2(TIMEOUT_CLKS + 1);
    localparam integer BW       = $clog2(IN_BYTES + 1);

    localparam [7:0] SYNC0 = 8'hA5, SYNC1 = 8'h5A;
    localparam [7:0] T_INFER = 8'h01, T_INFO = 8'h02;
    localparam [7:0] E_CRC = 8'h01, E_LENGTH = 8'h02, E_TYPE = 8'h03, E_TIMEOUT = 8'h04, E_BUSY = 8'h05;
    localparam [15:0] NO_SEQ = 16'hFFFF;

    localparam [3:0] S_HUNT = 4'd0, S_SYNC1 = 4'd1, S_TYPE = 4'd2, S_SEQ0 = 4'd3, S_SEQ1 = 4'd4,
                     S_LEN0 = 4'd5, S_LEN1 = 4'd6, S_PAYLOAD = 4'd7, S_CRC0 = 4'd8, S_CRC1 = 4'd9;

    reg [3:0]    state;
    reg [7:0]    ftype;
    reg [15:0]   seq;
    reg [15:0]   len;
    reg [15:0]   remaining;
    reg [15:0]   crc;
    reg [7:0]    crc_lo;
    reg          store;          // this frame's payload goes into the free slot
    reg [TW-1:0] idle;
    reg [BW-1:0] bsel;           // byte of the current element
    reg [W-1:0]  acc;            // element being assembled, little endian
    reg [AW-1:0] waddr;

    // ---- slot ring ----
    reg [SW-1:0] count;          // committed slots not yet streamed out completely
    reg [AW-1:0] wbase, rbase;   // first word of the slot being written / streamed
    reg [15:0]   slot_seq [0:WINDOW-1];
    reg [SW-1:0] wslot, rslot;

    wire [15:0] crc_next;
    cf_crc16 u_crc (.crc_in(crc), .data(rx_data), .crc_out(crc_next));

    // the element completed by this byte: previous bytes in acc's top, this byte on top
    wire [W+7:0]  ext_byte  = {{W{1'b0}}, rx_data};
    wire [W-1:0]  assembled = (acc >> 8) | (ext_byte << (W - 8));
    wire          last_byte = (bsel == IN_BYTES - 1);
    wire          we        = rx_valid && state == S_PAYLOAD && store && last_byte;
    wire          good_crc  = {rx_data, crc_lo} == crc;
    wire          commit    = rx_valid && state == S_CRC1 && good_crc && ftype == T_INFER && store;

    // ---- frame RAM (inferred as EBR or LUT RAM) ----
    reg  [IN_BITS-1:0] mem [0:DEPTH-1];
    reg                streaming;
    reg  [EW-1:0]      ridx;
    wire take    = m_valid && m_ready;
    wire load    = streaming && (ridx != IN_ELEMS) && (!m_valid || take);
    wire done    = streaming && ridx == IN_ELEMS && (!m_valid || take);
    wire start   = !streaming && count != 0 && can_start;
    assign pending = count != 0;

    always @(posedge clk) begin
        if (we)   mem[waddr] <= assembled[IN_BITS-1:0];
        if (load) m_data     <= mem[rbase + ridx];
        if (commit) slot_seq[wslot] <= seq;
    end

    function [AW-1:0] next_base(input [AW-1:0] base);
        next_base = (base + IN_ELEMS >= DEPTH) ? {AW{1'b0}} : base + IN_ELEMS;
    endfunction
    function [SW-1:0] next_slot(input [SW-1:0] s);
        next_slot = (s == WINDOW - 1) ? {SW{1'b0}} : s + 1'b1;
    endfunction

    always @(posedge clk) begin
        info_req    <= 1'b0;
        err_req     <= 1'b0;
        frame_start <= 1'b0;
        if (rst) begin
            state     <= S_HUNT;
            ftype     <= 8'd0;
            seq       <= 16'd0;
            len       <= 16'd0;
            remaining <= 16'd0;
            crc       <= 16'hFFFF;
            crc_lo    <= 8'd0;
            store     <= 1'b0;
            idle      <= {TW{1'b0}};
            bsel      <= {BW{1'b0}};
            acc       <= {W{1'b0}};
            waddr     <= {AW{1'b0}};
            err_code  <= 8'd0;
            req_seq   <= NO_SEQ;
            frame_seq <= 16'd0;
            receiving <= 1'b0;
            count     <= {SW{1'b0}};
            wbase     <= {AW{1'b0}};
            rbase     <= {AW{1'b0}};
            wslot     <= {SW{1'b0}};
            rslot     <= {SW{1'b0}};
            streaming <= 1'b0;
            m_valid   <= 1'b0;
            ridx      <= {EW{1'b0}};
        end else begin
            // ---- parser ----
            if (rx_valid) idle <= {TW{1'b0}};
            else if (state != S_HUNT) idle <= idle + 1'b1;
            receiving <= state != S_HUNT && state != S_SYNC1;

            if (!rx_valid && state != S_HUNT && idle == TIMEOUT_CLKS) begin
                state    <= S_HUNT;
                err_req  <= 1'b1;
                err_code <= E_TIMEOUT;
                req_seq  <= NO_SEQ;
            end else if (rx_valid) begin
                case (state)
                S_HUNT:  if (rx_data == SYNC0) state <= S_SYNC1;
                S_SYNC1: if (rx_data == SYNC1) state <= S_TYPE;
                         else if (rx_data != SYNC0) state <= S_HUNT;
                S_TYPE: begin
                    ftype <= rx_data;
                    crc   <= crc_next;           // crc was reset to FFFF in S_HUNT / S_SYNC1
                    state <= S_SEQ0;
                end
                S_SEQ0: begin
                    seq[7:0] <= rx_data;
                    crc      <= crc_next;
                    state    <= S_SEQ1;
                end
                S_SEQ1: begin
                    seq[15:8] <= rx_data;
                    crc       <= crc_next;
                    state     <= S_LEN0;
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
                    // a slot is free now; slots only free up while the payload arrives
                    store     <= ftype == T_INFER && {rx_data, len[7:0]} == PAYLOAD && count != WINDOW;
                    bsel      <= {BW{1'b0}};
                    waddr     <= wbase;
                    if ({rx_data, len[7:0]} > PAYLOAD) begin
                        // no host frame is longer: a corrupted length must not swallow the frames behind it
                        state    <= S_HUNT;
                        err_req  <= 1'b1;
                        err_code <= E_LENGTH;
                        req_seq  <= NO_SEQ;
                    end else begin
                        state <= ({rx_data, len[7:0]} == 16'd0) ? S_CRC0 : S_PAYLOAD;
                    end
                end
                S_PAYLOAD: begin
                    crc       <= crc_next;
                    acc       <= assembled;
                    remaining <= remaining - 1'b1;
                    if (last_byte) begin
                        bsel  <= {BW{1'b0}};
                        waddr <= waddr + 1'b1;
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
                    state   <= S_HUNT;
                    req_seq <= seq;
                    if (!good_crc) begin
                        err_req <= 1'b1; err_code <= E_CRC; req_seq <= NO_SEQ;
                    end else if (ftype == T_INFER) begin
                        if (len != PAYLOAD)      begin err_req <= 1'b1; err_code <= E_LENGTH; end
                        else if (!store)         begin err_req <= 1'b1; err_code <= E_BUSY;   end
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
            if (state == S_HUNT || state == S_SYNC1) crc <= 16'hFFFF;

            // ---- slot ring: commit (parser) and release (streamer) ----
            if (commit) begin
                wbase <= next_base(wbase);
                wslot <= next_slot(wslot);
            end
            count <= count + (commit ? 1'b1 : 1'b0) - (done ? 1'b1 : 1'b0);

            // ---- streamer: slot -> element stream ----
            if (load) begin
                m_valid <= 1'b1;
                ridx    <= ridx + 1'b1;
            end else if (take) begin
                m_valid <= 1'b0;
            end
            if (start) begin
                streaming   <= 1'b1;
                ridx        <= {EW{1'b0}};
                frame_start <= 1'b1;
                frame_seq   <= slot_seq[rslot];
            end else if (done) begin
                streaming <= 1'b0;
                rbase     <= next_base(rbase);
                rslot     <= next_slot(rslot);
            end
        end
    end
endmodule
`default_nettype wire
