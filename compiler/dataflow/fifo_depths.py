"""FIFO depths in front of joins, from the latencies of the paths into them, so that no topology deadlocks.

A fork writes each word to all its outputs at once.  If one path into a join needs many words before its first word
arrives (a convolution's line buffer fills first) while another passes words straight through, the fast path's
words pile up at the join, which waits for the slow one; once they fill the fast path's buffers the fork stalls, the
slow path starves, and the design deadlocks.  The fast path must hold that difference, and whatever the join makes
that input wait while it reads the others (``Stage.join_stall``: one pixel for a concatenation, nothing for an Add,
which reads its inputs in lockstep).

Latencies are counted as fractions of a frame (a stage's ``fill_elements`` over its input's elements per frame),
so they add up along a path whatever the stages do to the element count.  Every stream gets an arrival latency
(the slowest path from the design input: a join waits for its last input), and each join input needs
(latest arrival at the join - its own + the join's stall) frames of buffering.  The FIFO that holds it sits where
that input's path leaves a fork or a join (walking back through one-input stages): the fast path of a residual
block is then the fork's own output, and a skip connection that passes a whole inner block (a join on the slow
path before the outer join) is sized for the whole of that block, not only up to the first join it meets.
The depth is that many frames of the buffered stream plus a margin, at most one frame (a path never needs more
than the current frame to produce the current frame's outputs, so one frame always suffices).
"""
from __future__ import annotations

import math

from .plan import Plan, Stream
from .plumbing import StreamFork

# words of slack on a fast branch, over the latency difference (covers the few words inside each stage)
MARGIN_WORDS = 8
# a whole frame plus what the stages right behind the fork hold
FRAME_EXTRA_WORDS = 4


def arrival_latencies(plan: Plan) -> dict:
    """{id(stream): frames from the design input to the stream's first word, on the slowest path}."""
    arrival = {id(plan.input): 0.0}
    for stage in plan.stages:                       # the plan is built in topological order
        if len(stage.inputs) > 1:                   # a join starts once its last input arrives
            start = max(arrival[id(s)] for s in stage.inputs)
        else:
            start = arrival[id(stage.input)] + stage.fill_elements() / max(1, stage.input.elems)
        for out in stage.outputs:
            arrival[id(out)] = start
    return arrival


def buffer_stream(plan: Plan, stream: Stream) -> Stream:
    """The stream where the path into ``stream`` leaves a fork, a join or the design input."""
    producers = {id(out): stage for stage in plan.stages for out in stage.outputs}
    while True:
        stage = producers.get(id(stream))
        if stage is None or isinstance(stage, StreamFork) or len(stage.inputs) != 1 or len(stage.outputs) != 1:
            return stream
        stream = stage.input


def size_fork_fifos(plan: Plan) -> None:
    arrival = arrival_latencies(plan)
    for stage in plan.stages:
        if len(stage.inputs) < 2:
            continue
        latest = max(arrival[id(s)] for s in stage.inputs)
        for index, stream in enumerate(stage.inputs):
            need = latest - arrival[id(stream)] + stage.join_stall(index)
            if need <= 0:
                continue
            buffered = buffer_stream(plan, stream)
            words = buffered.words
            depth = math.ceil(need * words) + MARGIN_WORDS
            buffered.fifo_depth = max(buffered.fifo_depth, min(depth, words + FRAME_EXTRA_WORDS))
