"""Run one model through convflow and say whether it failed, and how.

``check(model, backends, workdir)`` compiles the model (compile_model on the onnx.ModelProto), then runs random
integer inputs (and the edges of the input range) through runtime.verify: the reference against every backend
asked for, integers compared with ==.  Independently of convflow, it also runs the model's own input path (its
pre-processing ops and input quantiser, through qonnx's executor) on floats between neighbouring input levels and
compares that with the host quantisation convflow does (Session.quantize_input).

A failure is one of
  mismatch  a backend (or the host's input quantisation) differs from the reference on some input
  refused   compile or a backend raised one of convflow's own errors (UnsupportedOp, ModelError ...): every fuzz
            model only uses what the frontend claims to take, so a refusal is a finding too
  error     any other exception: a traceback out of compile, a simulator that crashed, hung or did not build
"""
from __future__ import annotations

import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from convflow.hw.errors import ConvflowError

# the error classes of convflow.hw.errors, as verify reports them ("Type: message")
CONVFLOW_ERRORS = ("ConvflowError", "ModelError", "UnsupportedOp", "ArtifactError", "ToolMissing", "ToolFailed",
                   "DesignDoesNotFit", "FoldingError", "UnknownBackend")
# a tool that failed is convflow's own wording, but a generated design that does not build or hangs is a bug
REFUSALS = ("ModelError", "UnsupportedOp", "FoldingError", "DesignDoesNotFit")


@dataclass
class Failure:
    kind: str                 # mismatch | refused | error
    backend: str              # compile | host-input | reference | qonnx | csim | rtlsim
    message: str
    detail: str = ""          # a traceback, where there is one

    def signature(self) -> tuple:
        """What two failures must share to be taken for the same bug (the shrinker keeps it): kind, backend,
        error type and the message's wording without its numbers and names."""
        head = re.sub(r"'[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?(e-?\d+)?", "#", self.message)
        return self.kind, self.backend, head[:48] if self.kind != "mismatch" else ""

    def line(self) -> str:
        return f"{self.kind} on {self.backend}: {self.message.splitlines()[0][:300]}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Outcome:
    failure: Failure | None
    seconds: dict = field(default_factory=dict)     # compile and each backend
    beyond_float32: int = 0                         # qonnx outputs float32 cannot tell from the reference's
    distinct_outputs: int = 0                       # how many different integers the reference produced
    varying: float = 0.0                            # the share of output elements that differ between inputs
    samples: int = 0


def _classify(type_name: str, message: str, backend: str, detail: str = "") -> Failure:
    kind = "refused" if type_name in REFUSALS else "error"
    return Failure(kind, backend, f"{type_name}: {message}", detail)


def compile_artifact(model, out: Path, name: str, hls: bool, rtl: bool):
    """(artifact path, None) or (None, Failure)."""
    from convflow.compiler.compile import compile_model

    try:
        return compile_model(model, out, name=name, emit_hls=hls, emit_rtl=rtl), None
    except ConvflowError as exc:
        return None, _classify(type(exc).__name__, str(exc), "compile", traceback.format_exc())
    except Exception as exc:                            # a traceback out of compile: always a bug
        return None, Failure("error", "compile", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def random_inputs(session, n: int, seed: int) -> np.ndarray:
    """n random integers over the whole input range, then one input all at its lowest and one at its highest."""
    lo, hi = session.input_range
    shape = tuple(session.input_tensor.shape)
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi + 1, size=(n,) + shape)
    edges = np.stack([np.full(shape, lo), np.full(shape, hi)])
    return np.concatenate([x, edges]).astype(np.int64)


def input_path_model(model: onnx.ModelProto, n: int):
    """The model's own input path as a model of its own (pre-processing ops up to and including the first quantiser
    that reads them), with batch n; None if the input has no quantiser."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    graph = model.graph
    name = graph.input[0].name
    nodes = []
    while True:
        readers = [node for node in graph.node if name in node.input]
        if len(readers) != 1:
            return None
        node = readers[0]
        nodes.append(node)
        if node.op_type in ("Quant", "BipolarQuant"):
            break
        if node.op_type not in ("Add", "Sub", "Mul", "Div"):
            return None
        name = node.output[0]
    used = {i for node in nodes for i in node.input}
    inits = [init for init in graph.initializer if init.name in used]
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    inp = helper.make_tensor_value_info(graph.input[0].name, onnx.TensorProto.FLOAT, [n] + dims[1:])
    out = helper.make_tensor_value_info(nodes[-1].output[0], onnx.TensorProto.FLOAT, [n] + dims[1:])
    sub = helper.make_model(helper.make_graph(nodes, "input_path", [inp], [out], inits),
                            opset_imports=list(model.opset_import))
    sub.ir_version = model.ir_version
    return ModelWrapper(sub).transform(InferShapes()), nodes[-1]


def check_input_path(model: onnx.ModelProto, artifact, ints: np.ndarray, seed: int) -> Failure | None:
    """Floats between the source values of neighbouring input levels, quantised by qonnx running the model's own
    input nodes and by convflow's host (Session.quantize_input): the two must give the same integers."""
    from qonnx.core.onnx_exec import execute_onnx

    from convflow.runtime import Session
    from convflow.runtime.backends.qonnx_exec import QonnxBackend

    session = Session(artifact)
    if session.graph.host.input.implicit:
        return None
    made = input_path_model(model, len(ints))
    if made is None:
        return None
    path, quant = made
    lo, hi = session.input_range
    source = QonnxBackend(session.artifact).float_inputs(ints)
    neighbour = QonnxBackend(session.artifact).float_inputs(np.minimum(ints + 1, hi))
    t = np.random.default_rng(seed).choice([0.0, 0.25, 0.5, 0.75], size=source.shape).astype(np.float32)
    floats = (source + t * (neighbour - source)).astype(np.float32)
    out = execute_onnx(path, {path.graph.input[0].name: floats.reshape(path.get_tensor_shape(
        path.graph.input[0].name))})[quant.output[0]]
    scale = np.asarray(session.input_quantizer.quantizer.scale, np.float64)
    want = np.rint(out / scale)
    if np.any((want * scale).astype(np.float32) != out):
        return Failure("mismatch", "host-input", "qonnx's input quantiser output is not integer x scale")
    from convflow.runtime import layout
    want = layout.to_ir(session.graph, want.reshape(floats.shape)).astype(np.int64)
    got = session.quantize_input(floats)
    if not np.array_equal(got, want):
        bad = int(np.sum(got != want))
        where = np.argwhere(got != want)[0]
        return Failure("mismatch", "host-input",
                       f"{bad} of {got.size} input levels differ from the model's own input quantiser "
                       f"(first at {tuple(where)}: float {floats.reshape(len(ints), -1).flat[0]!r}..., convflow "
                       f"{got[tuple(where)]}, qonnx {want[tuple(where)]})")
    return None


