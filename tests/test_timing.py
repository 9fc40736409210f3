"""The stage-by-stage timing analysis of a routed design (hw/flows/timing.py) on SDF text written as nextpnr writes
it: arrivals along the longest chain, setup added, escaped names, paths grouped by the stage of their endpoint.
(On real designs it agrees with nextpnr's own Fmax: tests/test_ecp5_flow.py checks that on every build.)"""
from convflow.hw.flows import timing

# Two stages: u_s1_Conv_0_mvu launches at a flip-flop (clock-to-Q 500 ps), goes through two LUTs (a slow and a fast
# branch that meet) into u_s2_Quant_1's flip-flop (setup 100 ps); a short path inside u_s1 itself; a flip-flop of
# the board top fed straight from u_s1's.
SDF = r"""(DELAYFILE
  (SDFVERSION "3.0")
  (DIVIDER /)
  (TIMESCALE 1ps)
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY
      (ABSOLUTE
        (INTERCONNECT u_s1_Conv_0_mvu.acc\[3\]_FF/Q u_s1_Conv_0_mvu.lut_a/A (100:150:200) (100:150:200))
        (INTERCONNECT u_s1_Conv_0_mvu.acc\[3\]_FF/Q u_s1_Conv_0_mvu.lut_b/A (100:900:1000) (100:900:1000))
        (INTERCONNECT u_s1_Conv_0_mvu.lut_a/F u_s1_Conv_0_mvu.lut_c/B (50:50:50) (50:50:50))
        (INTERCONNECT u_s1_Conv_0_mvu.lut_b/F u_s1_Conv_0_mvu.lut_c/C (50:50:50) (50:50:50))
        (INTERCONNECT u_s1_Conv_0_mvu.lut_c/F u_s2_Quant_1.t_FF/DI (300:300:300) (300:300:300))
        (INTERCONNECT u_s1_Conv_0_mvu.acc\[3\]_FF/Q u_s1_Conv_0_mvu.acc\[4\]_FF/DI (100:100:100) (100:100:100))
        (INTERCONNECT u_s1_Conv_0_mvu.acc\[3\]_FF/Q u_board.led_FF/DI (2000:2000:2000) (2000:2000:2000))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u_s1_Conv_0_mvu.acc\[3\]_FF)
    (DELAY
      (ABSOLUTE
        (IOPATH CLK Q (430:477:500) (430:477:500))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE u_s1_Conv_0_mvu.lut_a)
    (DELAY (ABSOLUTE (IOPATH A F (200:218:236) (200:218:236))))
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE u_s1_Conv_0_mvu.lut_b)
    (DELAY
      (ABSOLUTE
        (IOPATH A F (200:218:264) (200:218:264))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE u_s1_Conv_0_mvu.lut_c)
    (DELAY
      (ABSOLUTE
        (IOPATH B F (200:218:236) (200:218:236))
        (IOPATH C F (200:218:236) (200:218:236))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u_s2_Quant_1.t_FF)
    (DELAY (ABSOLUTE (IOPATH CLK Q (430:477:500) (430:477:500))))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (0:0:0))
      (SETUPHOLD (posedge CE) (posedge CLK) (0:0:0) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u_s1_Conv_0_mvu.acc\[4\]_FF)
    (DELAY (ABSOLUTE (IOPATH CLK Q (430:477:500) (430:477:500))))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u_board.led_FF)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (0:0:0))
    )
  )
)
"""


def test_longest_chain_and_stages(tmp_path):
    sdf = tmp_path / "top.sdf"
    sdf.write_text(SDF)
    paths = timing.TimingGraph.read(sdf).paths()
    assert [p.stage for p in paths] == ["board top", "u_s2_Quant_1", "u_s1_Conv_0_mvu"]     # slowest first
    assert paths[0].period_ns == 2.5
    worst = paths[1]
    # launch 500 + route 1000 + LUT 264 + route 50 + LUT 236 + route 300 + setup 100 (the slow branch, max values)
    assert worst.period_ns == 2.45
    assert worst.stage == "u_s2_Quant_1" and worst.endpoint == "u_s2_Quant_1.t_FF/DI"
    assert worst.startpoint == "u_s1_Conv_0_mvu.acc[3]_FF/Q"          # escaped brackets read back
    assert [h[0] for h in worst.hops] == ["u_s1_Conv_0_mvu.acc[3]_FF/Q", "u_s1_Conv_0_mvu.lut_b/A",
                                          "u_s1_Conv_0_mvu.lut_b/F", "u_s1_Conv_0_mvu.lut_c/C",
                                          "u_s1_Conv_0_mvu.lut_c/F", "u_s2_Quant_1.t_FF/DI"]
    assert round(worst.routing_ns, 3) == 1.35 and round(worst.logic_ns, 3) == 1.1
    rows = timing.by_stage(paths, target_mhz=450)
    assert [r["stage"] for r in rows] == ["board top", "u_s2_Quant_1", "u_s1_Conv_0_mvu"]
    assert [round(r["fmax_mhz"], 1) for r in rows] == [400.0, 408.2, 1428.6]
    assert [r["failing"] for r in rows] == [1, 1, 0]
    report = timing.stage_report(sdf, 450)
    assert report[1] == {"stage": "u_s2_Quant_1", "fmax_mhz": 408.16, "endpoints": 1, "failing": 1,
                         "from": "u_s1_Conv_0_mvu.acc[3]_FF/Q", "to": "u_s2_Quant_1.t_FF/DI",
                         "logic_ns": 1.1, "routing_ns": 1.35}


def test_an_unreached_check_and_a_timescale_in_ns(tmp_path):
    """A setup check no launch reaches is no path; a TIMESCALE in ns scales every delay."""
    sdf = tmp_path / "top.sdf"
    sdf.write_text(SDF.replace("(TIMESCALE 1ps)", "(TIMESCALE 1ns)")
                   .replace("(INTERCONNECT u_s1_Conv_0_mvu.acc\\[3\\]_FF/Q u_board.led_FF/DI (2000:2000:2000) "
                            "(2000:2000:2000))", ""))
    paths = timing.TimingGraph.read(sdf).paths()
    assert {p.stage for p in paths} == {"u_s2_Quant_1", "u_s1_Conv_0_mvu"}
    assert paths[0].period_ns == 2450.0
