"""The AMD/Xilinx vendor flow: run the generated Vitis HLS project (csim, csynth, cosim, IP export) where the tools
are installed.  Nothing here pretends: without ``vitis_hls`` on PATH, ``build`` raises ToolMissing at once, naming
the tool and the scripts a user can run elsewhere.

    build(artifact_dir, part=None, steps=("csim", "csynth", "cosim", "export"), vivado=False) -> dict
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from convflow.hw import integrity
from convflow.hw.errors import ArtifactError, ToolFailed, ToolMissing

STEPS = ("csim", "csynth", "cosim", "export")
# The Xilinx part a Vitis HLS project targets unless the user names one: the PYNQ-Z2's Zynq-7020.
DEFAULT_PART = "xc7z020clg400-1"


def _hls_dir(artifact_dir: Path) -> Path:
    manifest = artifact_dir / "manifest.json"
    rel = "hls"
    if manifest.is_file():
        rel = json.loads(manifest.read_text()).get("sources", {}).get("hls", "hls")
    hls = artifact_dir / rel
    if not (hls / "build_prj.tcl").is_file():
        raise ArtifactError(f"{artifact_dir}: no {rel}/build_prj.tcl; compile the model with `convflow compile` first")
    return hls


def _set_part(tcl: str, part: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", part):
        raise ValueError(f"not a part name: {part!r}")
    return re.sub(r"set_part \{[^}]*\}", "set_part {" + part + "}", tcl)


def build(artifact_dir, part: str = None, steps=STEPS, vivado: bool = False, timeout_s: float = None) -> dict:
    """Run ``vitis_hls -f build_prj.tcl`` in the artifact's hls/ directory (and Vivado's synthesis of the exported
    IP when ``vivado``).  Returns a summary: the commands run, their logs, seconds, and the synthesis report path."""
    artifact_dir = Path(artifact_dir)
    hls = _hls_dir(artifact_dir)
    # vitis_hls runs the project's Tcl and compiles its C++: only an artifact whose recorded files all match
    record = integrity.artifact_record(artifact_dir)
    integrity.check_files(artifact_dir, integrity.under(record, hls.relative_to(artifact_dir).as_posix()),
                          str(artifact_dir))
    needed = ["vitis_hls"] + (["vivado"] if vivado else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(f"{' and '.join(missing)} not on PATH: the Vitis HLS project is ready in {hls} "
                          f"(run `vitis_hls -f build_prj.tcl` there on a machine with Vitis installed); "
                          "csim runs here with `--backend csim`")
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown steps {sorted(unknown)}; choose from {STEPS}")
    script = hls / "build_prj.tcl"
    if part:
        script = hls / "build_prj_part.tcl"
        script.write_text(_set_part((hls / "build_prj.tcl").read_text(), part))
    env = dict(os.environ, CONVFLOW_STEPS=" ".join(steps))
    log = hls / "vitis_hls_build.log"
    start = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(["vitis_hls", "-f", script.name], cwd=hls, env=env, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout_s)
    summary = {"tool": "vitis_hls", "hls_dir": str(hls), "steps": list(steps), "log": str(log),
               "seconds": round(time.perf_counter() - start, 1), "returncode": result.returncode}
    if result.returncode != 0:
        raise ToolFailed(f"vitis_hls failed (exit {result.returncode}); read {log}")
    reports = sorted(hls.glob("*_prj/solution1/syn/report/*_csynth.rpt"))
    summary["csynth_report"] = str(reports[-1]) if reports else None
    if vivado:
        summary["vivado"] = _run_vivado(hls, part, timeout_s)
    return summary


def _run_vivado(hls: Path, part: str, timeout_s) -> dict:
    """Out-of-context synthesis + implementation of the exported IP (export_design -flow impl)."""
    script = hls / "impl_prj.tcl"
    text = ("open_project {prj}\nopen_solution solution1\nexport_design -flow impl -format ip_catalog\nexit\n"
            .format(prj=next(iter(sorted(p.name for p in hls.glob("*_prj"))), "")))
    script.write_text(text)
    log = hls / "vivado_impl.log"
    with log.open("w") as out:
        result = subprocess.run(["vitis_hls", "-f", script.name], cwd=hls, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout_s)
    if result.returncode != 0:
        raise ToolFailed(f"Vivado implementation (through vitis_hls export_design -flow impl) failed; read {log}")
    return {"log": str(log), "part": part}


# ------------------------------------------------------------------------------------------ the csynth report
# what Vitis HLS's csynth_design writes per top function: <top>_prj/solution1/syn/report/<top>_csynth.xml, a
# <profile> with UserAssignments (Part, TopModelName, TargetClockPeriod), PerformanceEstimates
# (SummaryOfTimingAnalysis/EstimatedClockPeriod, SummaryOfOverallLatency/{Best,Worst}-caseLatency, Interval-min/max)
# and AreaEstimates (Resources and AvailableResources: BRAM_18K, DSP, FF, LUT, URAM)
CSYNTH_GLOB = "*_prj/solution*/syn/report/*_csynth.xml"
CSYNTH_RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")


def find_csynth(hls_dir) -> Path | None:
    """The top function's csynth XML report in a Vitis HLS project folder, or None where csynth has not run."""
    hls_dir = Path(hls_dir)
    tops = {p.name for p in hls_dir.glob("*.cpp")}
    reports = sorted(p for p in hls_dir.glob(CSYNTH_GLOB)
                     if p.name[:-len("_csynth.xml")] + ".cpp" in tops or len(tops) == 0)
    return reports[-1] if reports else None


def parse_csynth(path) -> dict:
    """A csynth XML report -> {part, top, target_clock_ns, estimated_clock_ns, fmax_mhz, latency_cycles [best,
    worst], interval_cycles [min, max], resources {LUT, FF, DSP, BRAM_18K, URAM}, available {...}}; a field the
    report leaves out or marks "undef" is None.  ArtifactError when it is not such a report."""
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable Vitis HLS csynth report ({exc})") from None
    if root.find("PerformanceEstimates") is None and root.find("AreaEstimates") is None:
        raise ArtifactError(f"{path}: no PerformanceEstimates or AreaEstimates: not a Vitis HLS csynth report")

    def number(text, kind=float):
        try:
            return kind(text.strip()) if text is not None else None
        except ValueError:               # "undef", "-"
            return None

    def resources(where):
        node = root.find(where)
        return {name: number(node.findtext(name), int) for name in CSYNTH_RESOURCES} if node is not None else {}

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    estimated = number(root.findtext("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"))
    return {
        "tool": "vitis_hls csynth", "report": str(path),
        "part": (root.findtext("UserAssignments/Part") or "").strip() or None,
        "top": (root.findtext("UserAssignments/TopModelName") or "").strip() or None,
        "target_clock_ns": number(root.findtext("UserAssignments/TargetClockPeriod")),
        "estimated_clock_ns": estimated,
        "fmax_mhz": round(1000.0 / estimated, 2) if estimated else None,
        "latency_cycles": [number(root.findtext(lat + "Best-caseLatency"), int),
                           number(root.findtext(lat + "Worst-caseLatency"), int)],
        "interval_cycles": [number(root.findtext(lat + "Interval-min"), int),
                            number(root.findtext(lat + "Interval-max"), int)],
        "resources": resources("AreaEstimates/Resources"),
        "available": resources("AreaEstimates/AvailableResources"),
    }
