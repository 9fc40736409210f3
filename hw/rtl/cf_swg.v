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

    wire [EW-1:0] pad_elem = PAD;
    wire [WW-1:0] pad_word = {L{pad_elem}};

    reg [WW-1:0] mem [0:DEPTHM-1];

    // ---- writer -------------------------------------------------------------------------------------------
    reg [15:0]           wx, wcf;
    reg [SLW-1:0]        wslot;
    reg signed [31:0]    filled;
    assign s_ready = (filled < NR);
    wire wfire     = s_valid && s_ready;
    wire wrow_done = wfire && (wx == W - 1) && (wcf == CF - 1);
    wire [31:0] waddr_full = mulc(wslot, ROWW) + mulc(wx, CF) + wcf;
    wire [AW-1:0] waddr = waddr_full[AW-1:0];

    // ---- reader -------------------------------------------------------------------------------------------
    reg [15:0]        oy, ox, ky, kx, cf;
    reg [15:0]        rd_base;
    reg [SLW-1:0]     rslot;
    reg               out_valid;
    reg               pad_r;
    reg [WW-1:0]      rdata;

    reg signed [31:0] i_oy, i_ox, i_ky, i_kx, i_cf, i_rb;
    reg signed [31:0] iy, ix, hi, need, lo_next, nfree, slot_i, addr_i;
    reg               can_issue, pad_now, last_in_row, last_row;
    reg [AW-1:0]      raddr;

    always @* begin
        i_oy = oy; i_ox = ox; i_ky = ky; i_kx = kx; i_cf = cf; i_rb = rd_base;
        iy = mulc(i_oy, SH) + i_ky - PT;
        ix = mulc(i_ox, SW) + i_kx - PL;
        hi = mulc(i_oy, SH) - PT + KH - 1;
        if (hi > H - 1)
            hi = H - 1;
        need = hi - i_rb + 1;
        can_issue = (filled >= need);
        pad_now = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
        slot_i = rslot + (iy - i_rb);
        addr_i = mulc(slot_i & (NR - 1), ROWW) + mulc(ix, CF) + i_cf;
        raddr = addr_i[AW-1:0];
        last_in_row = (ox == OW - 1) && (ky == KH - 1) && (kx == KW - 1) && (cf == CF - 1);
        last_row = (oy == OH - 1);
        lo_next = mulc(i_oy + 1, SH) - PT;
        if (lo_next < 0)
            lo_next = 0;
        if (lo_next > H)
            lo_next = H;
        if (last_row)
            nfree = H - i_rb;
        else
            nfree = lo_next - i_rb;
    end

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
            wx <= 0; wcf <= 0; wslot <= 0;
            oy <= 0; ox <= 0; ky <= 0; kx <= 0; cf <= 0;
            rd_base <= 0; rslot <= 0;
            filled <= 0;
            out_valid <= 1'b0;
            pad_r <= 1'b0;
        end else begin
            // writer
            if (wfire) begin
                if (wcf == CF - 1) begin
                    wcf <= 0;
                    if (wx == W - 1) begin
                        wx <= 0;
                        wslot <= wslot + 1'b1;
                    end else
                        wx <= wx + 1'b1;
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
                if (cf != CF - 1) cf <= cf + 1'b1;
                else begin
                    cf <= 0;
                    if (kx != KW - 1) kx <= kx + 1'b1;
                    else begin
                        kx <= 0;
                        if (ky != KH - 1) ky <= ky + 1'b1;
                        else begin
                            ky <= 0;
                            if (ox != OW - 1) ox <= ox + 1'b1;
                            else begin
                                ox <= 0;
                                oy <= last_row ? 16'd0 : oy + 1'b1;
                                rd_base <= last_row ? 16'd0 : lo_next[15:0];
                                rslot <= rslot + nfree[SLW-1:0];
                            end
                        end
                    end
                end
            end
        end
    end
endmodule
