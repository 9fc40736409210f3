"""`convflow check ART`: vet an artifact (someone else's, say) without running anything from it.

Running an artifact compiles and runs its C++ (csim) and Verilog (rtlsim, a bitstream): before that, ``check``
verifies what a loader would, and more, and reports every problem rather than the first:

- the manifest: JSON, format version, a ``files`` record of sha256 hashes;
- every recorded path: relative, convflow's own file-name characters, inside the artifact, no symbolic links;
- every recorded file against its hash, and no unrecorded file in the artifact's folders (planted or left over);
- the graph the manifest describes against weights.npz: every array it names there, integers, nothing else;
- the manifest's input, output and layer list against that graph;
- the generated sources against a fresh emission of the same graph (``emitters``, given by the CLI: the runtime
  does not import the compiler), file by file: hls/ and rtl/ must be exactly what this convflow writes for it;
- the manifest's part name (it lands in the Vitis Tcl script).

source.onnx is checked by hash only: the qonnx backend runs it as a float model, and it is not re-derived here.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from convflow.compiler.ir.serialize import tensor_to_dict
from convflow.hw import integrity
from convflow.hw.errors import ConvflowError, IntegrityError

from .artifact import MANIFEST, WEIGHTS, graph_of, load_weights, read_manifest, recorded_files

# what convflow build (and the vendor flow) may add beside what compile recorded
DERIVED = ("bitstream", "bitstream.failed-logs", "report")     # written after compile: convflow build, report
PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class Finding:
    ok: bool
    what: str
    detail: str


def check_artifact(path, emitters: dict | None = None) -> list:
    """Findings for the artifact at ``path``; ArtifactError when it is not an artifact at all.  ``emitters`` maps
    a source key ('hls', 'rtl') to ``emit(graph, folder, manifest)`` writing a fresh copy of those sources."""
    path = Path(path).resolve()
    manifest = read_manifest(path)
    findings = []

    def add(ok, what, detail):
        findings.append(Finding(ok, what, detail))

    try:
        files = recorded_files(path, manifest)
    except IntegrityError as exc:
        add(False, "manifest", str(exc))
        return findings
    add(True, "manifest", f"format {manifest['format_version']}, model {manifest.get('model')!r}, "
                          f"{len(files)} files recorded")

    bad = []
    for rel, digest in files.items():
        try:
            integrity.check_file(path, rel, digest, str(path))
        except IntegrityError as exc:
            bad.append(str(exc))
    if bad:
        for problem in bad:
            add(False, "files", problem)
    else:
        add(True, "files", f"all {len(files)} recorded files are where they should be (relative, inside, no links) "
                           "and match their sha256")

    folders = sorted({rel.split("/")[0] for rel in files if "/" in rel})
    top_level = [p.name for p in path.iterdir() if p.name != MANIFEST and p.name not in DERIVED
                 and p.name not in folders and p.name not in files]
    extra = integrity.unlisted(path, files, folders) + sorted(top_level)
    if extra:
        shown = ", ".join(repr(e) if not e.isprintable() else e for e in extra[:6])
        add(False, "unrecorded files", f"{len(extra)} file(s) the manifest does not name: {shown}"
                                       f"{' ...' if len(extra) > 6 else ''} (planted or left over; remove them)")
    else:
        add(True, "unrecorded files", "none")

    part = manifest.get("part")
    if part is not None and not (isinstance(part, str) and PART_NAME.fullmatch(part)):
        add(False, "part", "the manifest's part is not a plain Xilinx part name; it would land in "
                           "hls/build_prj.tcl")

    graph = _graph(path, manifest, add)
    if graph is None:
        return findings
    _manifest_vs_graph(manifest, graph, add)
    for key, emit in (emitters or {}).items():
        rel = manifest.get("sources", {}).get(key)
        if rel is None:
            continue
        _compare_emission(path, rel, files, emit, graph, manifest, key, add)
    return findings


def _graph(path: Path, manifest: dict, add):
    weights_name = manifest.get("weights", WEIGHTS)
    try:
        arrays = load_weights(path / weights_name)
        graph = graph_of(manifest, arrays, path)
    except ConvflowError as exc:
        add(False, "graph and weights", str(exc))
        return None
    named = {key for layer in manifest["graph"].get("layers", []) for key in layer.get("arrays", {}).values()}
    unused = sorted(set(arrays) - named)
    if unused:
        add(False, "graph and weights", f"{weights_name} holds {len(unused)} array(s) the graph does not name "
                                        f"({', '.join(map(repr, unused[:4]))})")
    else:
        add(True, "graph and weights", f"{len(graph.nodes)} layer(s); {weights_name} holds exactly the {len(named)} "
                                       "integer arrays the graph names")
    return graph


def _manifest_vs_graph(manifest: dict, graph, add) -> None:
    problems = []
    for key, tensor in (("input", graph.input_tensor), ("output", graph.output_tensor)):
        if manifest.get(key) != tensor_to_dict(tensor):
            problems.append(f"its {key} spec differs from the graph's {key} tensor")
    layers = [(row.get("name"), row.get("op")) for row in manifest.get("layers", []) if isinstance(row, dict)]
    if layers != [(node.name, node.op) for node in graph.nodes]:
        problems.append("its layer list differs from the graph's layers")
    for node, row in zip(graph.nodes, manifest.get("layers", [])):
        folding = row.get("folding") if isinstance(row, dict) else None
        if node.has_mvu and folding != {"pe": node.pe, "simd": node.simd}:
            problems.append(f"the folding of layer {node.name!r} differs from the graph's")
            break
    if problems:
        add(False, "manifest vs graph", "; ".join(problems))
    else:
        add(True, "manifest vs graph", "input, output, layers and folding agree")


def _compare_emission(path, rel, files, emit, graph, manifest, key, add) -> None:
    recorded = {name[len(rel) + 1:] for name in integrity.under(files, rel)}
    with tempfile.TemporaryDirectory(prefix="convflow-check-") as tmp:
        fresh = Path(tmp) / key
        try:
            emit(graph, fresh, manifest)
        except Exception as exc:                # noqa: BLE001 - reported as a finding, whatever the emitter raised
            add(False, f"{rel}/", f"a fresh emission of the graph failed ({type(exc).__name__}: {exc})")
            return
        emitted = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
        problems = []
        if emitted - recorded:
            problems.append(f"missing {', '.join(sorted(emitted - recorded)[:4])}")
        if recorded - emitted:
            problems.append(f"not generated from this graph: {', '.join(sorted(recorded - emitted)[:4])}")
        differing = []
        for name in sorted(emitted & recorded):
            mine = path / rel / name
            try:
                same = mine.is_file() and not mine.is_symlink() and mine.read_bytes() == (fresh / name).read_bytes()
            except OSError:
                same = False
            if not same:
                differing.append(name)
        if differing:
            problems.append(f"{len(differing)} file(s) differ from what the graph generates: "
                            f"{', '.join(differing[:4])}{' ...' if len(differing) > 4 else ''}")
        if problems:
            add(False, f"{rel}/", "; ".join(problems))
        else:
            add(True, f"{rel}/", f"all {len(emitted)} files equal a fresh emission of the graph")
