"""Softmax: only as the model's last op, where it stays on the host (the accelerator returns logits)."""
from __future__ import annotations

from convflow.hw.errors import UnsupportedOp


def on_softmax(ctx, node):
    consumers = ctx.consumers.get(node.output[0], [])
    if consumers or node.output[0] != ctx.graph_proto.output[0].name:
        raise UnsupportedOp(f"node {node.name!r} (Softmax): only a final softmax is supported (it stays on "
                            "the host)")
    ctx.notes.append(f"final softmax {node.name!r} stays on the host: run() returns integer logits, "
                     "Session.predict() applies the softmax")
    ctx.output_name = node.input[0]
    ctx.softmax = node.name
