"""Hand-built integer test graphs for the RTL tests (random integer weights, realistic thresholds).

``GraphBuilder`` appends layers and keeps the worst-case value range of every tensor (so every type is exact, from
IntType.for_range) plus a sample batch run through the reference kernels (so thresholds land where the values are
and the activations are not all zero or all saturated)."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir.graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift, SumPool,
                                        Tensor, Threshold, Upsample)
from convflow.compiler.ir.interpret import run_graph
from convflow.runtime.artifact import Artifact


class GraphBuilder:
    def __init__(self, name, shape, dtype: IntType, seed=0, samples=64):
        self.rng = np.random.default_rng(seed)
        self.name = name
        t = Tensor("input", tuple(shape), dtype, np.ones(()))
        self.tensors = {"input": t}
        self.nodes = []
        self.cur = "input"
        self.range = {"input": (dtype.min, dtype.max)}
        self.sample = self.rng.integers(dtype.min, dtype.max + 1, size=(samples, *shape))

    # -- helpers ---------------------------------------------------------------------------------------------
    def _add(self, node, shape, lo, hi, dtype=None, inputs=None):
        out = f"t{len(self.nodes)}"
        node.inputs, node.output = list(inputs or [self.cur]), out
        self.tensors[out] = Tensor(out, tuple(shape), dtype or IntType.for_range(lo, hi), np.ones(()))
        self.range[out] = (lo, hi)
        self.nodes.append(node)
        self.sample = run_graph(self.graph(), self.sample_input(), keep_all=True)[out]
        self.cur = out
        return self

    def sample_input(self):
        if not hasattr(self, "_inp"):
            self._inp = self.sample
        return self._inp

    @property
    def shape(self):
        return self.tensors[self.cur].shape

    def graph(self) -> Graph:
        return Graph(self.name, dict(self.tensors), list(self.nodes), "input", self.cur)

    def _weights(self, shape, wbits):
        return self.rng.integers(-(1 << (wbits - 1)), 1 << (wbits - 1), size=shape).astype(np.int64)

    def _acc_range(self, w2d, bias, extra_vals=()):
        lo_in, hi_in = self.range[self.cur]
        lo_in, hi_in = min([lo_in, *extra_vals]), max([hi_in, *extra_vals])
        pos, neg = np.clip(w2d, 0, None), np.clip(w2d, None, 0)
        hi = (pos * hi_in + neg * lo_in).sum(axis=0) + bias
        lo = (pos * lo_in + neg * hi_in).sum(axis=0) + bias
        return int(lo.min()), int(hi.max())

    # -- layers ----------------------------------------------------------------------------------------------
    def conv(self, cout, k=3, stride=1, pad=1, pe=1, simd=1, wbits=3, name=None, binarised=False, depthwise=False):
        """``depthwise``: one k x k filter per channel (cout = the input's channels)."""
        h, w, cin = self.shape
        if depthwise:
            cout = cin
        wshape = (k, k, 1, cin) if depthwise else (k, k, cin, cout)
        weights = self._weights(wshape, wbits)
        if binarised:
            weights = np.where(self.rng.random(wshape) < 0.5, -2, 2)
        bias = self.rng.integers(-8, 9, size=cout)
        lo, hi = self._acc_range(weights.reshape(-1, cout), bias, (0,) if pad else ())
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        node = Conv2D(name or f"conv{len(self.nodes)}", [], "", weights=weights, bias=bias, stride=(stride, stride),
                      pads=(pad, pad, pad, pad), pe=pe, simd=simd, depthwise=depthwise)
        return self._add(node, (oh, ow, cout), lo, hi)

    def dense(self, cout, pe=1, simd=1, wbits=3, name=None, binarised=False):
        """``binarised``: weights +-2 and the bias of a layer reading bipolar bits (frontend/ops/linear.py)."""
        cin = int(np.prod(self.shape))
        weights = self._weights((cin, cout), wbits)
        if binarised:
            weights = np.where(self.rng.random((cin, cout)) < 0.5, -2, 2)
        bias = self.rng.integers(-8, 9, size=cout)
        lo, hi = self._acc_range(weights, bias)
        return self._add(Dense(name or f"dense{len(self.nodes)}", [], "", weights=weights, bias=bias, pe=pe,
                               simd=simd), (cout,), lo, hi)

    def threshold(self, bits=4, per_channel=True, out_base=0, name=None):
        c = self.shape[-1]
        n = (1 << bits) - 1
        vals = self.sample.reshape(-1, c).astype(np.float64)
        qs = np.linspace(0.05, 0.98, n)
        if per_channel:
            t = np.stack([np.quantile(vals[:, i], qs) for i in range(c)])
        else:
            t = np.quantile(vals, qs)[None, :]
        t = np.sort(np.round(t).astype(np.int64), axis=1)
        node = Threshold(name or f"thr{len(self.nodes)}", [], "", thresholds=t, out_base=out_base)
        return self._add(node, self.shape, out_base, out_base + n)

    def shift(self, shift, lo=None, hi=None, name=None):
        rlo, rhi = self.range[self.cur]
        lo = -(1 << 7) if lo is None else lo
        hi = (1 << 7) - 1 if hi is None else hi
        return self._add(Shift(name or f"shift{len(self.nodes)}", [], "", shift=shift, lo=lo, hi=hi), self.shape,
                         lo, hi)

    def maxpool(self, k=2, stride=2, pad=0, name=None):
        h, w, c = self.shape
        lo, hi = self.range[self.cur]
        node = MaxPool(name or f"maxpool{len(self.nodes)}", [], "", kernel=(k, k), stride=(stride, stride),
                       pads=(pad, pad, pad, pad))
        return self._add(node, ((h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1, c), lo, hi,
                         self.tensors[self.cur].dtype)

    def sumpool(self, k=2, stride=2, name=None):
        h, w, c = self.shape
        lo, hi = self.range[self.cur]
        node = SumPool(name or f"sumpool{len(self.nodes)}", [], "", kernel=(k, k), stride=(stride, stride))
        return self._add(node, ((h - k) // stride + 1, (w - k) // stride + 1, c), min(0, lo * k * k), hi * k * k)

    def add(self, other: str, mul_a=1, mul_b=1, name=None):
        """Add(other, current): a residual join; ``other`` is an earlier tensor name (see ``mark``)."""
        alo, ahi = self.range[other]
        blo, bhi = self.range[self.cur]
        cands = [alo * mul_a, ahi * mul_a]
        dands = [blo * mul_b, bhi * mul_b]
        node = Add(name or f"add{len(self.nodes)}", [], "", mul_a=mul_a, mul_b=mul_b)
        return self._add(node, self.shape, min(cands) + min(dands), max(cands) + max(dands),
                         inputs=[other, self.cur])

    def concat(self, other: str, name=None):
        """Concat(other, current) of channels; ``other`` is an earlier tensor name (see ``mark``)."""
        lo = min(self.range[other][0], self.range[self.cur][0])
        hi = max(self.range[other][1], self.range[self.cur][1])
        shape = self.shape[:-1] + (self.tensors[other].shape[-1] + self.shape[-1],)
        return self._add(Concat(name or f"concat{len(self.nodes)}", [], ""), shape, lo, hi, inputs=[other, self.cur])

    def upsample(self, sy=2, sx=2, name=None):
        h, w, c = self.shape
        lo, hi = self.range[self.cur]
        node = Upsample(name or f"upsample{len(self.nodes)}", [], "", scale=(sy, sx))
        return self._add(node, (h * sy, w * sx, c), lo, hi, self.tensors[self.cur].dtype)

    def mark(self) -> str:
        return self.cur

    def at(self, tensor: str):
        """Continue from an earlier tensor (start a second branch)."""
        self.cur = tensor
        self.sample = run_graph(self.graph(), self.sample_input(), keep_all=True)[tensor]
        return self

    def flatten(self, name=None):
        return self._add(Flatten(name or f"flatten{len(self.nodes)}", [], ""), (int(np.prod(self.shape)),),
                         *self.range[self.cur], self.tensors[self.cur].dtype)


def lenet(pe=(1, 1, 1), simd=(1, 1, 1), seed=0, size=28, c1=6, c2=8):
    """input uint8 HxWx1 -> conv3x3 pad1 -> thr 4b -> maxpool -> conv3x3 -> thr -> maxpool -> flatten -> dense 10."""
    b = GraphBuilder("lenet_test", (size, size, 1), IntType(8, False), seed=seed)
    b.conv(c1, pe=pe[0], simd=simd[0], name="conv1").threshold(4, name="act1").maxpool(name="pool1")
    b.conv(c2, pe=pe[1], simd=simd[1], name="conv2").threshold(4, name="act2").maxpool(name="pool2")
    b.flatten(name="flat").dense(10, pe=pe[2], simd=simd[2], name="fc")
    return b.graph()


def artifact_for(graph, path, write=True):
    """An in-memory Artifact whose rtl/ sources are written by the RTL emitter."""
    from pathlib import Path

    from convflow.compiler.emit.rtl import write_rtl
    from convflow.hw.integrity import hash_tree
    path = Path(path)
    if write:
        write_rtl(graph, path / "rtl", model_name=graph.name)
    return Artifact(path, {"sources": {"rtl": "rtl"}, "files": hash_tree(path)}, graph)


def random_inputs(graph, n, seed=0):
    t = graph.input_tensor
    return np.random.default_rng(seed).integers(t.dtype.min, t.dtype.max + 1, size=(n, *t.shape))