# float32 holds 24 significant bits: from 2^23 on, n x scale and (n + 1) x scale can round to one float32 for a
# scale that is not a power of two (12477476 and 12477477 x 1.479e-05 do)
FLOAT32_INDISTINCT = 1 << 23


def beyond_float32_only(artifact, x, expected, outcome) -> bool:
    """Whether every qonnx output that differs from the reference is an integer so large that the source model's
    float32 output cannot tell it from the reference's: the model ends on an accumulator (no quantiser) of 24 bits
    or more, and float32(n x scale) == float32(m x scale).  Those are equal "after scaling" at the model's own
    precision, and are counted in ``outcome.beyond_float32`` instead of failing.  Any other difference: False."""
    from convflow.runtime import Session

    qonnx = Session(artifact, "qonnx")
    got = qonnx.run(x)
    scale = np.asarray(qonnx.graph.host.output.tap.scale, np.float64)     # the grid the qonnx tap is read on
    differ = got != expected
    same_in_float32 = (expected * scale).astype(np.float32) == (got * scale).astype(np.float32)
    explained = differ & same_in_float32 & (np.abs(expected) >= FLOAT32_INDISTINCT)
    outcome.beyond_float32 = int(explained.sum())
    return bool(np.all(explained == differ))


def check(model, backends, workdir, *, name: str = "fuzz", inputs: int = 32, seed: int = 0,
          backpressure: float = 0.3, host_input: bool = True, emit=None, extra=None) -> Outcome:
    """Compile ``model`` (an onnx.ModelProto or a model file) into workdir/name and compare the reference with every
    backend in ``backends`` on ``inputs`` random inputs (+ the two edges).  ``emit``: (hls, rtl) sources to write
    (default: those the backends need); ``extra(artifact, inputs)``: one more comparison, a Failure or None."""
    from convflow.runtime import Session
    from convflow.runtime.verify import verify

    backends = [b for b in backends if b != "reference"]
    hls, rtl = emit if emit is not None else ("csim" in backends, "rtlsim" in backends)
    seconds = {}
    start = time.perf_counter()
    artifact, failure = compile_artifact(model, Path(workdir) / name, name, hls, rtl)
    seconds["compile"] = time.perf_counter() - start
    if failure:
        return Outcome(failure, seconds)
    try:
        session = Session(artifact)
        x = random_inputs(session, inputs, seed)
        if host_input:
            try:
                source = model if isinstance(model, onnx.ModelProto) else onnx.load(str(artifact / "source.onnx"))
                failure = check_input_path(source, artifact, x, seed)
            except Exception as exc:
                failure = Failure("error", "host-input", f"{type(exc).__name__}: {exc}", traceback.format_exc())
            if failure:
                return Outcome(failure, seconds)
        options = {"rtlsim": {"backpressure": backpressure, "seed": seed + 1}}
        expected, results = verify(artifact, x, backends, options=options)
    except ConvflowError as exc:
        return Outcome(_classify(type(exc).__name__, str(exc), "reference", traceback.format_exc()), seconds)
    except Exception as exc:
        return Outcome(Failure("error", "reference", f"{type(exc).__name__}: {exc}", traceback.format_exc()),
                       seconds)
    flat = expected.reshape(len(expected), -1)
    outcome = Outcome(None, seconds, len(np.unique(expected)), float(np.mean(flat.min(0) != flat.max(0))), len(x))
    if extra is not None:
        try:
            outcome.failure = extra(artifact, x)
        except Exception as exc:
            outcome.failure = Failure("error", "extra", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    for result in results:
        seconds[result.backend] = result.seconds
        if result.error:
            type_name, _, message = result.error.partition(": ")
            outcome.failure = outcome.failure or _classify(type_name, message, result.backend)
        elif not result.exact and not (result.backend == "qonnx" and
                                       beyond_float32_only(artifact, x, expected, outcome)):
            outcome.failure = outcome.failure or Failure(
                "mismatch", result.backend, f"{result.differing_samples} of {result.samples} inputs differ "
                f"({result.differing_outputs} outputs); first differing input #{result.first_difference}")
    return outcome
