"""The host interface of a compiled model: what runs on the host around the accelerator, as one typed record.

The accelerator takes integers in NHWC order and returns integers.  Around it the host

* takes a batch in the source model's layout (``source_shape``, e.g. NCHW) and reorders it to the IR's NHWC,
* quantises float inputs exactly as the model does (its float pre-processing ops, then its input quantiser), and
* reads the model's real outputs as ``scale * int + offset`` (the IR output tensor's scale and offset), leaving a
  final softmax to the caller.

For the ``qonnx`` backend the record also names the *integer tap*: the ONNX tensor of the cleaned source model that
equals the IR output times ``tap.scale``, so the float simulation can be compared with the integers.

The frontend fills it in (frontend/host_interface.py); passes may move output ops into the accelerator
(passes/absorb_into_accumulator.py) or turn them into the output's dequantisation (passes/dequantize_output.py);
the runtime reads it (runtime/session.py, runtime/layout.py, runtime/backends/qonnx_exec.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .floatops import InputQuantizer


@dataclass
class HostInput:
    quantizer: InputQuantizer         # float pre-processing ops, then the model's input quantiser
    source_shape: tuple               # one sample in the source model's layout
    onnx_shape: tuple                 # one sample as the input quantiser sees it (after reshapes)
    perm: Optional[list] = None       # onnx_shape -> NHWC transpose (axes without the batch), None: no transpose
    implicit: bool = False            # the model has no input quantiser: convflow chose a fixed-point type

    def to_dict(self) -> dict:
        return {"quantizer": self.quantizer.to_dict(), "source_shape": list(self.source_shape),
                "onnx_shape": list(self.onnx_shape), "perm": self.perm, "implicit": self.implicit}

    @staticmethod
    def from_dict(d: dict) -> "HostInput":
        return HostInput(InputQuantizer.from_dict(d["quantizer"]), tuple(d["source_shape"]), tuple(d["onnx_shape"]),
                         d.get("perm"), bool(d.get("implicit", False)))


@dataclass
class IntTap:
    """The ONNX tensor of the source model that equals the IR output (in IR layout after ``axes`` and
    ``flat_perm``) times ``scale``."""
    tensor: str
    axes: list                        # onnx tensor = IR tensor.transpose(axes), batch axis included
    scale: list = field(default_factory=list)      # per tensor [s] or per channel; set by dequantize_output
    flat_perm: Optional[list] = None  # IR flat element i is ONNX flat element flat_perm[i]

    def to_dict(self) -> dict:
        return {"tensor": self.tensor, "axes": list(self.axes), "scale": self.scale, "flat_perm": self.flat_perm}

    @staticmethod
    def from_dict(d: dict) -> "IntTap":
        return IntTap(d["tensor"], list(d["axes"]), d["scale"], d.get("flat_perm"))


@dataclass
class HostOutput:
    source_output: str                # the ONNX tensor holding the model's own output (before a final softmax)
    tap: IntTap
    # Float ops the source applies after its last integer layer, not yet placed: the compile passes absorb what
    # is exact into the last layer's accumulator and turn the rest (affine) into the output's dequantisation.
    # Empty in every compiled artifact.
    pending_ops: list = field(default_factory=list)
    pending_taps: list = field(default_factory=list)    # per pending op: the ONNX tensor after it (None inside a node)
    pending_names: list = field(default_factory=list)   # the ONNX nodes the pending ops came from, for messages
    softmax: Optional[str] = None     # name of a final softmax left to the host

    def to_dict(self) -> dict:
        if self.pending_ops:
            raise ValueError("the host output still has float ops to place; run the compile passes first")
        return {"source_output": self.source_output, "tap": self.tap.to_dict(), "softmax": self.softmax}

    @staticmethod
    def from_dict(d: dict) -> "HostOutput":
        return HostOutput(d["source_output"], IntTap.from_dict(d["tap"]), softmax=d.get("softmax"))


@dataclass
class HostInterface:
    input: HostInput
    output: HostOutput
    # The ONNX nodes the IR computes as exact integer arithmetic (Conv, MatMul, Gemm, an Add of two quantised
    # tensors, average pooling), with the scales that turn their inputs back into integers: onnx node name ->
    # {"op", "in_scales": [per input], "w_scale" (MVUs), "out_scale"}.  A float32 convolution rounds its sum in an
    # order of its own when scales are not powers of two; the qonnx backend evaluates these nodes exactly, as the
    # hardware does, and everything else as the source model defines it (runtime/backends/qonnx_exec.py).
    exact_ops: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"input": self.input.to_dict(), "output": self.output.to_dict(), "exact_ops": self.exact_ops}

    @staticmethod
    def from_dict(d: dict) -> "HostInterface":
        return HostInterface(HostInput.from_dict(d["input"]), HostOutput.from_dict(d["output"]),
                             dict(d.get("exact_ops", {})))
