"""Reading an artifact directory: manifest.json plus the files it names, checked before use.

Artifacts may come from someone else.  ``Artifact.load`` therefore checks, before reading anything else, that the
manifest records a sha256 for every file (``files``), that every recorded path is relative, made of the names
convflow writes, and stays inside the artifact (no ``..``, no symbolic links), and that every file matches its
hash; the weights are loaded without pickle and must be integers.  Backends never read the artifact's sources in
place: ``copy_sources`` copies the recorded files of one source folder into the backend's own private build
folder and checks the copies, so what g++ or Verilator reads is exactly what was recorded.  No error message
prints a file's contents.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convflow.compiler.ir.graph import Graph
from convflow.compiler.ir.serialize import FORMAT_VERSION, MANIFEST, WEIGHTS, graph_from_dict
from convflow.hw import integrity
from convflow.hw.errors import ArtifactError, IntegrityError

MAX_MANIFEST_BYTES = 256 << 20           # a manifest holds the IR description, never bulk data


def read_manifest(path: Path) -> dict:
    """The manifest of the artifact at ``path`` (a resolved folder), checked for shape and format version."""
    manifest_path = path / MANIFEST
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise ArtifactError(f"{path}: no {MANIFEST} here; create one with `convflow compile MODEL -o {path}`")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ArtifactError(f"{manifest_path}: larger than any manifest convflow writes; not an artifact")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ArtifactError(f"{manifest_path}: not valid JSON{where}; recompile the model") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: not a JSON object; recompile the model")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{manifest_path}: format_version {version!r}, this convflow reads {FORMAT_VERSION}; "
                            "recompile the model")
    return manifest


def recorded_files(path: Path, manifest: dict) -> dict:
    """The manifest's ``files`` record, checked: every name safe, and every path the manifest uses elsewhere
    (weights, sources) recorded there."""
    where = str(path / MANIFEST)
    files = integrity.check_record(manifest.get("files"), where)
    weights = manifest.get("weights", WEIGHTS)
    integrity.check_name(weights, where)
    if weights not in files:
        raise IntegrityError(f"{where}: the weights file {weights!r} has no recorded hash")
    sources = manifest.get("sources", {})
    if not isinstance(sources, dict):
        raise IntegrityError(f"{where}: 'sources' is not an object")
    for key, rel in sources.items():
        integrity.check_name(rel, where)
        if rel not in files and not integrity.under(files, rel):
            raise IntegrityError(f"{where}: source {key!r} ({rel}) has no recorded files")
    return files


@dataclass
class Artifact:
    path: Path
    manifest: dict
    graph: Graph

    @classmethod
    def load(cls, path) -> "Artifact":
        path = Path(path).resolve()     # backends run tools from other working directories
        manifest = read_manifest(path)
        files = recorded_files(path, manifest)
        integrity.check_files(path, files, str(path))
        weights_path = path / manifest.get("weights", WEIGHTS)
        return cls(path, manifest, graph_of(manifest, load_weights(weights_path), path))

    @property
    def files(self) -> dict:
        """{relative path: sha256} of every file the manifest names."""
        return integrity.check_record(self.manifest.get("files"), str(self.path / MANIFEST))

    def source_path(self, key: str) -> Path:
        """A directory or file the manifest names under 'sources' (e.g. 'hls', 'rtl')."""
        rel = self.manifest.get("sources", {}).get(key)
        reason = self.manifest.get("sources_unavailable", {}).get(key)
        if rel is None and reason:
            raise ArtifactError(f"{self.path}: this model has no {key} sources: {reason}")
        if rel is None:
            raise ArtifactError(f"{self.path}: the manifest names no '{key}' sources; recompile with this convflow")
        integrity.check_name(rel, str(self.path / MANIFEST))
        return self.path / rel

    def source_files(self, key: str) -> dict:
        """{path relative to the source folder: sha256} of the recorded files of sources[key]."""
        rel = self.source_path(key).relative_to(self.path).as_posix()
        return {name[len(rel) + 1:]: digest for name, digest in integrity.under(self.files, rel).items()}

    def copy_sources(self, key: str, dest, select=None) -> list:
        """Copy the recorded files of sources[key] (those whose relative name ``select`` accepts) into ``dest``,
        checking each copy's hash; returns their names relative to the source folder."""
        rel = self.source_path(key).relative_to(self.path).as_posix()
        chosen = {f"{rel}/{name}": digest for name, digest in self.source_files(key).items()
                  if select is None or select(name)}
        return integrity.copy_verified(self.path, chosen, dest, str(self.path), strip_prefix=rel + "/")

    def check_source(self, key: str, name: str) -> Path:
        """One recorded file of sources[key], its hash checked now."""
        rel = self.source_path(key).relative_to(self.path).as_posix()
        full = f"{rel}/{name}"
        digest = self.files.get(full)
        if digest is None:
            raise IntegrityError(f"{self.path}: {full} is not named by the manifest; recompile the model")
        return integrity.check_file(self.path, full, digest, str(self.path))


def load_weights(weights_path: Path) -> dict:
    """weights.npz -> {name: int64 array}; no pickle, and only integer arrays (a float weight would be truncated
    without a word)."""
    import zipfile

    try:
        with np.load(weights_path, allow_pickle=False) as arrays:
            if not hasattr(arrays, "files"):
                raise ArtifactError(f"{weights_path}: not an .npz archive; recompile the model")
            loaded = {}
            for key in arrays.files:
                value = arrays[key]
                if value.dtype.kind not in "iu" or (value.dtype.kind == "u" and value.dtype.itemsize >= 8
                                                      and value.size and value.max() > np.iinfo(np.int64).max):
                    raise ArtifactError(f"{weights_path}: array {key!r} holds {value.dtype} values; an artifact's "
                                        "weights are integers (recompile the model)")
                loaded[key] = value.astype(np.int64)
            return loaded
    except ArtifactError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = "it holds Python objects (pickle)" if "pickle" in str(exc).lower() else "truncated or damaged"
        raise ArtifactError(f"{weights_path}: cannot be read ({reason}); recompile the model") from None


def graph_of(manifest: dict, arrays: dict, path: Path) -> Graph:
    """The IR graph the manifest describes, with its weights; a malformed description is one ArtifactError."""
    desc = manifest.get("graph")
    if not isinstance(desc, dict):
        raise ArtifactError(f"{path / MANIFEST}: no 'graph' description; recompile the model")
    try:
        graph = graph_from_dict(desc, arrays)
    except KeyError as exc:
        raise ArtifactError(f"{path / MANIFEST}: the graph names {exc} which is missing (from the graph or from "
                            "weights.npz); recompile the model") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"{path / MANIFEST}: the graph description is malformed ({exc}); recompile the "
                            "model") from None
    for name in (graph.input, graph.output):
        if name not in graph.tensors:
            raise ArtifactError(f"{path / MANIFEST}: the graph's {name!r} is not one of its tensors")
    for node in graph.nodes:
        for t in list(node.inputs) + [node.output]:
            if t not in graph.tensors:
                raise ArtifactError(f"{path / MANIFEST}: layer {node.name!r} uses tensor {t!r}, which the graph "
                                    "does not define")
    return graph
