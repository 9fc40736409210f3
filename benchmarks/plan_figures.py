"""Record what a compile produces, so that a refactoring of the compiler can prove it changed nothing.

For every zoo model (trained quickly with seed 0, once, into build/figures/zoo) and every model file under
../shared/models that compiles, this writes one JSON record:

    ir          sha256 of the IR: every node (op, name, inputs, output, scalar attributes but the folding, integer
                arrays) and every tensor (name, shape, type, scale, offset), independent of how the artifact stores them
    folding     PE, SIMD (and resource choices) per layer: the hardware's, not the IR's; it moves on purpose when
                the folding search changes, and the rtlsim cycles and the estimate move with it
    outputs     per backend (reference, qonnx, csim, rtlsim): sha256 of the int64 outputs on the same inputs, and
                whether they equal the reference (integers compared with ==)
    rtlsim      cycles per frame and latency measured in simulation
    estimate    cycles per frame, bottleneck, LUT/FF/DSP/BRAM totals and per layer

Usage:
    python benchmarks/plan_figures.py --write build/figures/before.json
    python benchmarks/plan_figures.py --write build/figures/after.json --compare build/figures/before.json

``--compare`` prints a table and exits 1 when the IR or an output differs, or -- for a model whose folding did not
change -- the measured cycles differ or an estimate total moves by more than 1 %.  Where the folding changed, the
cycles and estimates that moved with it are listed as MOVED, with the rtlsim cycles against the estimate.  Models
that do not compile are recorded with their error (and compared as such).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
ZOO = ("cnn-digits", "mlp-mnist5k", "lenet-fmnist")
BACKENDS = ("reference", "qonnx", "csim", "rtlsim")
INPUTS = 200
ESTIMATE_TOLERANCE = 0.01


def shared_models() -> dict:
    found = {}
    for path in sorted(SHARED.rglob("*")):
        if path.suffix in (".onnx", ".json") and path.name != "SOURCES.md":
            found[f"shared/{path.relative_to(SHARED)}"] = path
    return found


def zoo_models(work: Path) -> dict:
    from convflow.models.train import train

    found = {}
    for name in ZOO:
        folder = work / "zoo" / name
        if not (folder / f"{name}.onnx").is_file():
            train(name, str(folder), quick=True, seed=0, progress=False)
        found[f"zoo/{name}"] = folder / f"{name}.onnx"
    return found


def hand_models(work: Path) -> dict:
    """The hand-built QONNX models of the test suite (per-channel scales, negative gammas, a residual block)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("qonnx_builders", ROOT / "tests" / "qonnx_builders.py")
    builders = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builders)
    found = {}
    for name in ("conv_bn_model", "residual_model"):
        path = work / "hand" / f"{name}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        import onnx
        onnx.save(getattr(builders, name)(seed=0), str(path))
        found[f"hand/{name}"] = path
    return found


# node attributes that choose the hardware, not the function (compared separately)
FOLDING_FIELDS = ("pe", "simd", "mult", "weight_mem")


def ir_digest(graph) -> str:
    """A hash of the IR's content (nodes and tensors), not of its serialised form, without the folding."""
    digest = hashlib.sha256()
    for node in graph.nodes:
        params = {k: v for k, v in node.params().items() if k not in FOLDING_FIELDS}
        digest.update(json.dumps([node.op, node.name, list(node.inputs), node.output, params],
                                 sort_keys=True, default=str).encode())
        for key, value in sorted(node.arrays().items()):
            digest.update(key.encode() + np.ascontiguousarray(value, dtype=np.int64).tobytes())
    for name in sorted(graph.tensors):
        t = graph.tensors[name]
        digest.update(json.dumps([t.name, list(t.shape), str(t.dtype)]).encode())
        digest.update(np.asarray(t.scale, np.float64).tobytes() + np.asarray(t.offset, np.float64).tobytes())
    digest.update(json.dumps([graph.input, graph.output]).encode())
    return digest.hexdigest()


def folding_of(graph) -> dict:
    return {node.name: {k: v for k, v in node.params().items() if k in FOLDING_FIELDS} for node in graph.nodes
            if node.has_mvu}


def inputs_for(session, dataset) -> np.ndarray:
    if dataset:
        from convflow.models.data import load_dataset

        x = load_dataset(dataset)[2][:INPUTS]
        return session.quantize_input(x)
    lo, hi = session.input_range
    rng = np.random.default_rng(0)
    return rng.integers(lo, hi + 1, size=(INPUTS, *session.input_tensor.shape), dtype=np.int64)


