// convflow RTL library: cf_dwc -- stream width converter between IN_L and OUT_L lanes of EW-bit elements.
//
// One of IN_L, OUT_L must divide the other.  Lane i of a beat occupies bits [i*EW +: EW]; lane 0 is the element
// that comes first in the stream, so converting never reorders elements:
//   * up   (OUT_L = k*IN_L): k input beats are gathered into one output beat (the k-th arrives straight into the
//     output register, so the converter accepts one beat per cycle);
//   * down (IN_L = k*OUT_L): one input beat is held and sent as k output beats;
//   * equal: a wire.
module cf_dwc #(
    parameter EW    = 8,
    parameter IN_L  = 1,
    parameter OUT_L = 1
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [IN_L*EW-1:0]    s_data,
    input  wire                  s_valid,
    output wire                  s_ready,
    output wire [OUT_L*EW-1:0]   m_data,
    output wire                  m_valid,
    input  wire                  m_ready
);
    localparam IW = IN_L * EW;
    localparam OW = OUT_L * EW;

    generate
        if (IN_L == OUT_L) begin : g_equal
            assign m_data  = s_data;
            assign m_valid = s_valid;
            assign s_ready = m_ready;
        end else if (OUT_L > IN_L) begin : g_up
            localparam K  = OUT_L / IN_L;
            localparam CW = (K <= 2) ? 1 : $clog2(K);
            reg [OW-1:0] gather;          // pieces 0..k-2 of the beat being collected
            reg [OW-1:0] out_data;
            reg          out_valid;
            reg [CW-1:0] idx;
            reg [OW-1:0] merged;
            wire last = (idx == K - 1);
            assign s_ready = !last || !out_valid || m_ready;
            assign m_data  = out_data;
            assign m_valid = out_valid;
            always @* begin
                merged = gather;
                merged[idx*IW +: IW] = s_data;
            end
            always @(posedge clk) begin
                if (rst) begin
                    idx <= 0;
                    out_valid <= 1'b0;
                end else begin
                    if (out_valid && m_ready)
                        out_valid <= 1'b0;
                    if (s_valid && s_ready) begin
                        if (last) begin
                            out_data <= merged;
                            out_valid <= 1'b1;
                            idx <= 0;
                        end else begin
                            gather <= merged;
                            idx <= idx + 1'b1;
                        end
                    end
                end
            end
        end else begin : g_down
            localparam K  = IN_L / OUT_L;
            localparam CW = (K <= 2) ? 1 : $clog2(K);
            reg [IW-1:0] hold;
            reg          full;
            reg [CW-1:0] idx;
            wire last = (idx == K - 1);
            assign m_data  = hold[idx*OW +: OW];
            assign m_valid = full;
            assign s_ready = !full || (m_ready && last);
            always @(posedge clk) begin
                if (rst) begin
                    full <= 1'b0;
                    idx <= 0;
                end else begin
                    if (full && m_ready) begin
                        idx <= last ? {CW{1'b0}} : idx + 1'b1;
                        if (last)
                            full <= 1'b0;
                    end
                    if (s_valid && s_ready) begin
                        hold <= s_data;
                        full <= 1'b1;
                    end
                end
            end
        end
    endgenerate
endmodule
