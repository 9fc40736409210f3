"""Hand-built IR graphs for the HLS backend tests (no frontend needed): random integer weights from a seed, tensor
types derived from the exact value ranges, thresholds placed at quantiles of the values a sample batch produces."""
from __future__ import annotations

import numpy as np

from convflow.compiler.ir import interpret
from convflow.compiler.ir.graph import (Add, Concat, Conv2D, Dense, Flatten, Graph, IntType, MaxPool, Shift,
                                        SumPool, Tensor, Threshold)


class Builder:
    def __init__(self, name: str, shape: tuple, dtype: IntType, seed: int = 0, names=None):
        self.rng = np.random.default_rng(seed)
        self.graph = Graph(name, {}, [], "input", "input")
        self.names = iter(names or ())
        self._tensor("input", shape, dtype)
        self.sample = {"input": self.rng.integers(dtype.min, dtype.max, size=(64, *shape), endpoint=True)}
        self.count = 0

    def _tensor(self, name, shape, dtype):
        self.graph.tensors[name] = Tensor(name, tuple(shape), dtype, np.ones(()))
        return name

    def _node_name(self, default):
        self.count += 1
        return next(self.names, f"{default}{self.count}")

    def _finish(self, node, shape, dtype, sample):
        out = self._tensor(f"t{self.count}_{node.op.lower()}", shape, dtype)
        node.output = out
        self.graph.nodes.append(node)
        self.graph.output = out
        self.sample[out] = sample
        return out

    def _range(self, x):
        t = self.graph.tensors[x].dtype
        return t.min, t.max

    def conv(self, x, cout, k=3, stride=1, pad=0, wbits=3, depthwise=False, pe=1, simd=1, pad_value=0,
             binarised=False):
        """``binarised``: +-2 weights, as a layer reading bipolar bits has them (frontend/ops/linear.py)."""
        h, w, cin = self.graph.tensors[x].shape
        lim = (1 << (wbits - 1)) - 1
        wshape = (k, k, 1, cin) if depthwise else (k, k, cin, cout)
        cout = cin if depthwise else cout
        weights = self.rng.integers(-lim - 1, lim, size=wshape, endpoint=True)
        if binarised:
            weights = np.where(self.rng.random(wshape) < 0.5, -2, 2)
        bias = self.rng.integers(-20, 20, size=(cout,), endpoint=True)
        node = Conv2D(self._node_name("conv"), [x], "", weights=weights, bias=bias, stride=(stride, stride),
                      pads=(pad,) * 4, pad_value=pad_value, depthwise=depthwise, pe=pe, simd=simd)
        xl, xh = self._range(x)
        wm = weights.reshape(-1, cout)
        lo = bias + np.minimum(wm * xl, wm * xh).sum(0)
        hi = bias + np.maximum(wm * xl, wm * xh).sum(0)
        oh = (h + 2 * pad - k) // stride + 1
        ow = (w + 2 * pad - k) // stride + 1
        return self._finish(node, (oh, ow, cout), IntType.for_range(lo.min(), hi.max()),
                            interpret.conv2d(node, self.graph, self.sample[x]))

    def dense(self, x, cout, wbits=3, pe=1, simd=1, binarised=False):
        cin = int(np.prod(self.graph.tensors[x].shape))
        lim = (1 << (wbits - 1)) - 1
        weights = self.rng.integers(-lim - 1, lim, size=(cin, cout), endpoint=True)
        if binarised:
            weights = np.where(self.rng.random((cin, cout)) < 0.5, -2, 2)
        bias = self.rng.integers(-20, 20, size=(cout,), endpoint=True)
        node = Dense(self._node_name("dense"), [x], "", weights=weights, bias=bias, pe=pe, simd=simd)
        xl, xh = self._range(x)
        lo = bias + np.minimum(weights * xl, weights * xh).sum(0)
        hi = bias + np.maximum(weights * xl, weights * xh).sum(0)
        return self._finish(node, (cout,), IntType.for_range(lo.min(), hi.max()),
                            interpret.dense(node, self.graph, self.sample[x]))

    def threshold(self, x, bits=4, per_channel=True, signed=False):
        t = self.graph.tensors[x]
        n = (1 << bits) - 1
        values = self.sample[x].reshape(-1, t.channels)
        qs = np.linspace(0.02, 0.98, n)
        if per_channel:
            th = np.quantile(values, qs, axis=0).T
        else:
            th = np.quantile(values, qs)[None, :]
        th = np.sort(np.round(th).astype(np.int64) + self.rng.integers(-1, 1, size=th.shape, endpoint=True), axis=1)
        base = -(1 << (bits - 1)) if signed else 0
        node = Threshold(self._node_name("act"), [x], "", thresholds=th, out_base=base)
        return self._finish(node, t.shape, IntType.for_range(base, base + n), interpret.threshold(node, self.graph, self.sample[x]))

    def shift(self, x, shift, bits=4, signed=True):
        t = self.graph.tensors[x]
        out = IntType(bits, signed)
        node = Shift(self._node_name("shift"), [x], "", shift=shift, lo=out.min, hi=out.max)
        return self._finish(node, t.shape, out, interpret.shift(node, self.graph, self.sample[x]))

    def maxpool(self, x, k=2, stride=None, pad=0):
        t = self.graph.tensors[x]
        h, w, c = t.shape
        stride = stride or k
        node = MaxPool(self._node_name("pool"), [x], "", kernel=(k, k), stride=(stride, stride), pads=(pad,) * 4)
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self._finish(node, (oh, ow, c), t.dtype, interpret.maxpool(node, self.graph, self.sample[x]))

    def sumpool(self, x, k=None, stride=None):
        t = self.graph.tensors[x]
        h, w, c = t.shape
        kh, kw = (h, w) if k is None else (k, k)
        stride = (stride or kh, stride or kw) if k is not None else (1, 1)
        node = SumPool(self._node_name("gap"), [x], "", kernel=(kh, kw), stride=stride, pads=(0, 0, 0, 0))
        oh, ow = (h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1
        lo, hi = t.dtype.min * kh * kw, t.dtype.max * kh * kw
        return self._finish(node, (oh, ow, c), IntType.for_range(min(lo, 0), hi), interpret.sumpool(node, self.graph, self.sample[x]))

    def add(self, a, b, mul_a=1, mul_b=1):
        ta, tb = self.graph.tensors[a], self.graph.tensors[b]
        node = Add(self._node_name("add"), [a, b], "", mul_a=mul_a, mul_b=mul_b)
        ends = [va * mul_a + vb * mul_b for va in (ta.dtype.min, ta.dtype.max) for vb in (tb.dtype.min, tb.dtype.max)]
        return self._finish(node, ta.shape, IntType.for_range(min(ends), max(ends)),
                            interpret.add(node, self.graph, self.sample[a], self.sample[b]))

    def concat(self, *xs):
        ts = [self.graph.tensors[x] for x in xs]
        node = Concat(self._node_name("concat"), list(xs), "")
        dtype = IntType.for_range(min(t.dtype.min for t in ts), max(t.dtype.max for t in ts))
        shape = ts[0].shape[:-1] + (sum(t.shape[-1] for t in ts),)
        return self._finish(node, shape, dtype, interpret.concat(node, self.graph, *[self.sample[x] for x in xs]))

    def flatten(self, x):
        t = self.graph.tensors[x]
        node = Flatten(self._node_name("flatten"), [x], "")
        return self._finish(node, (int(np.prod(t.shape)),), t.dtype, self.sample[x].reshape(len(self.sample[x]), -1))


def lenet(seed=0, fold=((1, 1), (1, 1), (1, 1)), size=28, c1=8, c2=16, names=None, thr_bits=4) -> Graph:
    """uint8 size x size x 1 -> conv3x3 pad1 -> thr -> maxpool -> conv3x3 -> thr -> maxpool -> flatten -> dense 10.
    ``fold``: (pe, simd) of the three MVU layers."""
    b = Builder("lenet", (size, size, 1), IntType(8, False), seed, names)
    x = b.conv("input", c1, k=3, pad=1, wbits=3, pe=fold[0][0], simd=fold[0][1])
    x = b.threshold(x, bits=thr_bits)
    x = b.maxpool(x, 2)
    x = b.conv(x, c2, k=3, pad=0, wbits=3, pe=fold[1][0], simd=fold[1][1])
    x = b.threshold(x, bits=thr_bits, per_channel=False)
    x = b.maxpool(x, 2)
    x = b.flatten(x)
    b.dense(x, 10, wbits=3, pe=fold[2][0], simd=fold[2][1])
    return b.graph


def mlp(seed=0, fold=((1, 1), (1, 1)), cin=64, hidden=32) -> Graph:
    b = Builder("mlp", (cin,), IntType(4, True), seed)
    x = b.dense("input", hidden, wbits=2, pe=fold[0][0], simd=fold[0][1])
    x = b.threshold(x, bits=2, signed=True)
    b.dense(x, 10, wbits=4, pe=fold[1][0], simd=fold[1][1])
    return b.graph


def binarised(seed=0) -> Graph:
    """FINN-style binarised layers: bipolar bits into +-2-weight convolutions and dense layers (XNOR-popcount)."""
    b = Builder("binarised", (6, 6, 3), IntType(1, False), seed)
    x = b.conv("input", 8, k=3, pad=0, wbits=3, pe=2, simd=3, binarised=True)
    x = b.threshold(x, bits=1)
    x = b.maxpool(x, 2)
    x = b.dense(b.flatten(x), 6, wbits=3, pe=3, simd=4, binarised=True)
    x = b.threshold(x, bits=1)
    b.dense(x, 3, wbits=3, pe=1, simd=6, binarised=True)
    return b.graph


def branches(seed=0) -> Graph:
    """Two convolution branches joined by an Add, then a concatenation of three branches (a tensor, a convolution of
    it, and the tensor again), then a dense layer: forks, joins and the FIFOs between them."""
    b = Builder("branches", (6, 6, 3), IntType(5, False), seed)
    x = b.conv("input", 4, k=1, pad=0, wbits=3, pe=2, simd=1)
    x = b.shift(x, 3, bits=4, signed=True)
    y = b.shift(b.conv(x, 4, k=3, pad=1, wbits=3, pe=1, simd=2), 4, bits=4, signed=True)
    z = b.shift(b.conv(x, 4, k=1, pad=0, wbits=3, pe=4, simd=4), 3, bits=4, signed=True)
    s = b.shift(b.add(y, z, mul_a=1, mul_b=2), 1, bits=5, signed=True)
    c = b.conv(s, 2, k=3, pad=1, wbits=3, pe=2, simd=1)
    c = b.shift(c, 4, bits=5, signed=True)
    j = b.concat(s, c, s)
    b.dense(b.flatten(j), 5, wbits=3, pe=1, simd=4)
    return b.graph


def resnet_block(seed=0) -> Graph:
    """conv -> shift -> [conv -> shift] + skip (Add) -> depthwise conv -> shift -> strided maxpool -> global sumpool."""
    b = Builder("res net/block", (10, 10, 4), IntType(4, False), seed)
    x = b.conv("input", 8, k=3, pad=1, wbits=3, pe=2, simd=2)
    x = b.shift(x, 4, bits=5, signed=True)
    y = b.conv(x, 8, k=3, pad=1, wbits=3, pe=4, simd=8)
    y = b.shift(y, 5, bits=4, signed=True)
    z = b.add(x, y, mul_a=2, mul_b=-3)
    z = b.conv(z, 8, k=3, pad=1, depthwise=True, wbits=4, pe=2, simd=4, pad_value=0)
    z = b.shift(z, -1 if seed % 2 else 3, bits=6, signed=True)
    z = b.maxpool(z, k=3, stride=2, pad=1)
    b.sumpool(z)
    return b.graph


def window_net(seed=0, simd=(9, 6, 3, 36)) -> Graph:
    """Convolutions whose SIMD does not divide their channels (the window generator's window mode): a 1-channel
    9x7 input -> 3x3 pad 1 (SIMD=9, the whole window) -> stride 2 (2 channels, SIMD=6: words of three pixels) ->
    a 4-channel layer with SIMD=3 (words straddling pixels) -> a 5x5-free odd tail: 3x3 over 4 channels, SIMD=36 ->
    dense."""
    b = Builder("window net", (9, 7, 1), IntType(6, False), seed)
    x = b.conv("input", 2, k=3, pad=1, wbits=3, pe=2, simd=simd[0])
    x = b.threshold(x, bits=3)
    x = b.conv(x, 4, k=3, stride=2, pad=1, wbits=3, pe=1, simd=simd[1])
    x = b.threshold(x, bits=3)
    x = b.conv(x, 4, k=3, pad=1, wbits=3, pe=4, simd=simd[2])
    x = b.shift(x, 3, bits=4, signed=True)
    x = b.conv(x, 3, k=3, pad=1, wbits=3, pe=3, simd=simd[3], pad_value=0)
    x = b.shift(x, 3, bits=4, signed=True)
    b.dense(b.flatten(x), 5, wbits=3, pe=5, simd=4)
    return b.graph
