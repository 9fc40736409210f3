"""`convflow compare`: the table, compare.json, the PNG chart and the self-contained HTML report -- opened in a real
headless browser (Debian's Chromium, started by the test) to see that the table and the chart are there."""
import base64
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qonnx_builders import conv_bn_model

CLI = [sys.executable, "-m", "convflow.runtime.cli"]
BACKENDS = ["reference", "qonnx", "rtlsim", "gpu"]


def convflow(*args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from convflow.compiler.compile import compile_model

    return compile_model(conv_bn_model(seed=11), tmp_path_factory.mktemp("compare") / "art", name="compare<&>\"test")


@pytest.fixture(scope="module")
def report_dir(artifact, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    r = convflow("compare", artifact, "-o", out, "--backends", ",".join(BACKENDS), "--count", 300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "report:" in r.stdout and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    for backend in BACKENDS[1:] + ["fpga"]:
        row = next(line for line in lines if line.startswith(backend))
        assert "yes (0 differ)" in row and "frames/s" in row and " ms" in row, row
    return out


def chromium(*args, tmp_path):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (.ci/setup installs Debian's chromium)")
    profile = tmp_path / "chromium-profile"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_json_report(report_dir, artifact):
    report = json.loads((report_dir / "compare.json").read_text())
    rows = {r["backend"]: r for r in report["backends"]}
    assert list(rows) == BACKENDS + ["fpga"] and report["inputs"] == 300
    for name in BACKENDS[1:]:
        assert rows[name]["exact"] is True and rows[name]["differing_outputs"] == 0 and rows[name]["error"] is None
        assert rows[name]["latency_ms"] > 0 and rows[name]["frames_per_second"] > 0
    # the fpga row: rtlsim's measured cycles at the estimate's clock (no bitstream in this artifact)
    fpga, rtlsim = rows["fpga"], rows["rtlsim"]
    mhz = report["estimate"]["clock_mhz"]
    assert fpga["frames_per_second"] == pytest.approx(mhz * 1e6 / rtlsim["stats"]["cycles_per_frame"])
    assert "no bitstream yet" in fpga["note"]
    assert [layer["name"] for layer in report["layers"]][:2] == ["Conv_0", "Quant_4"]
    assert report["layers"][0]["cycles"] > 0 and report["layers"][0]["lut"] > 0


def test_html_in_a_real_browser(report_dir, tmp_path):
    html = report_dir / "compare.html"
    assert "<script" not in html.read_text()                      # static and self-contained
    r = chromium("--dump-dom", html.as_uri(), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    table = re.search(r'<table id="backends">(.*?)</table>', dom, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 1 + len(BACKENDS) + 1                     # header, backends, fpga
    for backend in BACKENDS[1:] + ["fpga"]:
        row = next(r for r in rows if f'<td class="name">{backend}</td>' in r)
        assert '<td class="yes">yes</td>' in row and "frames/s" in row
    assert '<h1>convflow compare: compare&lt;&amp;&gt;"test</h1>' in dom    # the model's name escaped as text
    assert re.search(r'<table id="layers">.*Conv_0.*</table>', dom, re.S)
    src = re.search(r'<img id="chart"[^>]*src="data:image/png;base64,([^"]+)"', dom).group(1)
    png = base64.b64decode(src)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == (report_dir / "compare.png").read_bytes()

    # the browser draws it: the chart's bar colour (bit-exact green, #55a868) is on the rendered page
    shot = tmp_path / "page.png"
    r = chromium(f"--screenshot={shot}", "--window-size=1200,1400", html.as_uri(), tmp_path=tmp_path)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    from PIL import Image
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).reshape(-1, 3)
    green = np.all(np.abs(pixels.astype(int) - [0x55, 0xA8, 0x68]) <= 2, axis=1)
    assert green.sum() > 500, green.sum()


def test_bitstream_fmax_and_a_mismatch(artifact, tmp_path):
    """With bitstream/report.json the fpga row uses its Fmax; a corrupted weight makes compare exit 1, and the
    report says which backend differs and by how many outputs."""
    from convflow.runtime.compare import compare, write_report
    from convflow.runtime.session import Session

    art = tmp_path / "art"
    shutil.copytree(artifact, art)
    (art / "bitstream").mkdir()
    (art / "bitstream" / "report.json").write_text(json.dumps({
        "device": "LFE5U-85F", "board": "ulx3s-85f", "clock": {"fmax_mhz": 50.0, "design_mhz": 25.0},
        "uart": {"baud": 115200}, "resources": {"LUT4": {"used": 100, "available": 83640, "percent": 0.12}}}))
    x = np.random.default_rng(3).integers(-128, 128, size=(50, 8, 8, 3))
    report = compare(Session(art).artifact, x, ["rtlsim"])
    fpga = report["backends"][-1]
    assert fpga["backend"] == "fpga" and "Fmax 50.0 MHz" in fpga["note"]
    assert fpga["frames_per_second"] == pytest.approx(50e6 / report["backends"][1]["stats"]["cycles_per_frame"])
    paths = write_report(report, tmp_path / "out")
    assert 'id="resources"' in paths["html"].read_text()

    with np.load(art / "weights.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["0.weights"].flat[0] += 3
    np.savez(art / "weights.npz", **arrays)
    # with its new hash recorded (what a compiler bug would produce): the artifact loads, and differs
    from convflow.hw.integrity import sha256_file
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["files"]["weights.npz"] = sha256_file(art / "weights.npz")
    (art / "manifest.json").write_text(json.dumps(manifest))
    r = convflow("compare", art, "-o", tmp_path / "bad", "--backends", "reference,qonnx", "--count", 200, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {row["backend"]: row for row in json.loads(r.stdout)["backends"]}
    assert rows["qonnx"]["exact"] is False and rows["qonnx"]["differing_outputs"] > 0
    assert "qonnx not bit-exact" in r.stderr
    assert '<td class="no">NO</td>' in (tmp_path / "bad" / "compare.html").read_text()
