"""The stage builder of every IR op (a table keyed by the IR class): builder(plan, node, input streams) appends
the stages that implement ``node`` to ``plan``, leaving its output stream as ``plan.cur``.  One module per op
family holds the builders with their stage classes (cycles and resources side by side)."""
from __future__ import annotations

from . import activation, add, concat, mvu, plumbing, window

BUILDERS = {**mvu.BUILDERS, **window.BUILDERS, **activation.BUILDERS, **add.BUILDERS, **concat.BUILDERS,
            **plumbing.BUILDERS}
