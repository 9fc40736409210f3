"""Reading an artifact directory: manifest.json plus the files it names.  No pickle: artifacts may come from
someone else, so arrays are loaded with allow_pickle=False."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convflow.compiler.ir.graph import Graph
from convflow.compiler.ir.serialize import FORMAT_VERSION, MANIFEST, WEIGHTS, graph_from_dict
from convflow.hw.errors import ArtifactError


@dataclass
class Artifact:
    path: Path
    manifest: dict
    graph: Graph

    @classmethod
    def load(cls, path) -> "Artifact":
        path = Path(path).resolve()     # backends run tools from other working directories
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise ArtifactError(f"{path}: no {MANIFEST} here; create one with `convflow compile MODEL -o {path}`")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{manifest_path}: not valid JSON ({exc})") from None
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(f"{manifest_path}: format_version {version!r}, this convflow reads {FORMAT_VERSION}; "
                                "recompile the model")
        weights_path = path / manifest.get("weights", WEIGHTS)
        if not weights_path.is_file():
            raise ArtifactError(f"{path}: {weights_path.name} named by the manifest is missing")
        with np.load(weights_path, allow_pickle=False) as arrays:
            graph = graph_from_dict(manifest["graph"], {k: arrays[k] for k in arrays.files})
        return cls(path, manifest, graph)

    def source_path(self, key: str) -> Path:
        """A directory or file the manifest names under 'sources' (e.g. 'hls', 'rtl')."""
        rel = self.manifest.get("sources", {}).get(key)
        reason = self.manifest.get("sources_unavailable", {}).get(key)
        if rel is None and reason:
            raise ArtifactError(f"{self.path}: this model has no {key} sources: {reason}")
        if rel is None:
            raise ArtifactError(f"{self.path}: the manifest names no '{key}' sources; recompile with this convflow")
        return self.path / rel