def record(key: str, path: Path, work: Path) -> dict:
    from convflow.compiler.compile import compile_model
    from convflow.runtime import Session

    dataset = None
    if key.startswith("zoo/"):
        from convflow.models.zoo import ZOO as SPECS
        dataset = SPECS[key[4:]].dataset
    out = work / "artifacts" / key.replace("/", "_")
    try:
        artifact = compile_model(path, out, dataset=dataset)
    except Exception as exc:          # recorded, and compared: a model that stops compiling is a change
        return {"compiles": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    reference = Session(artifact, "reference")
    x = inputs_for(reference, dataset)
    expected = reference.run(x)
    outputs = {}
    rtlsim = None
    for backend in BACKENDS:
        try:
            with Session(artifact, backend) as session:
                got = session.run(x)
                if backend == "rtlsim":
                    rtlsim = {k: session.stats[k] for k in ("cycles_per_frame", "latency_cycles")}
        except Exception as exc:
            outputs[backend] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            continue
        got = np.asarray(got)
        exact = got.shape == expected.shape and bool(np.all(got == expected))
        outputs[backend] = {"sha256": hashlib.sha256(np.ascontiguousarray(got, np.float64).tobytes()).hexdigest(),
                            "equals_reference": exact}
    manifest = reference.artifact.manifest
    estimate = manifest.get("estimate") or {}
    return {
        "compiles": True,
        "ir": ir_digest(reference.graph),
        "folding": folding_of(reference.graph),
        "inputs": int(len(x)),
        "outputs": outputs,
        "rtlsim": rtlsim,
        "estimate": {"cycles_per_frame": estimate.get("cycles_per_frame"), "bottleneck": estimate.get("bottleneck"),
                     "totals": estimate.get("totals"),
                     "layers": {row["name"]: {k: row.get(k) for k in ("cycles", "lut", "ff", "dsp", "bram")}
                                for row in estimate.get("layers", [])}},
    }


def compare(old: dict, new: dict) -> list:
    """Lines describing every difference; empty when nothing changed beyond the estimate tolerance."""
    problems = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            problems.append(f"{key}: only in {'new' if a is None else 'old'} figures")
            continue
        if a["compiles"] != b["compiles"]:
            problems.append(f"{key}: compiles {a['compiles']} -> {b['compiles']} ({b.get('error') or a.get('error')})")
            continue
        if not a["compiles"]:
            continue
        if a["ir"] != b["ir"]:
            problems.append(f"{key}: the IR differs")
        for backend in BACKENDS:
            oa, ob = a["outputs"].get(backend), b["outputs"].get(backend)
            if (oa or {}).get("sha256") != (ob or {}).get("sha256") or ob is None or not ob.get("equals_reference"):
                problems.append(f"{key}: {backend} outputs {oa} -> {ob}")
        if a.get("folding") != b.get("folding"):
            continue                              # cycles and estimates move with the folding: moved(), not here
        if a["rtlsim"] != b["rtlsim"]:
            problems.append(f"{key}: rtlsim {a['rtlsim']} -> {b['rtlsim']}")
        ea, eb = a["estimate"], b["estimate"]
        if ea["cycles_per_frame"] != eb["cycles_per_frame"]:
            problems.append(f"{key}: estimated cycles {ea['cycles_per_frame']} -> {eb['cycles_per_frame']}")
        for res in ("lut", "ff", "dsp", "bram"):
            va, vb = (ea.get("totals") or {}).get(res, 0), (eb.get("totals") or {}).get(res, 0)
            if abs(vb - va) > ESTIMATE_TOLERANCE * max(1, va):
                problems.append(f"{key}: estimated {res} {va} -> {vb} ({100 * (vb - va) / max(1, va):+.1f} %)")
    return problems


def moved(old: dict, new: dict) -> list:
    """Lines for the models whose folding changed: the folding, the rtlsim cycles against the estimate, the totals."""
    lines = []
    for key in sorted(set(old) & set(new)):
        a, b = old[key], new[key]
        if not (a["compiles"] and b["compiles"]) or a.get("folding") == b.get("folding"):
            continue
        ea, eb = a["estimate"], b["estimate"]
        ra, rb = (a["rtlsim"] or {}).get("cycles_per_frame"), (b["rtlsim"] or {}).get("cycles_per_frame")
        ratio = f"{rb / eb['cycles_per_frame']:.3f}" if rb and eb["cycles_per_frame"] else "-"
        fold = ", ".join(f"{n} {f.get('pe')}x{f.get('simd')}" for n, f in (b.get("folding") or {}).items())
        lines.append(f"{key}: folding now {fold}; rtlsim {ra} -> {rb} cycles/frame (estimate "
                     f"{ea['cycles_per_frame']} -> {eb['cycles_per_frame']}, measured/estimate {ratio}); "
                     f"totals {ea.get('totals')} -> {eb.get('totals')}")
    return lines


def main(argv=None) -> int:
    from convflow.runtime.cli import quiet_third_parties

    quiet_third_parties()            # the quick zoo training's Keras warnings stay off the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, required=True, help="JSON file to write the figures to")
    parser.add_argument("--compare", type=Path, help="earlier figures to compare with")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "figures", help="trained models and artifacts")
    parser.add_argument("--only", help="comma-separated substrings: record only matching models")
    args = parser.parse_args(argv)
    models = {**zoo_models(args.work), **shared_models(), **hand_models(args.work)}
    if args.only:
        wanted = args.only.split(",")
        models = {k: v for k, v in models.items() if any(w in k for w in wanted)}
    figures = {}
    for key, path in models.items():
        figures[key] = record(key, path, args.work)
        f = figures[key]
        if f["compiles"]:
            est = f["estimate"]
            backends = " ".join(f"{b}={'=' if o.get('equals_reference') else 'X'}" for b, o in f["outputs"].items())
            print(f"{key:<44} ir {f['ir'][:10]}  {backends}  rtlsim {f['rtlsim']}  "
                  f"estimate {est['cycles_per_frame']} cycles/frame {est['totals']}")
        else:
            print(f"{key:<44} does not compile: {f['error']}")
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"figures written to {args.write}")
    if args.compare:
        old = json.loads(args.compare.read_text())
        if args.only:                       # compare what was recorded this time
            old = {k: v for k, v in old.items() if k in figures}
        problems = compare(old, figures)
        for line in moved(old, figures):
            print("MOVED", line)
        for line in problems:
            print("CHANGED", line)
        print(f"compared with {args.compare}: {len(problems)} difference(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
