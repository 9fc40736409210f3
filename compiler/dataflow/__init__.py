"""The dataflow plan: the hardware description of a graph, built once (build.py) from one stage builder per op
family (builders.py), printed by emit/hls.py and emit/rtl.py and summed by estimate.py."""
from .build import build_plan
from .plan import FIFO_DEPTH_DEFAULT, Plan, Stage, Stream

__all__ = ["FIFO_DEPTH_DEFAULT", "Plan", "Stage", "Stream", "build_plan"]
