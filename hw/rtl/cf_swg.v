// convflow RTL library: cf_swg -- sliding-window generator (line buffer) for convolutions and pooling.
//
// Input : the image in NHWC order, one beat = L lanes of EW-bit elements = L consecutive channels of one pixel
//         (CF = C / L beats per pixel), H x W pixels per frame.
// Output: for every output pixel (oy, ox) in raster order, its KH x KW x C window in (ky, kx, c) order -- exactly
//         the row order of the matrix a matrix-vector unit multiplies, (ky*KW + kx)*C + c -- in beats of OL lanes;
//         positions in the padding read as PAD.
//
// Two implementations behind one interface (the plan chooses by the lanes; compiler/dataflow/window.py):
//   OL == L  (cf_swg_rows)    the window's beats of L lanes, KH * KW * CF per output pixel, read one per cycle from
//                             a ring of rows in one RAM;
//   OL != L  (cf_swg_window)  the input is whole pixels (L = C, CF = 1); the window is assembled from a buffer of
//                             pixel columns and leaves as KH*KW*C / OL beats of OL lanes, which may span several
//                             channels, pixels and kernel rows (a first layer with 1-3 channels: SIMD = KH*KW*C).
module cf_swg #(
    parameter EW  = 8,      // element bits
    parameter L   = 1,      // lanes per input beat
    parameter OL  = L,      // lanes per output beat
    parameter H   = 8,      // input height
    parameter W   = 8,      // input width
    parameter CF  = 1,      // input beats per pixel (channels / L)
    parameter KH  = 3,
    parameter KW  = 3,
    parameter SH  = 1,
    parameter SW  = 1,
    parameter PT  = 0,      // padding top / left / bottom / right
    parameter PL  = 0,
    parameter PB  = 0,
    parameter PR  = 0,
    parameter PAD = 0,      // pad element value (two's complement, truncated to EW bits)
    parameter NR  = 8,      // ring rows: a power of two >= KH + SH (the compiler uses >= 2*KH + SH - 1)
    parameter NC  = 16,     // window mode: pixel columns buffered, a power of two >= 2*KW + SW + 2
    parameter BMEM = 0,     // the ring of rows: 0 where synthesis puts it, 1 block RAM, 2 LUT RAM (ram_style)
    parameter ODEPTH = 2    // window mode: the output stream's FIFO depth in the plan (cf_swg_window's cf_outbuf)
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [L*EW-1:0]  s_data,
    input  wire             s_valid,
    output wire             s_ready,
    output wire [OL*EW-1:0] m_data,
    output wire             m_valid,
    input  wire             m_ready
);
    generate
        if (OL == L) begin : g_rows
            cf_swg_rows #(.EW(EW), .L(L), .H(H), .W(W), .CF(CF), .KH(KH), .KW(KW), .SH(SH), .SW(SW), .PT(PT),
                          .PL(PL), .PB(PB), .PR(PR), .PAD(PAD), .NR(NR), .BMEM(BMEM)) u_rows (
                .clk(clk), .rst(rst), .s_data(s_data), .s_valid(s_valid), .s_ready(s_ready),
                .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready));
        end else begin : g_window
            cf_swg_window #(.EW(EW), .C(L), .OL(OL), .H(H), .W(W), .KH(KH), .KW(KW), .SH(SH), .SW(SW), .PT(PT),
                            .PL(PL), .PB(PB), .PR(PR), .PAD(PAD), .NR(NR), .NC(NC), .BMEM(BMEM),
                            .ODEPTH(ODEPTH)) u_window (
                .clk(clk), .rst(rst), .s_data(s_data), .s_valid(s_valid), .s_ready(s_ready),
                .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready));
        end
    endgenerate
endmodule


