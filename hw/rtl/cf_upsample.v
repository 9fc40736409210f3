// convflow RTL library: cf_upsample -- nearest-neighbour upsampling by whole factors: out[y][x] = in[y/SY][x/SX].
//
// Input : the image in NHWC order, beats of L lanes (CF = C / L beats per pixel), W pixels per row.
// Output: every input row SY times, every pixel of a row SX times (its CF beats in order) -- H*SY x W*SX pixels.
// The first copy of each pixel in the first copy of a row comes straight from the input (and is kept in a row
// buffer of W*CF beats); every other copy is read back from the buffer.  One beat out per cycle; the input is read
// only while a row's first copy is being written.  A global enable (en = !m_valid || m_ready) freezes everything
// on back-pressure.
module cf_upsample #(
    parameter EW = 8,       // element bits
    parameter L  = 1,       // lanes per beat
    parameter W  = 8,       // input width
    parameter CF = 1,       // beats per pixel (channels / L)
    parameter SY = 2,
    parameter SX = 2
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
    localparam WW    = L * EW;
    localparam DEPTH = W * CF;
    localparam AW    = (DEPTH <= 2) ? 1 : $clog2(DEPTH);
    localparam XW    = (W <= 2) ? 1 : $clog2(W);
    localparam CW    = (CF <= 2) ? 1 : $clog2(CF);
    localparam SXW   = (SX <= 2) ? 1 : $clog2(SX);
    localparam SYW   = (SY <= 2) ? 1 : $clog2(SY);

    reg [WW-1:0] row [0:DEPTH-1];
    reg [XW-1:0]  x;
    reg [CW-1:0]  cf;
    reg [SXW-1:0] rep;
    reg [SYW-1:0] r;
    reg [AW-1:0]  addr;          // x * CF + cf
    reg [AW-1:0]  pixel_base;    // x * CF
    reg           out_valid;
    reg [WW-1:0]  out_data;

    wire fresh = (r == 0) && (rep == 0);      // this beat is new input
    wire en    = !out_valid || m_ready;
    wire fire  = en && (!fresh || s_valid);
    assign s_ready = en && fresh;
    assign m_valid = out_valid;
    assign m_data  = out_data;

    always @(posedge clk) begin
        if (fire && fresh)
            row[addr] <= s_data;
        if (rst) begin
            x <= 0; cf <= 0; rep <= 0; r <= 0; addr <= 0; pixel_base <= 0;
            out_valid <= 1'b0;
        end else if (en) begin
            out_valid <= fire;
            if (fire) begin
                out_data <= fresh ? s_data : row[addr];
                if (cf != CF - 1) begin
                    cf <= cf + 1'b1;
                    addr <= addr + 1'b1;
                end else begin
                    cf <= 0;
                    if (rep != SX - 1) begin                    // the same pixel again
                        rep <= rep + 1'b1;
                        addr <= pixel_base;
                    end else begin
                        rep <= 0;
                        if (x != W - 1) begin                    // the next pixel
                            x <= x + 1'b1;
                            pixel_base <= pixel_base + CF;
                            addr <= pixel_base + CF;
                        end else begin                           // the row again, or the next input row
                            x <= 0;
                            pixel_base <= 0;
                            addr <= 0;
                            r <= (r == SY - 1) ? {SYW{1'b0}} : r + 1'b1;
                        end
                    end
                end
            end
        end
    end
endmodule
