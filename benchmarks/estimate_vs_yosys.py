"""The resource estimate (compiler/estimate.py) against yosys, stage by stage, before place and route.

For each zoo model (trained quickly here unless --zoo-dir holds trained copies) the RTL accelerator alone (cf_accel,
no board top) is synthesised with ``synth_ecp5 -noflatten``; every stage instance (with the FIFO after it, as the
estimate prices it) gets yosys's cell counts, rolled up through its submodules, in LUT4 sites: LUT4 + 2 per CCU2C
carry cell + 6 per TRELLIS_DPR16X4 distributed RAM (what nextpnr counts before packing adds route-through LUTs).
Prints a table per model and per stage kind, writes JSON.  Run:
    .venv/bin/python benchmarks/estimate_vs_yosys.py [--models cnn-digits,mlp-mnist5k,lenet-fmnist] [--json OUT]

The placed design: ``--placed ARTIFACT [...]`` compares, for artifacts folded for a board and built
(bitstream/report.json), the estimate of the accelerator plus the board top against nextpnr's LUT4 / FF / MULT18X18D
/ EBR after place and route (benchmarks/fit_boards.py uses the same comparison).

The price of one stage over a range of shapes: ``--shapes [FILTER]`` compiles one-layer models (tests/qonnx_builders.py
stage_shape_models) with a fixed folding and compares that stage alone (what tests/test_estimate.py pins).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

ZOO_ORDER = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")


def synthesise(rtl: Path, work: Path) -> tuple:
    """yosys on cf_accel, hierarchy kept: (netlist JSON, seconds)."""
    from convflow.hw.flows import tools

    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(rtl, work)
    spec = json.loads((work / "accel.json").read_text())
    reads = "\n".join(f"read_verilog -defer {f}" for f in spec["files"])
    (work / "accel.ys").write_text(f"{reads}\nsynth_ecp5 -top cf_accel -noflatten\nwrite_json net.json\n")
    run = tools.run("yosys", ["-q", "accel.ys"], work, "yosys.log")
    return json.loads((work / "net.json").read_text()), run.seconds


def _is_design_module(netlist: dict, kind: str) -> bool:
    """A module of ours (to look into), not one of the ECP5 primitives yosys also lists, as blackboxes."""
    module = netlist["modules"].get(kind)
    return module is not None and "blackbox" not in module.get("attributes", {})


def cell_counts(netlist: dict, module: str, memo: dict) -> dict:
    """Leaf cell counts of ``module`` with everything it instantiates."""
    if module in memo:
        return memo[module]
    counts = defaultdict(int)
    for cell in netlist["modules"][module]["cells"].values():
        kind = cell["type"]
        if _is_design_module(netlist, kind):
            for leaf, n in cell_counts(netlist, kind, memo).items():
                counts[leaf] += n
        elif not kind.startswith("$scopeinfo"):
            counts[kind] += 1
    memo[module] = dict(counts)
    return memo[module]


def per_stage(netlist: dict) -> dict:
    """Stage index -> yosys resources of its instances (u_s<i>_... : the stage and its FIFOs)."""
    memo, stages = {}, defaultdict(lambda: defaultdict(int))
    for name, cell in netlist["modules"]["cf_accel"]["cells"].items():
        match = re.match(r"u_s(\d+)_", name)
        if not match or not _is_design_module(netlist, cell["type"]):
            continue
        for leaf, n in cell_counts(netlist, cell["type"], memo).items():
            stages[int(match.group(1))][leaf] += n
    from convflow.hw.flows.ecp5 import yosys_resources

    measured = {i: yosys_resources(c) for i, c in stages.items()}
    return {i: {"lut": r["LUT4"], "ff": r["FF"], "dsp": r["MULT18X18D"], "bram": r["EBR"]} for i, r in measured.items()}


def measure(name: str, zoo_dir: Path, work: Path) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.models.train import train
    from convflow.runtime.artifact import Artifact

    model_dir = zoo_dir / name
    if not (model_dir / f"{name}.onnx").is_file():
        print(f"training {name} (quick) ...", flush=True)
        train(name, str(model_dir), quick=True, seed=0, progress=False)
    artifact = Artifact.load(compile_model(model_dir / f"{name}.onnx", work / name, emit_hls=False))
    estimate = artifact.manifest["estimate"]
    netlist, seconds = synthesise(artifact.path / "rtl", work / f"{name}-yosys")
    measured = per_stage(netlist)
    rows = []
    for index, stage in enumerate(estimate["stages"]):
        got = measured.get(index, {"lut": 0, "ff": 0, "bram": 0, "dsp": 0})
        rows.append({"index": index, "kind": stage["kind"], "label": stage["label"],
                     **{f"{k}_estimated": stage[k] for k in ("lut", "ff", "bram", "dsp")},
                     **{f"{k}_yosys": got[k] for k in ("lut", "ff", "bram", "dsp")}})
    totals = {f"{k}_{src}": sum(r[f"{k}_{src}"] for r in rows) for k in ("lut", "ff", "bram", "dsp")
              for src in ("estimated", "yosys")}
    return {"model": name, "stages": rows, "totals": totals, "yosys_s": round(seconds, 1)}


def shape_models() -> list:
    """(name, ONNX model, folding of its one layer, the stage kind to compare) for the --shapes grid
    (tests/qonnx_builders.py stage_shape_models, which tests/test_estimate.py pins)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("qonnx_builders",
                                                  Path(__file__).resolve().parents[1] / "tests" / "qonnx_builders.py")
    builders = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builders)
    return builders.stage_shape_models()


