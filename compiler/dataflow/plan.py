"""The hardware plan of a graph: streams, stages, forks, width converters and FIFOs -- built once, printed by both
emitters (emit/hls.py, emit/rtl.py) and summed by the estimator (estimate.py), so the three cannot drift apart.

A **Stream** is one valid/ready stream of the design: ``lanes`` consecutive NHWC elements of one IR tensor per beat,
with the depth of the FIFO that buffers it behind its producer.  The design's own input and output streams carry one
element per beat.

A **Stage** is one hardware block: a module of hw/rtl (``kind`` names it) and its twin function of hw/hls.  Each
stage class lives with the stage builder of its op family (dataflow/window.py, mvu.py, activation.py, add.py,
plumbing.py) and holds, side by side, the block's parameters, its cycles per frame and its resource model.  The
builders are keyed by IR class in dataflow/builders.py.

The cycle model: a stage's cycles per frame are the most beats it must accept, emit or compute; the design's cycles
per frame (its initiation interval) are those of its slowest stage, since all stages run concurrently and FIFOs
decouple them -- and never fewer than the input interface needs to deliver a frame: ``input_pace`` elements per
cycle (graph.meta["input_pace"], default 1: the accelerator's port takes one element per beat, so the pace is at
most 1; a slower source, e.g. a shared bus, is modelled with a fraction).  Cycle-accurate simulation checks this
(tests/test_estimate.py, benchmarks/plan_figures.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from convflow.compiler.ir.graph import Graph, IntType, Node
from convflow.hw.errors import ConvflowError

# depth of the FIFO behind every stage output unless a rule below asks for more
FIFO_DEPTH_DEFAULT = 2
# elements per cycle the input interface delivers unless graph.meta["input_pace"] says otherwise
INPUT_PACE_DEFAULT = 1.0


def input_pace(graph: Graph) -> float:
    """The input interface's pace (elements per cycle) the design is modelled with: in (0, 1]."""
    pace = float(graph.meta.get("input_pace", INPUT_PACE_DEFAULT))
    if not 0 < pace <= 1:
        raise ConvflowError(f"input pace {pace:g} elements/cycle: the accelerator's input port takes one element per "
                            f"beat, so the pace must lie in (0, 1]")
    return pace


