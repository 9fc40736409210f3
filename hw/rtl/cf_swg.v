// convflow RTL library: cf_swg -- sliding-window generator (line buffer) for convolutions and pooling.
//
// Input : the image in NHWC order, one beat = L lanes of EW-bit elements = L consecutive channels of one pixel
//         (CF = C / L beats per pixel), H x W pixels per frame.
// Output: for every output pixel (oy, ox) in raster order, the window's beats in (ky, kx, cf) order
//         = KH * KW * CF beats; positions in the padding read as PAD (replicated in every lane).
//         This is exactly the row order of the matrix a matrix-vector unit multiplies: (ky*KW + kx)*C + c.
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
module cf_swg #(
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
    parameter NR  = 8       // ring rows: a power of two >= KH + SH (the compiler uses >= 2*KH + SH - 1)
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
    // signed width of row / column positions and row counts (short carry chains: these sit on the
    // issue path); holds +-2^(RW-1), far beyond any image edge plus padding
    localparam RW     = 18;

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

    reg [WW-1:0] mem [0:DEPTHM-1];

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
    wire last_in_row = last_ox && last_ky && last_kx && last_cf;

    wire can_issue = (filled >= need);
    wire pad_now   = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    wire [31:0] dy = iy - rd_base;
    wire [SLW-1:0] slot = rslot + dy[SLW-1:0];
    wire [31:0] addr_full = mulc(slot, ROWW) + col;
    wire [AW-1:0] raddr = addr_full[AW-1:0];

    wire signed [RW-1:0] lo_next = row_lo(iy0 + SH);
    wire signed [RW-1:0] nfree   = last_row ? H - rd_base : lo_next - rd_base;

    wire en    = !out_valid || m_ready;
    wire issue = en && can_issue;

    assign m_valid = out_valid;
    assign m_data  = pad_r ? pad_word : rdata;

    always @(posedge clk) begin
        if (wfire)
            mem[waddr] <= s_data;
        if (en)
            rdata <= mem[raddr];
    end

    always @(posedge clk) begin
        if (rst) begin
            wx <= 0; wcf <= 0; waddr <= 0;
            oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0;
            iy0 <= -PT; ix0 <= -PL; iy <= -PT; ix <= -PL;
            col0 <= -mulc(PL, CF); col <= -mulc(PL, CF);
            rd_base <= 0; rslot <= 0;
            need <= rows_needed(-PT);
            filled <= 0;
            out_valid <= 1'b0;
            pad_r <= 1'b0;
        end else begin
            // writer
            if (wfire) begin
                waddr <= (waddr == DEPTHM - 1) ? {AW{1'b0}} : waddr + 1'b1;
                if (wcf == CF - 1) begin
                    wcf <= 0;
                    wx <= (wx == W - 1) ? 16'd0 : wx + 1'b1;
                end else
                    wcf <= wcf + 1'b1;
            end
            filled <= filled + (wrow_done ? 1 : 0) - ((issue && last_in_row) ? nfree : 0);
            // reader
            if (en) begin
                out_valid <= can_issue;
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
                    ix <= ix0;
                    col <= col0;
                end else if (!last_ox) begin           // next window in the output row
                    cf <= 0; kx <= 0; ky <= 0;
                    ox <= ox + 1'b1;
                    iy <= iy0;
                    ix0 <= ix0 + SW; ix <= ix0 + SW;
                    col0 <= col0 + mulc(SW, CF); col <= col0 + mulc(SW, CF);
                end else begin                          // next output row (or the next frame)
                    cf <= 0; kx <= 0; ky <= 0; ox <= 0;
                    ix0 <= -PL; ix <= -PL;
                    col0 <= -mulc(PL, CF); col <= -mulc(PL, CF);
                    rslot <= rslot + nfree[SLW-1:0];
                    if (last_row) begin
                        oy <= 0;
                        iy0 <= -PT; iy <= -PT;
                        rd_base <= 0;
                        need <= rows_needed(-PT);
                    end else begin
                        oy <= oy + 1'b1;
                        iy0 <= iy0 + SH; iy <= iy0 + SH;
                        rd_base <= lo_next;
                        need <= rows_needed(iy0 + SH);
                    end
                end
            end
        end
    end
endmodule