def measure_shape(name: str, model, layer: dict, kind: str, work: Path) -> dict:
    from convflow.compiler.compile import compile_model, import_model
    from convflow.runtime.artifact import Artifact

    graph, _ = import_model(model, name)
    (node,) = graph.mvu_nodes()
    artifact = Artifact.load(compile_model(model, work / name, name=name, folding={node.name: layer},
                                           emit_hls=False, force=True))
    netlist, seconds = synthesise(artifact.path / "rtl", work / f"{name}-yosys")
    measured = per_stage(netlist)
    stages = artifact.manifest["estimate"]["stages"]
    (index,) = [i for i, stage in enumerate(stages) if stage["kind"] == kind]
    got = measured.get(index, {"lut": 0, "ff": 0, "bram": 0, "dsp": 0})
    row = {"shape": name, "kind": kind, "yosys_s": round(seconds, 1),
           **{f"{k}_estimated": stages[index][k] for k in ("lut", "ff", "bram")},
           **{f"{k}_yosys": got[k] for k in ("lut", "ff", "bram")}}
    print(f"  {name:<34}{row['lut_estimated']:>9}{row['lut_yosys']:>8}{ratio(row['lut_estimated'], row['lut_yosys']):>7}"
          f"{row['ff_estimated']:>9}{row['ff_yosys']:>8}{row['bram_estimated']:>5}{row['bram_yosys']:>4}"
          f"{seconds:>8.0f} s", flush=True)
    return row


def measure_shapes(work: Path, only: str = "") -> list:
    print(f"  {'shape':<34}{'LUT est':>9}{'yosys':>8}{'ratio':>7}{'FF est':>9}{'yosys':>8}{'EBR':>5}{'ys':>4}")
    return [measure_shape(name, model, layer, kind, work) for name, model, layer, kind in shape_models()
            if only in name]


PLACED_RESOURCES = {"LUT4": "lut", "FF": "ff", "MULT18X18D": "dsp", "EBR": "bram"}


def placed_vs_estimate(manifest: dict, report: dict) -> dict:
    """nextpnr's count of every resource against the estimate of the accelerator plus the board top it was folded
    with (manifest["folding"]["budget"]["reserved"])."""
    est = manifest["estimate"]["totals"]
    reserved = (manifest.get("folding") or {}).get("budget", {}).get("reserved", {})
    out = {}
    for name, key in PLACED_RESOURCES.items():
        predicted = est[key] + reserved.get(name, 0)
        used = report["resources"][name]["used"]
        out[name] = {"estimate": predicted, "placed": used,
                     "ratio": round(predicted / used, 3) if used else (1.0 if not predicted else None)}
    return out