@dataclass(eq=False)
class Stream:
    id: str                   # unique in the design ("st_in" for the design input, then w1, w2, ...)
    lanes: int                # elements per beat
    dtype: IntType            # element type: the IR type of the tensor it carries
    elems: int                # elements per frame
    tensor: str               # the IR tensor it carries (or whose elements it rearranges, e.g. into windows)
    producer: Optional["Stage"] = None          # None for the design input
    fifo_depth: int = FIFO_DEPTH_DEFAULT        # the FIFO behind the producer (the design input has none)

    @property
    def bits(self) -> int:
        return self.dtype.bits

    @property
    def signed(self) -> bool:
        return self.dtype.signed

    @property
    def width(self) -> int:
        """Bits per beat."""
        return self.lanes * self.dtype.bits

    @property
    def words(self) -> int:
        """Beats per frame."""
        return -(-self.elems // self.lanes)


@dataclass(eq=False, kw_only=True)
class Stage:
    """One hardware block.  Subclasses add the fields of their block and define ``kind``, ``params`` (the block's
    parameters, named as the Verilog module names them), ``resources_own`` and, where it matters, ``fill_elements``."""
    label: str                              # human name (IR node name + role); emitters sanitise it
    node: Optional[Node]                    # the IR node it implements (None for converters and forks)
    cycles: int                             # ideal cycles per frame
    inputs: list = field(default_factory=list)      # Streams read
    outputs: list = field(default_factory=list)     # Streams written
    kind = "stage"
    # True for a block that holds the FIFO behind its output itself (its ODEPTH parameter: the stream's depth here;
    # cf_outbuf.v): the RTL top puts no cf_fifo after it
    buffers_output = False

    @property
    def params(self) -> dict:
        raise NotImplementedError

    @property
    def input(self) -> Stream:
        return self.inputs[0]

    @property
    def output(self) -> Stream:
        return self.outputs[0]

    @property
    def lanes(self) -> int:
        """Elements per beat, for a stage that keeps one lane count from its inputs to its output."""
        return self.output.lanes

    def resources_own(self) -> dict:
        """LUT / FF / DSP / BRAM of the block itself (floats), before the FIFOs behind its outputs."""
        raise NotImplementedError

    def output_fifo_depth(self, stream: Stream) -> int:
        """Words of the FIFO behind ``stream`` as the RTL builds it (a block that buffers its own output may hold
        more than the plan asks for)."""
        return stream.fifo_depth

    def credit_resources(self) -> dict:
        """LUT / FF / BRAM of the credit beside a block's own output FIFO (dataflow/outbuf.py); none here."""
        return {"lut": 0, "ff": 0, "bram": 0}

    def resources(self) -> dict:
        """LUT4 / FF / DSP (MULT18X18D) / BRAM (EBR) of the block, the credit of an output it buffers itself and the
        FIFO behind each of its outputs, for an ECP5 (formulas fitted to yosys synth_ecp5;
        benchmarks/estimate_vs_yosys.py)."""
        from .memory import fifo_resources

        own, credit = self.resources_own(), self.credit_resources()
        lut, ff, dsp, bram = own["lut"] + credit["lut"], own["ff"] + credit["ff"], own["dsp"], own["bram"]
        for stream in self.outputs:
            fifo = fifo_resources(self.output_fifo_depth(stream), stream.width)
            lut, ff, bram = lut + fifo["lut"], ff + fifo["ff"], bram + fifo["bram"]
        return {"lut": int(lut), "ff": int(ff), "dsp": int(dsp), "bram": int(bram)}

    def fill_elements(self) -> int:
        """Input elements the block may take in before its first output (at most): how far a branch next to it
        can run ahead.  Sizes the FIFOs of forks (dataflow/fifo_depths.py)."""
        return max(s.lanes for s in self.inputs + self.outputs)

    def join_stall(self, index: int) -> float:
        """For a stage with several inputs: how long (in frames) input ``index`` may have to wait while the stage
        reads the others; 0 when it reads them in lockstep."""
        return 0.0


class Plan:
    """The stages of one graph, built by ``dataflow.build_plan``; ``cur`` is the stream the next stage reads."""

    def __init__(self, graph: Graph):
        self.graph = graph
        t = graph.input_tensor
        self.input = Stream("st_in", 1, t.dtype, int(np.prod(t.shape)), graph.input)
        self.input_pace = input_pace(graph)
        self.output: Optional[Stream] = None
        self.stages: list = []
        self.cur = self.input
        self._count = 0

    # -- building ------------------------------------------------------------------------------------------
    @property
    def lanes(self) -> int:
        return self.cur.lanes

    def add(self, stage: Stage, lanes: int, dtype: IntType, elems: int, tensor: str, inputs=None,
            n_out: int = 1) -> list:
        """Append ``stage`` reading ``inputs`` (default: the current stream) and writing ``n_out`` new streams of
        ``lanes`` x ``dtype``; the first becomes the current stream."""
        stage.inputs = list(inputs or [self.cur])
        stage.outputs = []
        for _ in range(n_out):
            self._count += 1
            stage.outputs.append(Stream(f"w{self._count}", lanes, dtype, elems, tensor, producer=stage))
        self.stages.append(stage)
        self.cur = stage.outputs[0]
        return stage.outputs

    def adapt(self, lanes: int, label: str) -> None:
        """Insert width converters so the current stream carries ``lanes`` elements per beat (through the gcd
        when neither lane count divides the other)."""
        from .plumbing import WidthConverter

        if lanes == self.lanes:
            return
        mid = math.gcd(lanes, self.lanes)
        for target in ([mid] if mid != self.lanes else []) + ([lanes] if lanes != mid else []):
            src = self.cur
            stage = WidthConverter(label=f"{label}_dwc{src.lanes}to{target}", node=None,
                                   cycles=src.elems // min(src.lanes, target))
            self.add(stage, target, src.dtype, src.elems, src.tensor)

    # -- reading -------------------------------------------------------------------------------------------
    def streams(self) -> list:
        """Every stream: the design input, then each stage's outputs in order."""
        return [self.input] + [s for stage in self.stages for s in stage.outputs]

    def consumers(self, stream: Stream) -> list:
        return [stage for stage in self.stages if any(s is stream for s in stage.inputs)]

    def stages_of(self, node: Node) -> list:
        return [stage for stage in self.stages if stage.node is node]

    @property
    def input_cycles(self) -> int:
        """Cycles the input interface takes to deliver one frame."""
        return math.ceil(self.input.elems / self.input_pace - 1e-9)

    @property
    def cycles_per_frame(self) -> int:
        return max([s.cycles for s in self.stages] + [self.input_cycles])
