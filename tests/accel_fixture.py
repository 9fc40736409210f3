"""A small stand-in for a generated accelerator (TEST FIXTURE, never a product result): module cf_accel with the
artifact contract's ports, computing per frame out[j] = 3 * sum(in[j*G:(j+1)*G]) - 5 (wrapped to OUT_BITS), with
pseudo-random stalls on its input and output side so the board top's handshakes are exercised.  Written as an
artifact directory (rtl/cf_accel.v, rtl/accel.json, manifest.json) so the same code paths as a real artifact run."""
import json
from pathlib import Path

import numpy as np

_TEMPLATE = """// TEST FIXTURE written by tests/accel_fixture.py: group sums, not a real accelerator.
`default_nettype none
module cf_accel (
    input  wire                clk,
    input  wire                rst,
    input  wire [{ib}-1:0]      s_data,
    input  wire                s_valid,
    output wire                s_ready,
    output reg  [{ob}-1:0]      m_data,
    output reg                 m_valid,
    input  wire                m_ready
);
    localparam integer G = {group};
    reg [15:0]            lfsr;
    reg signed [{ob}-1:0]  sum;
    reg [15:0]            cnt;
    wire signed [{ob}-1:0] x = {ext};
    assign s_ready = !m_valid && lfsr[0];
    always @(posedge clk) begin
        if (rst) begin
            lfsr <= 16'hACE1; sum <= 0; cnt <= 0; m_valid <= 1'b0; m_data <= 0;
        end else begin
            lfsr <= {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
            if (m_valid && m_ready) m_valid <= 1'b0;
            if (s_valid && s_ready) begin
                if (cnt == G - 1) begin
                    m_data  <= (sum + x) * 3 - 5;
                    m_valid <= 1'b1;
                    sum     <= 0;
                    cnt     <= 0;
                end else begin
                    sum <= sum + x;
                    cnt <= cnt + 1'b1;
                end
            end
        end
    end
endmodule
`default_nettype wire
"""


def write_test_artifact(path, in_bits=8, in_signed=True, out_bits=12, out_signed=True, in_elems=12, out_elems=4):
    path = Path(path)
    assert in_elems % out_elems == 0 and out_bits > in_bits
    ext = (f"{{{{{out_bits - in_bits}{{s_data[{in_bits - 1}]}}}}, s_data}}" if in_signed
           else f"{{{out_bits - in_bits}'d0, s_data}}")
    rtl = path / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    (rtl / "cf_accel.v").write_text(_TEMPLATE.format(ib=in_bits, ob=out_bits, group=in_elems // out_elems, ext=ext))
    spec = {"top": "cf_accel", "in_bits": in_bits, "in_signed": in_signed, "out_bits": out_bits,
            "out_signed": out_signed, "in_elems": in_elems, "out_elems": out_elems, "files": ["cf_accel.v"],
            "hex_files": []}
    (rtl / "accel.json").write_text(json.dumps(spec, indent=1))
    write_manifest(path, "test-fixture-groupsum")
    return spec


def write_manifest(path, name):
    """The manifest of a hand-made artifact: its name and the sha256 of every file in it (what the flows check)."""
    from convflow.hw.integrity import hash_tree

    manifest = {"format_version": 1, "convflow_version": "test", "name": name, "files": hash_tree(path)}
    (Path(path) / "manifest.json").write_text(json.dumps(manifest))


def model(x, spec):
    """numpy model of the fixture (what the board must return)."""
    x = np.asarray(x, dtype=np.int64).reshape(spec["out_elems"], -1)
    y = x.sum(axis=1) * 3 - 5
    bits = spec["out_bits"]
    y &= (1 << bits) - 1
    if spec["out_signed"]:
        y = np.where(y >= (1 << (bits - 1)), y - (1 << bits), y)
    return y
