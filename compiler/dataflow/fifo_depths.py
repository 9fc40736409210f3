"""FIFO depths behind forks, from the latencies of the branches, so that no topology deadlocks.

A fork writes each word to both its outputs at once.  If one branch needs many input words before its first word
reaches the join (a convolution's line buffer fills first) while the other passes words straight through, the fast
branch's words pile up at the join, which waits for the slow branch; once they fill the fast branch's buffers the
fork stalls, the slow branch starves, and the design deadlocks.  The FIFO behind the fork's fast output must hold
that difference, and whatever the join makes that input wait while it reads the others (``Stage.join_stall``: one
pixel for a concatenation, nothing for an Add, which reads its inputs in lockstep).

Latencies are counted as fractions of a frame (a stage's ``fill_elements`` over its input's elements per frame),
so they add up along a path whatever the stages do to the element count.  Each fork output gets a FIFO of
(slowest path of the fork - this path + the join's stall) x words per frame, plus a margin, at most one frame (a
branch never needs more than the current frame to produce the current frame's outputs, so one frame always
suffices); an output that needs nothing keeps the default depth.
"""
from __future__ import annotations

import math

from .plan import Plan, Stream
from .plumbing import StreamFork

# words of slack on a fast branch, over the latency difference (covers the few words inside each stage)
MARGIN_WORDS = 8
# a whole frame plus what the stages right behind the fork hold
FRAME_EXTRA_WORDS = 4


def path_latencies(plan: Plan, stream: Stream) -> list:
    """(latency, stall at its end) in frames of every path from ``stream`` to the next join (a stage with two
    inputs) or the design output."""
    readers = plan.consumers(stream)
    if not readers:
        return [(0.0, 0.0)]
    paths = []
    for stage in readers:
        if len(stage.inputs) > 1:               # the join
            index = next(i for i, s in enumerate(stage.inputs) if s is stream)
            paths.append((0.0, stage.join_stall(index)))
            continue
        own = stage.fill_elements() / max(1, stage.input.elems)
        for out in stage.outputs:
            paths += [(own + latency, stall) for latency, stall in path_latencies(plan, out)]
    return paths


def size_fork_fifos(plan: Plan) -> None:
    for stage in plan.stages:
        if not isinstance(stage, StreamFork):
            continue
        paths = [path_latencies(plan, out) for out in stage.outputs]
        slowest = max(latency for branch in paths for latency, _ in branch)
        words = stage.input.words
        for out, branch in zip(stage.outputs, paths):
            need = max(slowest - latency + stall for latency, stall in branch)
            if need <= 0:
                continue
            depth = math.ceil(need * words) + MARGIN_WORDS
            out.fifo_depth = max(out.fifo_depth, min(depth, words + FRAME_EXTRA_WORDS))
