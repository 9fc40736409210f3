"""`convflow report ART`: the layer table with units and device family, frames/s at the clock and the bottleneck,
HTML with a picture of the dataflow graph (opened in headless Chromium), written into ART/report without breaking
the artifact's integrity; a Vitis csynth XML in the hls/ project is parsed into the same report."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil

import numpy as np
import pytest

from conftest import TFC
from test_cli import convflow
from test_compare import chromium


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    from convflow.compiler.compile import compile_model

    return compile_model(TFC, tmp_path_factory.mktemp("report") / "tfc", clock_mhz=125)


def test_report_prints_the_table_and_writes_html_inside_the_artifact(art):
    r = convflow("report", art)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"MatMul_0\s+Dense\s+\d+\s+\d+\s+[\d,]+\s+[\d,]+", out)          # PE SIMD cycles LUT4 ...
    assert "LUT4" in out and "EBR" in out and "Lattice ECP5" in out and "Xilinx xc7z020clg400-1" in out
    assert re.search(r"[\d,]+ cycles/frame = [\d,]+ frames/s at 125 MHz; bottleneck: stage \S+", out), out
    assert "csynth has not run" in out
    folder = art / "report"
    assert {p.name for p in folder.iterdir()} == {"report.html", "report.json", "report.png"}
    report = json.loads((folder / "report.json").read_text())
    assert [row["name"] for row in report["layers"]][:2] == ["MatMul_0", "Quant_5"]
    assert report["fps"] == pytest.approx(125e6 / report["cycles_per_frame"])
    # the artifact is still whole: its hashes hold, check counts report/ as convflow's, and a compile over it
    # replaces it (report/ included) without asking for --force
    from convflow.runtime.artifact import Artifact

    Artifact.load(art)
    assert convflow("check", art).returncode == 0
    again = convflow("compile", TFC, "-o", art, "--clock-mhz", "125")
    assert again.returncode == 0, again.stderr
    assert not folder.exists()
    assert convflow("report", art, "-o", art.parent / "elsewhere").returncode == 0
    assert (art.parent / "elsewhere" / "report.html").is_file() and not folder.exists()


def test_the_html_shows_a_real_picture_of_the_graph(art, tmp_path):
    from PIL import Image

    assert convflow("report", art, "-o", tmp_path / "r").returncode == 0
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<script" not in html
    src = re.search(r'<img id="graph"[^>]*src="data:image/png;base64,([^"]+)"', html).group(1)
    png = base64.b64decode(src)
    assert png == (tmp_path / "r" / "report.png").read_bytes()
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape[0] > 300 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50    # drawn, not blank
    red = np.all(np.abs(image.astype(int) - [0xC4, 0x4E, 0x52]) <= 2, axis=2)         # the bottleneck's frame
    assert red.sum() > 50
    # in a browser: the layer table and the picture are on the rendered page
    r = chromium("--dump-dom", (tmp_path / "r" / "report.html").as_uri(), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    table = re.search(r'<table id="layers">(.*?)</table>', r.stdout, re.S).group(1)
    assert table.count("<tr") == 1 + 7 + 1 and "MatMul_3" in table and "LUT4" in table
    shot = tmp_path / "page.png"
    r = chromium(f"--screenshot={shot}", "--window-size=1200,1600", (tmp_path / "r" / "report.html").as_uri(),
                 tmp_path=tmp_path)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    page = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert np.all(np.abs(page.astype(int) - [0xC4, 0x4E, 0x52]) <= 2, axis=1).sum() > 50   # the picture drawn


# the shape of Vitis HLS's <top>_csynth.xml (csynth_design), trimmed to what the parser reads
CSYNTH_XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>xc7z020-clg400-1</Part>
    <TopModelName>{top}</TopModelName><TargetClockPeriod>8.00</TargetClockPeriod>
    <ClockUncertainty>2.16</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>dataflow</PipelineType>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>5.843</EstimatedClockPeriod>
    </SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit><Best-caseLatency>1043</Best-caseLatency><Average-caseLatency>1043</Average-caseLatency>
      <Worst-caseLatency>1051</Worst-caseLatency><Best-caseRealTimeLatency>8.344 us</Best-caseRealTimeLatency>
      <Interval-min>785</Interval-min><Interval-max>790</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>12</BRAM_18K><DSP>0</DSP><FF>4821</FF><LUT>7314</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM>
    </AvailableResources>
  </AreaEstimates>
</profile>
"""


def test_a_vitis_csynth_report_is_parsed_into_the_report(art, tmp_path):
    from convflow.hw.flows.vitis import parse_csynth

    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    top = next(p.stem for p in (copy / "hls").glob("*.cpp") if not p.stem.endswith(("_tb", "_csim")))
    folder = copy / "hls" / f"{top}_prj" / "solution1" / "syn" / "report"
    folder.mkdir(parents=True)
    (folder / f"{top}_csynth.xml").write_text(CSYNTH_XML.format(top=top))
    parsed = parse_csynth(folder / f"{top}_csynth.xml")
    assert parsed["part"] == "xc7z020-clg400-1" and parsed["top"] == top
    assert parsed["latency_cycles"] == [1043, 1051] and parsed["interval_cycles"] == [785, 790]
    assert parsed["resources"] == {"LUT": 7314, "FF": 4821, "DSP": 0, "BRAM_18K": 12, "URAM": 0}
    assert parsed["target_clock_ns"] == 8.0 and parsed["fmax_mhz"] == pytest.approx(1000 / 5.843, abs=0.01)
    r = convflow("report", copy, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vitis"]["resources"]["LUT"] == 7314
    text = convflow("report", copy).stdout
    assert "Vitis HLS csynth (xc7z020-clg400-1): latency 1,043..1,051 cycles, interval 785..790 cycles" in text
    assert "LUT 7,314" in text and "BRAM_18K 12" in text
    html = (copy / "report" / "report.html").read_text()
    assert '<table id="vitis">' in html and "7,314" in html
    (folder / f"{top}_csynth.xml").write_text("<profile><nothing/></profile>")
    bad = convflow("report", copy)
    assert bad.returncode == 2 and "not a Vitis HLS csynth report" in bad.stderr
