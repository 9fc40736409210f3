"""Per-layer traces: every layer's integers and dequantised floats for a batch, keyed by the source model's layer
name (``Session.trace``), and the comparison of a trace with the same layers of another computation
(``compare_layers``: what convflow.compare_to_keras / compare_to_onnx print) -- the tool for "my numbers differ
from Keras: where?".

The trace comes from the reference interpreter (ir/interpret.py), the oracle every backend equals bit for bit.
csim, rtlsim, the device and the gpu export stream only the design's output, so for a Session on one of those the
trace also runs that backend and records whether its output equals the traced output layer (``Trace.backend_equal``).

A value of the other side differs when it lies half a step of the layer's integer grid or more from convflow's
(``|other - convflow| >= 0.5 * |scale|``): a layer of the source model that computes in float32 with scales that
are not powers of two is a few float steps off the exact value, which is no difference; one integer code off is.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convflow.compiler.ir.interpret import run_graph


@dataclass
class LayerTrace:
    name: str                 # the source model's layer name (the IR node's name)
    op: str                   # the IR op (Conv2D, Threshold, ...)
    tensor: str               # the IR tensor it writes
    ints: np.ndarray          # (N, *shape) int64, NHWC
    floats: np.ndarray        # ints dequantised: scale * int + offset (what the source layer computes)
    scale: np.ndarray         # the integer grid's step, per tensor or per channel

    def __repr__(self) -> str:
        return f"LayerTrace({self.name!r}, {self.op}, shape {self.ints.shape[1:]}, int range " \
               f"[{int(self.ints.min())}, {int(self.ints.max())}])"


class Trace(dict):
    """{layer name: LayerTrace}, in execution order (the model input first).  ``backend`` is the Session's
    backend; ``backend_equal`` whether its output equals the traced output (None on the reference itself)."""
    backend: str = "reference"
    backend_equal: bool | None = None


def trace_session(session, x) -> Trace:
    x, single = session._batch(x)
    ints = session.quantize_input(x)
    graph = session.graph
    values = run_graph(graph, ints, keep_all=True)
    out = Trace()
    inp = graph.input_tensor
    out[graph.input] = LayerTrace(graph.input, "Input", graph.input, values[graph.input],
                                  inp.dequantize(values[graph.input]), np.asarray(inp.scale))
    for node in graph.nodes:
        t = graph.tensors[node.output]
        v = values[node.output]
        out[node.name] = LayerTrace(node.name, node.op, node.output, v, t.dequantize(v), np.asarray(t.scale))
    out.backend = session.backend_name
    if session.backend_name != "reference":
        got = session.backend.run(ints)
        out.backend_equal = bool(np.array_equal(got, values[graph.output]))
    if single:
        for layer in out.values():
            layer.ints, layer.floats = layer.ints[0], layer.floats[0]
    return out


# ----------------------------------------------------------------------------------------------- comparison
@dataclass
class LayerDiff:
    name: str
    op: str
    other: str | None              # the other side's name for it (a Keras layer, an ONNX tensor), None: not there
    shape: tuple = ()
    elements: int = 0
    differing: int = 0             # elements at least half a step away
    max_abs: float | None = None   # largest |other - convflow|, in the layer's real units
    max_steps: float | None = None  # the same in steps of the layer's integer grid
    first_sample: int | None = None
    note: str = ""

    @property
    def compared(self) -> bool:
        return self.max_abs is not None


@dataclass
class Comparison:
    """The layers of convflow's trace beside another computation's, in execution order."""
    against: str                   # "Keras model 'x'", "ONNX model 'y'"
    samples: int
    layers: list = field(default_factory=list)

    @property
    def first_difference(self) -> LayerDiff | None:
        """The first layer where some value differs (None: every compared layer agrees)."""
        return next((d for d in self.layers if d.differing), None)

    @property
    def equal(self) -> bool:
        return self.first_difference is None

    def table(self) -> str:
        head = f"{'layer':<28} {'op':<10} {'compared with':<28} {'differing':>16} {'max |diff|':>11} {'steps':>7}"
        lines = [f"convflow (reference) vs {self.against}: {self.samples} inputs", head, "-" * len(head)]
        for d in self.layers:
            if not d.compared:
                lines.append(f"{d.name[:28]:<28} {d.op[:10]:<10} {'-':<28} {'':>16} {'':>11} {'':>7}  {d.note}")
                continue
            count = f"{d.differing:,}/{d.elements:,}"
            lines.append(f"{d.name[:28]:<28} {d.op[:10]:<10} {str(d.other)[:28]:<28} {count:>16} "
                         f"{d.max_abs:>11.4g} {d.max_steps:>7.3g}" + (f"  {d.note}" if d.note else ""))
        first = self.first_difference
        if first is None:
            compared = sum(d.compared for d in self.layers)
            lines.append(f"every compared layer agrees ({compared} of {len(self.layers)} layers compared)")
        else:
            lines.append(f"first difference: layer {first.name!r} ({first.op}, {first.other}): {first.differing:,} "
                         f"of {first.elements:,} values differ, by up to {first.max_abs:.4g} "
                         f"({first.max_steps:.3g} steps of its grid); first differing input #{first.first_sample}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def to_ir_layout(values: np.ndarray, shape: tuple, channels_first: bool) -> np.ndarray | None:
    """Another computation's tensor (N, ...) in convflow's NHWC layout of per-sample ``shape``, or None when
    it cannot be matched (another size)."""
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    if values.size != n * int(np.prod(shape)):
        return None
    if channels_first and values.ndim in (3, 4):
        values = np.moveaxis(values, 1, -1)          # NCHW -> NHWC, NCW -> NWC
    return values.reshape((n,) + tuple(shape))


def diff_layer(layer: LayerTrace, other: np.ndarray, other_name: str) -> LayerDiff:
    step = np.abs(np.broadcast_to(layer.scale.astype(np.float64), layer.floats.shape[-1:]))
    step = np.where(step > 0, step, 1.0)
    delta = np.abs(other - layer.floats)
    steps = delta / step
    bad = steps >= 0.5
    per_sample = bad.reshape(len(bad), -1).any(axis=1)
    return LayerDiff(layer.name, layer.op, other_name, tuple(layer.ints.shape[1:]), int(delta.size),
                     int(bad.sum()), float(delta.max()) if delta.size else 0.0,
                     float(steps.max()) if steps.size else 0.0,
                     int(np.argmax(per_sample)) if per_sample.any() else None)