def print_placed(artifacts: list) -> list:
    rows = []
    print(f"\n{'artifact':<40}" + "".join(f"{n + ' est/pnr':>22}" for n in PLACED_RESOURCES))
    for path in artifacts:
        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text())
        report = json.loads((path / "bitstream" / "report.json").read_text())
        cmp = placed_vs_estimate(manifest, report)
        rows.append({"artifact": str(path), "placed": cmp, "fmax_mhz": report["clock"]["fmax_mhz"]})
        print(f"{path.name:<40}" + "".join(f"{c['estimate']:>9,}/{c['placed']:<7,} {c['ratio'] or 0:>4.2f}"
                                           for c in cmp.values()))
    return rows


def ratio(est: int, got: int) -> str:
    return f"{est / got:.2f}" if got else ("-" if not est else "inf")


def print_tables(results: list) -> None:
    head = f"  {'stage':<34}{'LUT est':>9}{'yosys':>8}{'ratio':>7}{'FF est':>9}{'yosys':>8}{'ratio':>7}{'EBR':>5}{'ys':>4}"
    by_kind = defaultdict(lambda: defaultdict(int))
    for result in results:
        print(f"\n{result['model']} (yosys {result['yosys_s']} s)")
        print(head)
        for r in result["stages"]:
            print(f"  {r['kind'] + ' ' + r['label']:<34.34}{r['lut_estimated']:>9}{r['lut_yosys']:>8}"
                  f"{ratio(r['lut_estimated'], r['lut_yosys']):>7}{r['ff_estimated']:>9}{r['ff_yosys']:>8}"
                  f"{ratio(r['ff_estimated'], r['ff_yosys']):>7}{r['bram_estimated']:>5}{r['bram_yosys']:>4}")
            for key in ("lut_estimated", "lut_yosys", "ff_estimated", "ff_yosys"):
                by_kind[r["kind"]][key] += r[key]
        t = result["totals"]
        print(f"  {'total':<34}{t['lut_estimated']:>9}{t['lut_yosys']:>8}{ratio(t['lut_estimated'], t['lut_yosys']):>7}"
              f"{t['ff_estimated']:>9}{t['ff_yosys']:>8}{ratio(t['ff_estimated'], t['ff_yosys']):>7}"
              f"{t['bram_estimated']:>5}{t['bram_yosys']:>4}")
    print("\nper stage kind, all models")
    print(f"  {'kind':<12}{'LUT est':>9}{'yosys':>8}{'ratio':>7}{'FF est':>9}{'yosys':>8}{'ratio':>7}")
    for kind, k in sorted(by_kind.items()):
        print(f"  {kind:<12}{k['lut_estimated']:>9}{k['lut_yosys']:>8}{ratio(k['lut_estimated'], k['lut_yosys']):>7}"
              f"{k['ff_estimated']:>9}{k['ff_yosys']:>8}{ratio(k['ff_estimated'], k['ff_yosys']):>7}")


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO_ORDER))
    parser.add_argument("--zoo-dir", type=Path, default=Path("build/zoo"), help="trained zoo models (<dir>/<model>/)")
    parser.add_argument("--work", type=Path, default=Path("build/bench-estimate"))
    parser.add_argument("--json", type=Path, default=Path("build/bench-estimate/estimate_vs_yosys.json"))
    parser.add_argument("--placed", nargs="+", help="built artifacts: the estimate against nextpnr, no synthesis")
    parser.add_argument("--shapes", nargs="?", const="", metavar="FILTER",
                        help="the one-layer shape grid (qonnx_builders.stage_shape_models; names containing FILTER)")
    args = parser.parse_args(argv)
    if args.shapes is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        rows = measure_shapes(args.work, args.shapes)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"shapes": rows}, indent=1) + "\n")
        print(f"\nwritten: {args.json}")
        return 0
    if args.placed:
        rows = print_placed(args.placed)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"placed": rows}, indent=1) + "\n")
        print(f"\nwritten: {args.json}")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [measure(m.strip(), args.zoo_dir, args.work) for m in args.models.split(",") if m.strip()]
    print_tables(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"models": results, "seconds": round(time.perf_counter() - started, 1)},
                                    indent=1) + "\n")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
