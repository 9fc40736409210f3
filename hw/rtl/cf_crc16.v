// cf_crc16: one byte step of CRC-16/CCITT-FALSE (polynomial 0x1021, MSB first,
// no reflection; the caller starts from 16'hFFFF and applies no final xor).
// Purely combinational: crc_out = CRC state after shifting in `data`.
`default_nettype none
module cf_crc16 (
    input  wire [15:0] crc_in,
    input  wire [7:0]  data,
    output wire [15:0] crc_out
);
    function [15:0] step;
        input [15:0] c;
        input [7:0]  d;
        integer i;
        reg [15:0] r;
        begin
            r = c ^ {d, 8'h00};
            for (i = 0; i < 8; i = i + 1)
                r = r[15] ? ({r[14:0], 1'b0} ^ 16'h1021) : {r[14:0], 1'b0};
            step = r;
        end
    endfunction
    assign crc_out = step(crc_in, data);
endmodule
`default_nettype wire