// cf_swg_rows: the window in beats of the input's L lanes (OL == L).
//
// Storage is a ring of NR rows (a power of two >= KH + SH, so the writer can fill the next SH rows while the
// reader walks the current KH; the compiler picks >= 2*KH + SH - 1 so that, at the end of a frame, the next
// frame's first rows are already in when the reader wraps: no bubble between frames): one simple dual-port RAM (one write port, one registered read port) of
// NR * W * CF words, which maps onto block RAM.  Bookkeeping:
//   filled  = rows completely written and not yet released by the reader (may go negative when a stride larger
//             than the kernel skips rows that have not arrived yet: those rows are released before they come);
//   rd_base = first input row (within the frame) the reader still needs, held in ring slot rslot;
//   the writer writes ring slot wslot (= rslot + filled) and may start a row while filled < NR.
// The reader emits output row oy once rows up to min(H-1, oy*SH - PT + KH - 1) are complete, and at the end of
// the row releases the rows the next output row does not need (all remaining rows at the end of a frame), so
// consecutive frames stream back to back.
//
// The read side is a one-stage pipeline with a global enable (en = !m_valid || m_ready): the RAM read register
// is the output register, so back-pressure simply freezes it.
module cf_swg_rows #(
    parameter EW  = 8,      // element bits
    parameter L   = 1,      // lanes per beat
    parameter H   = 8,      // input height
    parameter W   = 8,      // input width
    parameter CF  = 1,      // beats per pixel (channels / L)
    parameter KH  = 3,
    parameter KW  = 3,
    parameter SH  = 1,
    parameter SW  = 1,
    parameter PT  = 0,      // padding top / left / bottom / right
    parameter PL  = 0,
    parameter PB  = 0,
    parameter PR  = 0,
    parameter PAD = 0,      // pad element value (two's complement, truncated to EW bits)
    parameter NR  = 8,      // ring rows: a power of two >= KH + SH (the compiler uses >= 2*KH + SH - 1)
    parameter BMEM = 0      // the ring: 0 where synthesis puts it, 1 block RAM, 2 LUT RAM
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [L*EW-1:0] s_data,
    input  wire            s_valid,
    output wire            s_ready,
    output wire [L*EW-1:0] m_data,
    output wire            m_valid,
    input  wire            m_ready
);
    localparam WW     = L * EW;
    localparam OH     = (H + PT + PB - KH) / SH + 1;
    localparam OW     = (W + PL + PR - KW) / SW + 1;
    localparam SLW    = $clog2(NR);
    localparam ROWW   = W * CF;
    localparam DEPTHM = NR * ROWW;
    localparam AW     = (DEPTHM <= 2) ? 1 : $clog2(DEPTHM);
    // signed width of row / column positions and row counts: the image with its padding and a stride past it,
    // with a bit to spare (short carry chains: these sit on the issue path)
    localparam RW     = $clog2(H + W + PT + PB + PL + PR + KH + KW + SH + SW + 2) + 2;

    // x * c for a constant c as shifts and adds: address arithmetic must not take a DSP block (synthesis maps a
    // plain `*` to MULT18X18D even when one operand is a constant)
    function [31:0] mulc;
        input [31:0] x;
        input [31:0] c;
        integer k;
        begin
            mulc = 0;
            for (k = 0; k < 32; k = k + 1)
                if (c[k])
                    mulc = mulc + (x << k);
        end
    endfunction

    // first row needed by output row oy (clamped into the image), as a function of iy0 = oy*SH - PT
    function signed [RW-1:0] row_lo;
        input signed [RW-1:0] y0;
        begin
            row_lo = (y0 < 0) ? 0 : ((y0 > H) ? H : y0);
        end
    endfunction
    // rows (from rd_base = row_lo(y0)) that must be complete before output row oy can start
    function signed [RW-1:0] rows_needed;
        input signed [RW-1:0] y0;
        reg signed [RW-1:0] hi;
        begin
            hi = y0 + KH - 1;
            if (hi > H - 1)
                hi = H - 1;
            rows_needed = hi - row_lo(y0) + 1;
        end
    endfunction

    wire [EW-1:0] pad_elem = PAD;
    wire [WW-1:0] pad_word = {L{pad_elem}};


    // ---- writer: rows arrive in order, so the write address simply runs round the ring ----------------------
    reg [15:0]           wx, wcf;
    reg [AW-1:0]         waddr;
    reg signed [RW-1:0]  filled;
    assign s_ready = (filled < NR);
    wire wfire     = s_valid && s_ready;
    wire wrow_done = wfire && (wx == W - 1) && (wcf == CF - 1);

    // ---- reader -------------------------------------------------------------------------------------------
    // Every position is kept in registers updated by one small addition per step (no multiplier, no long
    // chain of adders between two registers): iy0 = oy*SH - PT, ix0 = ox*SW - PL, iy = iy0 + ky,
    // ix = ix0 + kx, col = ix*CF + cf, col0 = ix0*CF.
    reg [15:0]        oy, ox, ky, kx, cf;
    reg signed [RW-1:0] iy0, ix0, iy, ix, rd_base, need;
    reg signed [31:0]   col, col0;
    reg [SLW-1:0]     rslot;
    reg               out_valid;
    reg               pad_r;
    reg [WW-1:0]      rdata;

    wire last_cf  = (cf == CF - 1);
    wire last_kx  = (kx == KW - 1);
    wire last_ky  = (ky == KH - 1);
    wire last_ox  = (ox == OW - 1);
    wire last_row = (oy == OH - 1);
    // last_in_row: this beat is its output row's last, a register (set by the beat before it) rather than the four
    // counter compares it equals, which sat in front of the issue decision (CNV 2W2A's Conv_1 window: ky -> head,
    // 3.5 ns logic + 11 ns routing)
    localparam BPR = OW * KH * KW * CF;             // beats per output row
    localparam BRW = $clog2(BPR + 1);
    reg [BRW-1:0] rbeat;                            // beats of the row issued before this one
    reg           last_in_row;

    // head = filled - need, kept in its own register: the reader may issue while it is not negative.  The issue
    // decision is then one sign bit, not a compare of two counters (filled >= need -> issue -> filled was the
    // critical path of cnn-digits' MaxPool_0 at 100 MHz, 9.9 ns).
    reg signed [RW:0]   head;
    wire can_issue = !head[RW];
    wire pad_now   = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    // slot: the ring slot of row iy, rslot + (iy - rd_base) modulo NR, and slot0 that of row iy0, each kept in a
    // register and moved with iy (so the read address is one addition from registers; computed from iy, rd_base
    // and rslot it was three: the slowest path of LeNet-fmnist's MaxPool_0 window and of CNV 2W2A's Conv_2 and
    // Conv_4 windows.  What is left is the address's routing to a wide ring: 13.9 ns on CNV's Conv_3)
    reg [SLW-1:0] slot, slot0;
    wire [31:0] addr_full = mulc(slot, ROWW) + col;
    wire [AW-1:0] raddr = addr_full[AW-1:0];

    // the next output row's bookkeeping, in two register stages after a row starts (off the issue path; an output
    // row of fewer than three beats waits for it: settle)
    reg signed [RW-1:0] yn_r, lo_next_r, nfree_r, need_next_r;
    reg [1:0]           settle;
    wire                row_ok = (settle == 0);
    // what head loses when a row ends (from registers only, beside the issue decision)
    wire signed [RW:0]  row_step = nfree_r + need_next_r - need;

    wire en    = !out_valid || m_ready;
    wire ready_now = can_issue && (!last_in_row || row_ok);
    wire issue = en && ready_now;

    assign m_valid = out_valid;
    assign m_data  = pad_r ? pad_word : rdata;

    // the ring RAM, one write port and one registered read port (frozen with the output register)
    generate
        if (BMEM == 1) begin : g_ring
            (* ram_style = "block" *) reg [WW-1:0] mem [0:DEPTHM-1];
            always @(posedge clk) begin
                if (wfire)
                    mem[waddr] <= s_data;
                if (en)
                    rdata <= mem[raddr];
            end
        end else if (BMEM == 2) begin : g_ring
            (* ram_style = "distributed" *) reg [WW-1:0] mem [0:DEPTHM-1];
            always @(posedge clk) begin
                if (wfire)
                    mem[waddr] <= s_data;
                if (en)
                    rdata <= mem[raddr];
            end
        end else begin : g_ring
            reg [WW-1:0] mem [0:DEPTHM-1];
            always @(posedge clk) begin
                if (wfire)
                    mem[waddr] <= s_data;
                if (en)
                    rdata <= mem[raddr];
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            wx <= 0; wcf <= 0; waddr <= 0;
            oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0;
            iy0 <= -PT; ix0 <= -PL; iy <= -PT; ix <= -PL;
            col0 <= -mulc(PL, CF); col <= -mulc(PL, CF);
            rd_base <= 0; rslot <= 0;
            slot <= -PT; slot0 <= -PT;
            need <= rows_needed(-PT);
            filled <= 0;
            head <= -rows_needed(-PT);
            out_valid <= 1'b0;
            pad_r <= 1'b0;
            settle <= 2'd2;
            rbeat <= 0;
            last_in_row <= (BPR == 1);
        end else begin
            if (issue) begin
                rbeat <= last_in_row ? 0 : rbeat + 1'b1;
                last_in_row <= last_in_row ? (BPR == 1) : (rbeat == BPR - 2);
            end
            // writer
            if (wfire) begin
                waddr <= (waddr == DEPTHM - 1) ? {AW{1'b0}} : waddr + 1'b1;
                if (wcf == CF - 1) begin
                    wcf <= 0;
                    wx <= (wx == W - 1) ? 16'd0 : wx + 1'b1;
                end else
                    wcf <= wcf + 1'b1;
            end
            yn_r        <= iy0 + SH;
            lo_next_r   <= row_lo(yn_r);
            nfree_r     <= last_row ? H - rd_base : row_lo(yn_r) - rd_base;
            need_next_r <= last_row ? rows_needed(-PT) : rows_needed(yn_r);
            settle      <= (issue && last_in_row) ? 2'd2 : (settle != 0 ? settle - 1'b1 : 2'd0);
            filled <= filled + (wrow_done ? 1 : 0) - ((issue && last_in_row) ? nfree_r : 0);
            // at the end of a row need becomes need_next_r, so head moves by the rows released and the change of need
            head   <= head + (wrow_done ? 1 : 0) - ((issue && last_in_row) ? row_step : 0);
            // reader
            if (en) begin
                out_valid <= ready_now;
                pad_r <= pad_now;
            end
            if (issue) begin
                if (!last_cf) begin
                    cf <= cf + 1'b1;
                    col <= col + 1;
                end else if (!last_kx) begin           // next kernel column: the next pixel's channel 0
                    cf <= 0;
                    kx <= kx + 1'b1;
                    ix <= ix + 1;
                    col <= col + 1;
                end else if (!last_ky) begin           // next kernel row of the same window
                    cf <= 0; kx <= 0;
                    ky <= ky + 1'b1;
                    iy <= iy + 1;
                    slot <= slot + 1'b1;
                    ix <= ix0;
                    col <= col0;
                end else if (!last_ox) begin           // next window in the output row
                    cf <= 0; kx <= 0; ky <= 0;
                    ox <= ox + 1'b1;
                    iy <= iy0;
                    slot <= slot0;
                    ix0 <= ix0 + SW; ix <= ix0 + SW;
                    col0 <= col0 + mulc(SW, CF); col <= col0 + mulc(SW, CF);
                end else begin                          // next output row (or the next frame)
                    cf <= 0; kx <= 0; ky <= 0; ox <= 0;
                    ix0 <= -PL; ix <= -PL;
                    col0 <= -mulc(PL, CF); col <= -mulc(PL, CF);
                    rslot <= rslot + nfree_r[SLW-1:0];
                    need <= need_next_r;
                    // the new row iy0's slot: rslot + nfree_r + iy0' - rd_base', where nfree_r = lo_next_r - rd_base
                    // and rd_base' = lo_next_r within a frame (slot0 + SH), rd_base' = 0 and iy0' = -PT at its end
                    if (last_row) begin
                        oy <= 0;
                        iy0 <= -PT; iy <= -PT;
                        rd_base <= 0;
                        slot0 <= rslot + nfree_r[SLW-1:0] - PT; slot <= rslot + nfree_r[SLW-1:0] - PT;
                    end else begin
                        oy <= oy + 1'b1;
                        iy0 <= iy0 + SH; iy <= iy0 + SH;
                        rd_base <= lo_next_r;
                        slot0 <= slot0 + SH; slot <= slot0 + SH;
                    end
                end
            end
        end
    end
endmodule


// cf_swg_window: the window in beats of OL lanes, assembled from whole pixels (L = C lanes, one pixel per beat).
//
// Three parts run concurrently:
//   writer   pixels into a ring of NR rows (the same bookkeeping as cf_swg_rows), one RAM per ring slot (W words of
//            one pixel), so that the KH rows of one window column are read in a single cycle;
//   fetcher  for every output row, reads the W columns of its KH input rows (rows in the padding read PAD), one
//            column per cycle, into a ring of NC column registers; it runs ahead of the emitter by at most NC
//            columns, into the next output row and the next frame;
//   emitter  for every window, once its columns are in, puts its KH*KW*C elements together in (ky, kx, c) order
//            (columns in the padding read PAD) and writes them as NB = KH*KW*C / OL beats into its output FIFO
//            (cf_outbuf: it issues a beat only while the FIFO has room for it, a registered credit, so its two
//            register stages run free; a clock enable from m_ready would reach the whole registered window,
//            KH*KW*C*EW flip-flops: 1,600 on lenet-fmnist's Conv_1).
// So a frame takes max(H*W, OH*W, OH*OW*NB) cycles, each part's own count (compiler/dataflow/window.py).  Columns
// are numbered by a running counter shared by fetcher and emitter (column x of the r-th output row is r*W + x,
// modulo 2^32), so neither needs to know where a frame ends.
module cf_swg_window #(
    parameter EW  = 8,
    parameter C   = 1,      // channels = input lanes (one pixel per beat)
    parameter OL  = 9,      // output lanes: divides KH*KW*C
    parameter H   = 8,
    parameter W   = 8,
    parameter KH  = 3,
    parameter KW  = 3,
    parameter SH  = 1,
    parameter SW  = 1,
    parameter PT  = 0,
    parameter PL  = 0,
    parameter PB  = 0,
    parameter PR  = 0,
    parameter PAD = 0,
    parameter NR  = 8,
    parameter NC  = 16,
    parameter BMEM = 0,     // the ring's RAMs: 0 where synthesis puts them, 1 block RAM, 2 LUT RAM
    parameter ODEPTH = 2    // the output stream's FIFO depth in the plan (OUT_DEPTH adds the beats in flight)
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [C*EW-1:0]  s_data,
    input  wire             s_valid,
    output wire             s_ready,
    output wire [OL*EW-1:0] m_data,
    output wire             m_valid,
    input  wire             m_ready
);
    localparam PW   = C * EW;                 // bits of a pixel
    localparam CWB  = KH * PW;                // bits of a window column (KH pixels, ky = 0 in the low bits)
    localparam NB   = KH * KW * C / OL;       // output beats per window
    localparam EBW  = (NB <= 2) ? 1 : $clog2(NB);
    localparam OH   = (H + PT + PB - KH) / SH + 1;
    localparam OW   = (W + PL + PR - KW) / SW + 1;
    localparam SLW  = (NR <= 2) ? 1 : $clog2(NR);
    localparam XW   = (W <= 2) ? 1 : $clog2(W);
    localparam NCW  = (NC <= 2) ? 1 : $clog2(NC);
    localparam RW   = $clog2(H + W + PT + PB + PL + PR + KH + KW + SH + SW + 2) + 2;   // positions, as in cf_swg_rows
    // column numbers modulo 2^CB: fetcher and emitter are never more than W + NC + KW columns apart, so the signed
    // differences below are exact with CB bits (short carry chains: these compares gate every cycle)
    localparam CB   = $clog2(W + NC + KW) + 2;

    function signed [RW-1:0] row_lo;
        input signed [RW-1:0] y0;
        begin
            row_lo = (y0 < 0) ? 0 : ((y0 > H) ? H : y0);
        end
    endfunction
    function signed [RW-1:0] rows_needed;
        input signed [RW-1:0] y0;
        reg signed [RW-1:0] hi;
        begin
            hi = y0 + KH - 1;
            if (hi > H - 1)
                hi = H - 1;
            rows_needed = hi - row_lo(y0) + 1;
        end
    endfunction

    wire [EW-1:0]  pad_elem  = PAD;
    wire [PW-1:0]  pad_pixel = {C{pad_elem}};

    // ---- writer: one pixel per beat into ring slot wslot, column wx ---------------------------------------
    reg [XW-1:0]        wx;
    reg [SLW-1:0]       wslot;
    reg signed [RW-1:0] filled;           // rows complete and not yet released (as in cf_swg_rows)
    assign s_ready = (filled < NR);
    wire wfire     = s_valid && s_ready;
    wire wrow_done = wfire && (wx == W - 1);

    // ---- fetcher state ----------------------------------------------------------------------------------
    reg [15:0]          oy;
    reg [XW-1:0]        fx;               // column to fetch next
    reg signed [RW-1:0] iy0, rd_base, need;
    reg [SLW-1:0]       rslot;
    reg [CB-1:0]        fseq;             // number of the next column to fetch
    reg [CB-1:0]        fdone;            // columns written into the column ring
    // the next output row's bookkeeping, in two register stages after a row starts (off the fetch path; a row of
    // fewer than three columns waits for it: settle)
    reg signed [RW-1:0] yn_r, lo_next_r, nfree_r, need_next_r;
    reg [1:0]           settle;
    wire                row_ok = (settle == 0);
    // fhead = filled - need, as in cf_swg_rows: the fetch decision reads its sign bit
    reg signed [RW:0]   fhead;
    wire signed [RW:0]  row_step = nfree_r + need_next_r - need;
    reg                 f1;               // a fetch is in flight (its RAM words arrive this cycle)
    reg [KH*SLW-1:0]    f1_slot;
    reg [KH-1:0]        f1_pad;

    // ---- emitter state ----------------------------------------------------------------------------------
    reg [15:0]          ox;
    reg [EBW-1:0]       eb;               // the beat of the window being emitted
    reg [CB-1:0]        ebase;            // number of column 0 of the emitter's output row
    // per window column gk, in registers set as the emitter advances (so the window's multiplexers are driven
    // straight from flip-flops, with no adder or compare before their fan-out of KH*C*EW bits each):
    reg [KW*NCW-1:0]    kslot;            // its ring slot (the column number ebase + ox*SW - PL + gk, modulo NC)
    reg [KW-1:0]        kin;              // it lies in the image (else it reads as PAD)
    // column gk of window ox lies in the image iff ox_first_in(gk) <= ox <= ox_last_in(gk)
    function integer ox_first_in;
        input integer gk;
        ox_first_in = (PL - gk <= 0) ? 0 : (PL - gk + SW - 1) / SW;
    endfunction
    function integer ox_last_in;
        input integer gk;
        ox_last_in = (W - 1 + PL - gk < 0) ? -1 : (W - 1 + PL - gk) / SW;
    endfunction

    // the window's first and last image columns, as column numbers: kept in registers, the next window's computed
    // as the emitter advances (off the emit path: fdone - ehi decides every cycle).  Whether the next window is
    // clamped at the left or right edge depends on ox alone, so it is a compare of ox with a constant, and the
    // next value is one addition to eraw = ebase + ox*SW - PL (the column number of the window's first position,
    // in the padding or not) or ecap = ebase + W - 1 (ix0 + SW -> clamp -> + ebase was LeNet Conv_1's critical
    // path at 100 MHz on the 85F: 17.9 ns, 13.3 of it routing).
    function signed [RW-1:0] first_col;
        input signed [RW-1:0] x0;
        first_col = (x0 < 0) ? 0 : x0;
    endfunction
    function signed [RW-1:0] last_col_of;
        input signed [RW-1:0] x0;
        last_col_of = (x0 + KW - 1 > W - 1) ? W - 1 : x0 + KW - 1;
    endfunction
    // window ox starts in the left padding while ox < OX_LO (ox*SW < PL), and its last position lies past the
    // image's last column once ox > OX_HI (ox*SW - PL + KW - 1 > W - 1)
    // (compared as ox < OX_LO - 1 and ox >= OX_HI for the window after ox, both clamped at 0: ox is unsigned)
    localparam OX_LO = (PL + SW - 1) / SW;
    localparam OX_LO1 = (OX_LO > 0) ? OX_LO - 1 : 0;
    localparam OX_HI = (W - KW + PL < 0) ? 0 : (W - KW + PL) / SW;
    reg [CB-1:0] elo, ehi, eraw, ecap;
    wire [CB-1:0] ahead = elo + NC - fseq;        // room in the column ring
    wire [CB-1:0] landed = fdone - ehi;           // > 0: the window's last column is in

    wire last_col  = (fx == W - 1);
    wire last_row  = (oy == OH - 1);
    wire fetch     = !fhead[RW] && !ahead[CB-1] && (ahead != 0) && (!last_col || row_ok);

    // ---- the ring RAMs: one per slot, all read at the fetched column ----------------------------------------
    wire [NR*PW-1:0] bank_q;
    genvar g;
    generate
        for (g = 0; g < NR; g = g + 1) begin : g_bank
            reg [PW-1:0] q;
            if (BMEM == 1) begin : g_block
                (* ram_style = "block" *) reg [PW-1:0] mem [0:W-1];
                always @(posedge clk) begin
                    if (wfire && wslot == g)
                        mem[wx] <= s_data;
                    q <= mem[fx];
                end
            end else if (BMEM == 2) begin : g_lut
                (* ram_style = "distributed" *) reg [PW-1:0] mem [0:W-1];
                always @(posedge clk) begin
                    if (wfire && wslot == g)
                        mem[wx] <= s_data;
                    q <= mem[fx];
                end
            end else begin : g_auto
                reg [PW-1:0] mem [0:W-1];
                always @(posedge clk) begin
                    if (wfire && wslot == g)
                        mem[wx] <= s_data;
                    q <= mem[fx];
                end
            end
            assign bank_q[g*PW +: PW] = q;
        end
    endgenerate

    // the fetched column: KH pixels from the slots chosen at issue, rows in the padding as PAD
    reg [CWB-1:0] fcol;
    integer ky;
    always @* begin
        for (ky = 0; ky < KH; ky = ky + 1)
            fcol[ky*PW +: PW] = f1_pad[ky] ? pad_pixel : bank_q[f1_slot[ky*SLW +: SLW]*PW +: PW];
    end

    // the column is registered (fcol_r, beside the banks) before it is written into the column ring (beside the
    // window multiplexers): on LeNet-fmnist's Conv_1 the slot select -> bank multiplexer -> ring write was 15.5 ns of
    // routing in one cycle; each is a cycle of its own now (a cycle more latency, the same pace)
    reg [CWB-1:0] fcol_r;
    reg           f2;                     // fcol_r holds a fetched column, written into the ring this cycle
    always @(posedge clk)
        fcol_r <= fcol;
    reg [CWB-1:0] cols [0:NC-1];
    always @(posedge clk)
        if (f2)
            cols[fdone[NCW-1:0]] <= fcol_r;

    // ---- the window: KW columns of KH pixels, as (ky, kx, c) ------------------------------------------------
    wire [KH*KW*PW-1:0] win;
    genvar gk, gy;
    generate
        for (gk = 0; gk < KW; gk = gk + 1) begin : g_kx
            wire [CWB-1:0] col = kin[gk] ? cols[kslot[gk*NCW +: NCW]] : {KH{pad_pixel}};
            for (gy = 0; gy < KH; gy = gy + 1) begin : g_ky
                assign win[(gy*KW + gk)*PW +: PW] = col[gy*PW +: PW];
            end
        end
    endgenerate

    // the window is registered (win_r) before its beat is chosen: the column ring's LUT RAM read and the window
    // multiplexers, then the beat multiplexer, are a cycle each (10.7 ns together on cnn-digits).  The chosen
    // beat goes into the output FIFO; every beat is an output word, so the credit gates every emit.
    reg [KH*KW*PW-1:0] win_r;
    reg                v_e1;
    reg [EBW-1:0]      eb_r;
    // the beat: with one beat a window it is the window itself (no multiplexer on a counter that stays 0: on
    // LeNet-fmnist's Conv_0, 25 lanes a beat, that multiplexer into the FIFO was the design's slowest path)
    wire [OL*EW-1:0]   beat = (NB == 1) ? win_r[OL*EW-1:0] : win_r[eb_r*OL*EW +: OL*EW];
    wire room;                            // cf_outbuf: a beat emitted now has its place
    wire emit = room && !landed[CB-1] && (landed != 0);
    // words in flight: LAT = 2 cycles from emit to the beat's earliest pop (win_r, then the FIFO), one a beat
    localparam LAT       = 2;
    localparam OUT_DEPTH = ODEPTH + LAT;       // ODEPTH + (LAT + 1) - 1
    cf_outbuf #(.WIDTH(OL * EW), .DEPTH(OUT_DEPTH)) u_outbuf (
        .clk(clk), .rst(rst),
        .issue(emit), .room(room),
        .s_data(beat), .s_valid(v_e1),
        .m_data(m_data), .m_valid(m_valid), .m_ready(m_ready)
    );
    always @(posedge clk) begin          // (no reset, no enable: a net to every bit of the window costs Fmax)
        win_r <= win;
        eb_r <= eb;
    end

    integer k;
    always @(posedge clk) begin
        if (rst) begin
            wx <= 0; wslot <= 0; filled <= 0;
            oy <= 0; fx <= 0; iy0 <= -PT; rd_base <= 0; need <= rows_needed(-PT); rslot <= 0;
            fhead <= -rows_needed(-PT);
            fseq <= 0; fdone <= 0; f1 <= 1'b0; f2 <= 1'b0; settle <= 2'd2;
            ox <= 0; eb <= 0; ebase <= 0; v_e1 <= 1'b0;
            for (k = 0; k < KW; k = k + 1) begin
                kslot[k*NCW +: NCW] <= k - PL;
                kin[k] <= (ox_first_in(k) == 0) && (ox_last_in(k) >= 0);
            end
            elo <= first_col(-PL); ehi <= last_col_of(-PL); eraw <= -PL; ecap <= W - 1;
        end else begin
            yn_r        <= iy0 + SH;
            lo_next_r   <= row_lo(yn_r);
            nfree_r     <= last_row ? H - rd_base : row_lo(yn_r) - rd_base;
            need_next_r <= last_row ? rows_needed(-PT) : rows_needed(yn_r);
            settle      <= (fetch && last_col) ? 2'd2 : (settle != 0 ? settle - 1'b1 : 2'd0);
            // writer
            if (wfire) begin
                wx <= (wx == W - 1) ? {XW{1'b0}} : wx + 1'b1;
                if (wx == W - 1)
                    wslot <= wslot + 1'b1;
            end
            filled <= filled + (wrow_done ? 1 : 0) - ((fetch && last_col) ? nfree_r : 0);
            fhead  <= fhead + (wrow_done ? 1 : 0) - ((fetch && last_col) ? row_step : 0);
            // fetcher: issue (the RAMs read column fx at this edge) ...
            f1 <= fetch;
            f2 <= f1;
            if (fetch) begin
                for (k = 0; k < KH; k = k + 1) begin
                    f1_pad[k] <= (iy0 + k < 0) || (iy0 + k >= H);
                    f1_slot[k*SLW +: SLW] <= rslot + (iy0 + k - rd_base);
                end
                fseq <= fseq + 1;
                fx <= last_col ? {XW{1'b0}} : fx + 1'b1;
                if (last_col) begin                    // the row's columns are out: release its rows
                    rslot <= rslot + nfree_r[SLW-1:0];
                    need <= need_next_r;
                    if (last_row) begin
                        oy <= 0; iy0 <= -PT; rd_base <= 0;
                    end else begin
                        oy <= oy + 1'b1; iy0 <= iy0 + SH; rd_base <= lo_next_r;
                    end
                end
            end
            // ... the column is registered a cycle later (fcol_r) and lands in the ring the cycle after
            if (f2)
                fdone <= fdone + 1;
            // emitter: stage 1 takes the window (below), stage 2 writes its beat into the FIFO
            v_e1 <= emit;
            if (emit) begin
                if (eb == NB - 1) begin
                    eb <= 0;
                    if (ox == OW - 1) begin
                        ox <= 0; ebase <= ebase + W;
                        for (k = 0; k < KW; k = k + 1) begin
                            kslot[k*NCW +: NCW] <= ebase + W - PL + k;
                            kin[k] <= (ox_first_in(k) == 0) && (ox_last_in(k) >= 0);
                        end
                        elo <= ebase + W + first_col(-PL); ehi <= ebase + W + last_col_of(-PL);
                        eraw <= ebase + W - PL; ecap <= ebase + W + W - 1;
                    end else begin
                        ox <= ox + 1'b1;
                        for (k = 0; k < KW; k = k + 1) begin       // window ox + 1
                            kslot[k*NCW +: NCW] <= kslot[k*NCW +: NCW] + SW;
                            kin[k] <= ($signed({1'b0, ox}) >= ox_first_in(k) - 1) &&
                                      ($signed({1'b0, ox}) < ox_last_in(k));
                        end
                        eraw <= eraw + SW;
                        elo <= (ox < OX_LO1) ? ebase : eraw + SW;
                        ehi <= (ox >= OX_HI) ? ecap : eraw + (SW + KW - 1);
                    end
                end else
                    eb <= eb + 1'b1;
            end
        end
    end
endmodule
