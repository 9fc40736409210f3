"""A fuzz spec -> a QONNX model (onnx.helper, through tests/qonnx_builders.Builder).

A spec is plain JSON: the input (shape, float pre-processing, quantiser), then a list of *units*, each a small run
of ONNX nodes from one quantised tensor to the next: a convolution with its bias, BatchNorm, Mul, ReLU and activation
quantiser; a dense layer; a pool; a pad; a resize; a flatten; a re-quantisation; a residual block; a concatenation
of two branches.  Every unit is *legalised* against the tensor it reads before it is emitted (kernels no larger than
the padded input, a group that divides the channels, no padding into a binarised tensor, a flatten before a dense
layer, a quantiser wherever the next op needs integers), so any edit of a spec -- the shrinker drops units, halves
shapes, lowers bit widths -- still builds a valid, sensible model; ``build`` returns the spec as it was actually
built, and building that again gives the same model.

Numbers (weights, biases, BatchNorm statistics, pre-processing constants) come from each unit's own ``seed`` and the
shapes it meets, so one unit's edit leaves the others' numbers alone.  Scales and statistics are chosen for the values
they will meet: a float sample of every activation is computed as the model is emitted (sample.py), an activation
quantiser's levels cover the sample's 1st to 99th percentile times the unit's ``rel`` (rounded to a power of two when
``pow2``), BatchNorm's mean and variance are near the sample's.  So most models use a good part of every integer
range instead of clipping everything or rounding it all to zero.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import onnx

from qonnx_builders import Builder

from . import sample as sim

F32 = np.float32

# Resize coordinate modes that repeat each pixel for whole factors (the frontend accepts exactly these)
RESIZE_MODES = (("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"), ("tf_half_pixel_for_nn", "floor"),
                ("pytorch_half_pixel", "round_prefer_floor"))

# what the builder inserts where a unit needs something its spec lacks
DEFAULT_ACT = {"kind": "quant", "bits": 4, "signed": True, "narrow": False, "zeropt": 0, "rel": 1.0, "pow2": True}
DEFAULT_W = {"bits": 4, "signed": True, "narrow": True, "per_channel": False, "pow2": True}
MAX_PIXELS = 256           # H x W of any activation (keeps simulations short)


@dataclass
class Tensor:
    """What the builder knows about the ONNX tensor a unit reads."""
    name: str
    shape: tuple            # (C, H, W) or (F,), without the batch axis
    act: dict | None        # the quantiser that made it, with its "scale" (and "levels" when not its own range)
    sample: np.ndarray      # its values on a small batch of inputs (sample.py)

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    @property
    def bipolar(self) -> bool:
        return self.act is not None and self.act["kind"] in ("bipolar", "quant1")

    @property
    def per_channel(self) -> bool:
        return self.act is not None and np.ndim(self.act["scale"]) > 0


# ----------------------------------------------------------------------------------------------- quantisers
def level_range(act: dict) -> tuple:
    """(lowest, highest) integer level of a quantiser's output (after its zero point), as qonnx computes it."""
    if "levels" in act:
        return tuple(act["levels"])
    if act["kind"] in ("bipolar", "quant1"):
        return -1, 1
    bits, signed, narrow = act["bits"], act["signed"], act["narrow"]
    lo = (-(1 << (bits - 1)) + int(narrow)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - int(narrow)
    return lo - act["zeropt"], hi - act["zeropt"]


def legal_act(act: dict) -> dict:
    """An activation quantiser spec without degenerate corners: 1 to 8 bits, a narrow range only with 2 bits or
    more (a 1-bit narrow quantiser has one level), a zero point inside the integer range, none on a binarised one."""
    act = {k: v for k, v in act.items() if k not in ("scale", "levels")}
    act["bits"] = int(min(max(act["bits"], 1), 8))
    if act["kind"] == "trunc":                         # a Trunc's grid, taken up by a Quant
        act["kind"] = "quant"
    if act["kind"] == "quant" and act["bits"] == 1 and act["signed"]:
        act["kind"] = "quant1"                         # qonnx reads a 1-bit signed Quant as bipolar
    if act["kind"] in ("bipolar", "quant1"):
        act.update(bits=1, signed=True, narrow=False, zeropt=0)
        return act
    if act["bits"] < 2:
        act["narrow"] = False
    lo, hi = level_range(dict(act, zeropt=0))
    act["zeropt"] = int(min(max(act["zeropt"], lo), hi))
    return act


def plain(act: dict) -> dict:
    """An act as a spec holds it: without the scale and levels the builder works out."""
    return {k: v for k, v in act.items() if k not in ("scale", "levels")}


def act_scale(act: dict, x: np.ndarray) -> float:
    """The scale of ``act`` for the values x it quantises."""
    if act["kind"] in ("bipolar", "quant1"):
        scale = act["rel"] * max(float(np.mean(np.abs(x))), 1e-3)
    else:
        scale = sim.choose_scale(x, *level_range(act), act["rel"])
    if act["pow2"]:
        scale = 2.0 ** np.round(np.log2(scale))
    return float(F32(scale))


def weight_scale(wspec: dict, rng, channels: int, typical: float):
    """Per-tensor (a scalar) or per-output-channel (a vector) weight scale, powers of two or arbitrary floats, such
    that the largest weight level stands for about ``typical``."""
    bits = wspec["bits"]
    top = max((1 << (bits - 1)) - 1, 1) if wspec["signed"] else (1 << bits) - 1
    n = channels if wspec["per_channel"] else 1
    scale = typical / top * np.exp(rng.uniform(-0.7, 0.7, n))
    if wspec["pow2"]:
        scale = 2.0 ** np.round(np.log2(scale))
    scale = scale.astype(F32)
    return scale if wspec["per_channel"] else scale.reshape(())


class FuzzBuilder(Builder):
    """Emits the units of a spec one after the other, tracking the tensor each one reads."""

    def __init__(self, spec: dict):
        super().__init__(spec["seed"])

    # ------------------------------------------------------------------------------------------------ pieces
    def quantise(self, x: str, act: dict, values: np.ndarray, scale=None) -> Tensor:
        """Emit the quantiser ``act`` on x, whose sample is ``values`` (its scale chosen for them unless given)."""
        act = legal_act(act)
        scale = act_scale(act, values) if scale is None else scale
        act["scale"] = scale
        s = np.asarray(scale, F32)
        if act["kind"] == "bipolar":
            out = self.bipolar_quant(x, s)
        elif act["kind"] == "quant1":
            out = self.quant(x, s, 1, signed=True)
        else:
            out = self.quant(x, s, act["bits"], act["signed"], act["narrow"], float(act["zeropt"]),
                             act.get("rounding", "ROUND"))
        return Tensor(out, tuple(values.shape[1:]), act, sim.quantise(values, act))

    def weights(self, wspec: dict, rng, shape, axis: int) -> tuple:
        """Quantised weights of ``shape`` (per-channel scales along ``axis``): (name, their quantised values)."""
        wspec.update(bits=int(min(max(wspec["bits"], 1), 8)))
        wspec["narrow"] = bool(wspec["narrow"] and wspec["bits"] >= 2 and wspec["signed"])
        fan_in = int(np.prod(shape)) // shape[axis]
        typical = 1.0 / np.sqrt(max(fan_in, 1))
        scale = weight_scale(wspec, rng, shape[axis], typical)
        if wspec["per_channel"]:
            bshape = [1] * len(shape)
            bshape[axis] = shape[axis]
            scale = scale.reshape(bshape)
        bits = wspec["bits"]
        if bits == 1 and wspec["signed"]:                            # bipolar weights: +-scale
            levels = rng.choice([-1.0, 1.0], size=shape)
        else:
            lo = (-(1 << (bits - 1)) + int(wspec["narrow"])) if wspec["signed"] else 0
            hi = (1 << (bits - 1)) - 1 if wspec["signed"] else (1 << bits) - 1
            levels = rng.integers(lo, hi + 1, size=shape).astype(np.float64)
        w = (levels + rng.uniform(-0.45, 0.45, size=shape)) * np.asarray(scale, np.float64)
        w = w.astype(F32)
        signed, narrow = int(wspec["signed"]), int(wspec["narrow"])
        values = sim.quant(w, np.asarray(scale, F32), F32(0), F32(bits), signed, narrow, "ROUND").astype(F32)
        return self.quant(self.const(w, "w"), np.asarray(scale, F32), bits, wspec["signed"], wspec["narrow"]), values

    def bias(self, rng, n: int, x: np.ndarray) -> tuple:
        """A float bias of about a third of x's size: (name, values)."""
        b = rng.normal(size=n).astype(F32) * F32(0.3 * max(float(np.std(x)), 1e-3))
        return self.const(b, "bias"), b

    def float_tail(self, u, x: str, values: np.ndarray, rng) -> tuple:
        """BatchNorm (statistics near the sample's, gammas negative on a random third of the channels when
        u["bn"] == "negative") / Mul / ReLU after an accumulator, each if the unit asks: (name, values)."""
        channels = values.shape[1]
        axes = (0,) + tuple(range(2, values.ndim))
        if u.get("bn"):
            gamma = rng.uniform(0.5, 2.0, channels).astype(F32)
            if u["bn"] == "negative":
                gamma *= np.where(rng.random(channels) < 0.35, -1, 1).astype(F32)
            beta = (rng.normal(size=channels) * 0.5).astype(F32)
            spread = np.std(values, axis=axes) + 1e-3
            mean = (np.mean(values, axis=axes) + rng.normal(size=channels) * 0.3 * spread).astype(F32)
            var = (np.square(spread) * rng.uniform(0.5, 2.0, channels)).astype(F32)
            x = self.batchnorm_of(x, gamma, beta, mean, var)
            values = sim.batchnorm(values, gamma, beta, mean, var)
        if u.get("mul"):
            c = rng.uniform(0.5, 2.0, channels if u["mul"] == "channel" else 1).astype(F32)
            shape = (1, channels) + (1,) * (values.ndim - 2)
            c = c.reshape(shape) if len(c) > 1 else c[0]
            x = self.node("Mul", [x, self.const(c, "mul")])
            values = (values * c).astype(F32)
        if u.get("relu"):
            x = self.node("Relu", [x])
            values = np.maximum(values, F32(0))
        return x, values

    def finish(self, u, y: str, values: np.ndarray) -> tuple:
        """The unit's activation quantiser on y (or none: the model's last unit may end on affine floats)."""
        if u.get("act") is None:
            return Tensor(y, tuple(values.shape[1:]), None, values), u
        t = self.quantise(y, u["act"], values)
        u["act"] = plain(t.act)
        return t, u

    @staticmethod
    def needs_act(u, last: bool) -> None:
        """Only the last unit may leave floats, and then only affine ones (a ReLU needs a quantiser after it).  No
        ReLU before a binarisation either: it would make every value +1."""
        if u.get("act") is None:
            if last:
                u["relu"] = False
            else:
                u["act"] = dict(DEFAULT_ACT)
        elif u["act"]["kind"] in ("bipolar", "quant1") or (u["act"]["bits"] == 1 and u["act"]["signed"]):
            u["relu"] = False

    # ------------------------------------------------------------------------------------------------ units
    def emit(self, unit: dict, t: Tensor, last: bool) -> tuple:
        """Legalise ``unit`` for ``t`` and emit it: (output Tensor, the unit as built), or (t, None) when the unit
        cannot follow t (it is left out)."""
        op = unit["op"]
        unit = copy.deepcopy(unit)
        if unit.get("act") == "shared":             # a residual branch's last conv, moved out by the shrinker
            unit["act"] = None
        if t.act is None:
            return t, None                          # floats at the end: nothing may follow
        if t.bipolar and op in ("avgpool", "gap", "pad", "residual", "concat", "requant"):
            return t, None
        if not t.spatial and op not in ("dense", "requant"):
            return t, None
        if t.per_channel and op in ("conv", "dense", "residual", "avgpool", "gap", "pad", "concat"):
            t, _ = self.unit_requant({"op": "requant", "act": dict(DEFAULT_ACT, pow2=False)}, t, False)
        return getattr(self, "unit_" + op)(unit, t, last)

    def unit_conv(self, u, t: Tensor, last: bool, same: bool = False, cout: int | None = None) -> tuple:
        """Conv [bias] -> [BatchNorm] -> [Mul] -> [ReLU] -> quantiser.  ``same``: stride 1, odd kernel, padded to
        keep the shape (inside a residual or concatenation branch); ``cout``: this many outputs, whatever the
        spec says (the end of a residual branch)."""
        self.needs_act(u, last)
        rng = np.random.default_rng(u["seed"])
        c, h, w = t.shape
        kh, kw = u["k"]
        if same:
            kh, kw = min(kh | 1, 2 * h - 1), min(kw | 1, 2 * w - 1)
            u["stride"] = [1, 1]
            u["pads"] = [kh // 2, kw // 2, kh // 2, kw // 2]
        if t.bipolar:
            u["pads"] = [0, 0, 0, 0]               # a pad of 0 is neither -1 nor +1
        top, left, bottom, right = u["pads"]
        kh, kw = max(1, min(kh, h + top + bottom)), max(1, min(kw, w + left + right))
        u["pads"] = [min(top, kh - 1), min(left, kw - 1), min(bottom, kh - 1), min(right, kw - 1)]
        u["k"] = [kh, kw]
        u["stride"] = [max(1, min(s, 3)) for s in u["stride"]]
        if cout is not None:
            u["cout"] = cout
            if u.get("group") == "dw" and cout != c:
                u["group"] = 1
        group = u.get("group", 1)
        if group == "dw":
            u["cout"] = c
            group = c
        elif c % group or u["cout"] % group:
            group = u["group"] = 1
        u["cout"] = max(1, u["cout"])
        cout = u["cout"]
        weights, w = self.weights(u["w"], rng, (cout, c // group, kh, kw), 0)
        values = sim.conv(t.sample, w, None, u["stride"], u["pads"], group)
        inputs = [t.name, weights]
        if u.get("bias"):
            name, b = self.bias(rng, cout, values)
            inputs.append(name)
            values = (values + b.reshape(1, -1, 1, 1)).astype(F32)
        y = self.node("Conv", inputs, kernel_shape=[kh, kw], strides=u["stride"], pads=u["pads"], group=group)
        y, values = self.float_tail(u, y, values, rng)
        return self.finish(u, y, values)

    def unit_dense(self, u, t: Tensor, last: bool) -> tuple:
        """[Flatten] -> MatMul [+ bias Add] or Gemm [bias] -> [BatchNorm] -> [Mul] -> [ReLU] -> quantiser."""
        self.needs_act(u, last)
        rng = np.random.default_rng(u["seed"])
        x = self.flatten_node(t.name, u.get("flatten", "Flatten")) if t.spatial else t.name
        flat = t.sample.reshape(len(t.sample), -1)
        features = flat.shape[1]
        units = u["units"] = max(1, u["units"])
        trans_b = bool(u.get("gemm") and u.get("transB", True))
        shape, axis = ((units, features), 0) if trans_b else ((features, units), 1)
        weights, w = self.weights(u["w"], rng, shape, axis)
        values = (flat.astype(np.float64) @ (w.T if trans_b else w)).astype(F32)
        bias = None
        if u.get("bias"):
            bias, b = self.bias(rng, units, values)
            values = (values + b).astype(F32)
        if u.get("gemm"):
            y = self.node("Gemm", [x, weights] + ([bias] if bias else []), transB=int(trans_b))
        else:
            y = self.node("MatMul", [x, weights])
            if bias:
                y = self.node("Add", [y, bias])
        y, values = self.float_tail(u, y, values, rng)
        return self.finish(u, y, values)

    def flatten_node(self, x: str, how: str) -> str:
        if how == "Reshape":
            return self.node("Reshape", [x, self.ints([1, -1], "shape")])
        return self.node("Flatten", [x], axis=1)

    def unit_flatten(self, u, t: Tensor, last: bool) -> tuple:
        y = self.flatten_node(t.name, u.get("how", "Flatten"))
        return replace(t, name=y, shape=(int(np.prod(t.shape)),), sample=t.sample.reshape(len(t.sample), -1)), u

    def unit_requant(self, u, t: Tensor, last: bool) -> tuple:
        """[ReLU] -> a quantiser on a quantised tensor (a QuantIdentity / QuantReLU moving it to another grid)."""
        x, values = (self.node("Relu", [t.name]), np.maximum(t.sample, F32(0))) if u.get("relu") else \
            (t.name, t.sample)
        out = self.quantise(x, u["act"], values)
        u["act"] = plain(out.act)
        return out, u

    def window(self, u, t: Tensor) -> tuple:
        """Legal (kernel, stride, pads, output shape) of a pooling window over t: kernel at most 4 and the padded
        input, pads below the kernel."""
        c, h, w = t.shape
        top, left, bottom, right = u.get("pads", [0, 0, 0, 0])
        kh, kw = u["k"]
        kh, kw = max(1, min(kh, h + top + bottom, 4)), max(1, min(kw, w + left + right, 4))
        pads = [min(top, kh - 1), min(left, kw - 1), min(bottom, kh - 1), min(right, kw - 1)]
        stride = [max(1, min(s, 3)) for s in u.get("stride", [kh, kw])]
        u.update(k=[kh, kw], stride=stride, pads=pads)
        oh = (h + pads[0] + pads[2] - kh) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - kw) // stride[1] + 1
        return [kh, kw], stride, pads, (c, oh, ow)

    def unit_maxpool(self, u, t: Tensor, last: bool) -> tuple:
        kernel, stride, pads, shape = self.window(u, t)
        y = self.node("MaxPool", [t.name], kernel_shape=kernel, strides=stride, pads=pads)
        return replace(t, name=y, shape=shape, sample=sim.pool(t.sample, kernel, stride, pads, "max")), u

    def unit_avgpool(self, u, t: Tensor, last: bool) -> tuple:
        """AveragePool (padded only with count_include_pad) -> quantiser, or Brevitas's TruncAvgPool2d: Mul by the
        window size (the sum on the input's grid) -> Trunc."""
        if not u.get("count_include_pad"):
            u["pads"] = [0, 0, 0, 0]
        kernel, stride, pads, shape = self.window(u, t)
        attrs = {"count_include_pad": 1} if u.get("count_include_pad") else {}
        y = self.node("AveragePool", [t.name], kernel_shape=kernel, strides=stride, pads=pads, **attrs)
        values = sim.pool(t.sample, kernel, stride, pads, "avg")
        k = kernel[0] * kernel[1]
        if u.get("trunc") is not None and t.act["kind"] == "quant" and not t.act["zeropt"] and not t.per_channel:
            y = self.node("Mul", [y, self.const(F32(k), "k")])
            in_bits = t.act["bits"] + (int(np.ceil(np.log2(k))) if k > 1 else 0)
            # 2 bits or more: a 1-bit signed grid taken up by a residual's Quant would be a binarisation
            out_bits = u["trunc"]["out_bits"] = int(min(max(u["trunc"]["out_bits"], 2), in_bits))
            rounding = u["trunc"].setdefault("rounding", "FLOOR")
            y = self.trunc(y, np.asarray(t.act["scale"], F32), in_bits, out_bits, rounding)
            shift = 2.0 ** (in_bits - out_bits)
            lo, hi = level_range(t.act)
            rnd = {"FLOOR": np.floor, "CEIL": np.ceil, "ROUND": np.round}[rounding]
            act = dict(t.act, bits=out_bits, levels=(int(rnd(lo * k / shift)), int(rnd(hi * k / shift))))
            act["kind"] = "trunc"
            u.pop("act", None)
            out = sim.trunc((values * F32(k)).astype(F32), F32(t.act["scale"]), F32(0), F32(in_bits),
                            F32(out_bits), rounding).astype(F32)
            return Tensor(y, shape, act, out), u
        u.pop("trunc", None)
        self.needs_act(u, last)
        return self.finish(u, y, values)

    def unit_gap(self, u, t: Tensor, last: bool) -> tuple:
        self.needs_act(u, last)
        y = self.node("GlobalAveragePool", [t.name])
        return self.finish(u, y, t.sample.mean(axis=(2, 3), keepdims=True).astype(F32))

    def unit_pad(self, u, t: Tensor, last: bool) -> tuple:
        """Pad (constant) of height and width with a value on the tensor's grid."""
        lo, hi = level_range(t.act)
        level = u["level"] = int(min(max(u.get("level", 0), lo), hi))
        top, left, bottom, right = u["pads"] = [max(0, min(p, 3)) for p in u["pads"]]
        c, h, w = t.shape
        if (h + top + bottom) * (w + left + right) > MAX_PIXELS or not any(u["pads"]):
            return t, None
        inputs = [t.name, self.ints([0, 0, top, left, 0, 0, bottom, right], "pads")]
        value = F32(level * float(np.asarray(t.act["scale"])))
        if level or u.get("explicit_value"):
            inputs.append(self.const(value, "value"))
        y = self.node("Pad", inputs, mode="constant")
        padded = np.pad(t.sample, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)
        return replace(t, name=y, shape=(c, h + top + bottom, w + left + right), sample=padded), u

    def unit_resize(self, u, t: Tensor, last: bool) -> tuple:
        """Resize nearest by whole factors, in a coordinate mode that repeats each pixel."""
        c, h, w = t.shape
        sy, sx = u["scale"]
        while h * sy * w * sx > MAX_PIXELS and sy * sx > 1:
            sy, sx = (sy - 1, sx) if sy >= sx else (sy, sx - 1)
        if sy * sx == 1:
            return t, None
        u["scale"] = [sy, sx]
        transform, nearest = RESIZE_MODES[u.get("mode", 0) % len(RESIZE_MODES)]
        roi = self.const(np.zeros(0, F32), "roi")          # opset 11 wants it, even empty
        y = self.node("Resize", [t.name, roi, self.const(np.asarray([1, 1, sy, sx], F32), "scales")],
                      mode="nearest", coordinate_transformation_mode=transform, nearest_mode=nearest)
        repeated = np.repeat(np.repeat(t.sample, sy, axis=2), sx, axis=3)
        return replace(t, name=y, shape=(c, h * sy, w * sx), sample=repeated), u

    def branch(self, units: list, t: Tensor, end=None, cout=None) -> tuple:
        """A shape-preserving run of conv units (never binarised) from t: (end Tensor, units as built).  ``end``:
        the last conv's accumulator goes to this quantiser (an act with its scale) instead of its own; ``cout``:
        the last conv's output count."""
        built = []
        for i, unit in enumerate(units):
            unit = copy.deepcopy(unit)
            if unit.get("act") == "shared":             # the branch end's quantiser (built below, or the default)
                unit["act"] = None
            if unit.get("act") is not None and unit["act"]["kind"] != "quant":
                unit["act"] = dict(unit["act"], kind="quant", bits=max(2, unit["act"]["bits"]))
            if end is not None and i == len(units) - 1:
                unit["act"] = None
                acc, unit = self.unit_conv(unit, t, True, same=True, cout=cout)
                t = self.quantise(acc.name, plain(end), acc.sample, scale=end["scale"])
                unit["act"] = "shared"
            else:
                unit["act"] = unit.get("act") or dict(DEFAULT_ACT)
                t, unit = self.unit_conv(unit, t, False, same=True)
            built.append(unit)
        return t, built

    def unit_residual(self, u, t: Tensor, last: bool) -> tuple:
        """Add(shortcut, branch) -> [ReLU] -> quantiser.  The shortcut is the block input or a 1x1 convolution;
        the branch ends on the shortcut's quantiser (Brevitas shares one), or on one 2^ratio times its scale."""
        if not u["branch"]:
            return t, None
        self.needs_act(u, last)
        shortcut = t
        if u.get("shortcut"):
            sc = copy.deepcopy(u["shortcut"])
            sc.update(k=[1, 1], act=sc.get("act") or dict(DEFAULT_ACT))
            if sc["act"]["kind"] != "quant":
                sc["act"] = dict(sc["act"], kind="quant", bits=max(2, sc["act"]["bits"]))
            shortcut, u["shortcut"] = self.unit_conv(sc, t, False, same=True)
        end = dict(shortcut.act, scale=float(F32(float(shortcut.act["scale"]) * 2.0 ** int(u.get("ratio", 0)))))
        y, u["branch"] = self.branch(u["branch"], t, end=end, cout=shortcut.shape[0])
        s = self.node("Add", [shortcut.name, y.name])
        values = (shortcut.sample + y.sample).astype(F32)
        if u.get("relu"):
            s = self.node("Relu", [s])
            values = np.maximum(values, F32(0))
        return self.finish(u, s, values)

    def unit_concat(self, u, t: Tensor, last: bool) -> tuple:
        """Concat of the channels of branches from t, each a shape-preserving conv run or t itself; ``shared``:
        every branch ends on t's own quantiser (one scale for the whole result)."""
        ends, built = [], []
        for units in u["branches"]:
            shared = u.get("shared") and t.act["kind"] == "quant"
            end, b = self.branch(units, t, end=t.act if shared else None)
            ends.append(end)
            built.append(b)
        u["branches"] = built
        y = self.node("Concat", [e.name for e in ends], axis=1)
        scale = np.concatenate([np.broadcast_to(np.asarray(e.act["scale"], np.float64), (e.shape[0],))
                                for e in ends])
        levels = (min(level_range(e.act)[0] for e in ends), max(level_range(e.act)[1] for e in ends))
        act = dict(ends[0].act, levels=levels, scale=float(scale[0]) if np.all(scale == scale[0]) else scale.tolist())
        values = np.concatenate([e.sample for e in ends], axis=1)
        return Tensor(y, tuple(values.shape[1:]), act, values), u


def pre_processing(b: FuzzBuilder, pre: list, shape: tuple) -> str:
    """Float ops on the raw input before its quantiser, per tensor or per channel (as a normalisation has)."""
    x = "x"
    for op in pre:
        rng = np.random.default_rng(op["seed"])
        n = shape[0] if op.get("per_channel") else 1
        if op["op"] in ("Mul", "Div"):
            c = rng.uniform(0.5, 2.0, n) * np.where(rng.random(n) < op.get("negative", 0.0), -1, 1)
        else:
            c = rng.normal(size=n) * 0.5
        c = c.astype(F32).reshape(((1, n, 1, 1) if len(shape) == 3 else (1, n)) if n > 1 else ())
        x = b.node(op["op"], [x, b.const(c, "pre")])
    return x


def start(b: FuzzBuilder, spec: dict) -> Tensor:
    """Emit the input's pre-processing and quantiser into b (legalising spec["input"] in place): the tensor the
    first unit reads."""
    inp = spec["input"]
    shape = tuple(inp["shape"])
    x = pre_processing(b, inp.get("pre", []), shape)
    units = spec["units"]
    if inp.get("act") is None and (not units or units[0]["op"] not in ("conv", "dense")):
        inp["act"] = dict(DEFAULT_ACT, bits=8)
    values = np.random.default_rng(spec["seed"]).normal(size=(sim.SAMPLES,) + shape).astype(F32)
    if inp.get("act") is None:
        # no input quantiser: the first layer reads the raw input, which convflow feeds as int16 x 2^-8
        return Tensor(x, shape, dict(DEFAULT_ACT, bits=16, scale=2.0 ** -8), values)
    act = legal_act(inp["act"])
    if act["kind"] != "quant":                       # a binarised model input is not supported
        act.update(kind="quant", bits=2, signed=False)
    # the input's sample: uniform over the quantiser's levels, as the fuzz inputs are
    t = b.quantise(x, act, values)
    lo, hi = level_range(t.act)
    levels = np.random.default_rng(spec["seed"]).integers(lo, hi + 1, size=values.shape)
    inp["act"] = plain(t.act)
    return replace(t, sample=(levels * np.float32(t.act["scale"])).astype(F32))


def build(spec: dict) -> tuple:
    """spec -> (onnx.ModelProto, the spec as built: every unit legalised, the ones that cannot be left out)."""
    spec = copy.deepcopy(spec)
    b = FuzzBuilder(spec)
    t = start(b, spec)
    built = []
    units = spec["units"]
    for i, unit in enumerate(units):
        t, u = b.emit(unit, t, last=i == len(units) - 1)
        if u is not None:
            built.append(u)
    if t.bipolar or not built:                       # never end binarised, nor before any layer
        t, head = b.emit({"op": "dense", "units": 3, "w": dict(DEFAULT_W), "act": None, "seed": 7}, t, last=True)
        built.append(head)
    spec["units"] = built
    shape = spec["input"]["shape"]
    model = b.model([1] + list(shape), t.name, [1] + list(t.shape), graph_name=f"fuzz_{spec['seed']}")
    return model, spec


def check_valid(model: onnx.ModelProto) -> None:
    """Raise AssertionError unless ``model`` is valid ONNX and QONNX with positive shapes (else the generator is
    wrong, not convflow): onnx's checker, then qonnx's clean-up and shape inference must accept it and agree with
    the output shape the builder worked out."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    onnx.checker.check_model(model)
    cleaned = cleanup_model(ModelWrapper(copy.deepcopy(model)))
    constants = {init.name for init in cleaned.graph.initializer}
    for vi in list(cleaned.graph.value_info) + list(cleaned.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if vi.name not in constants and (not dims or any(d <= 0 for d in dims)):
            raise AssertionError(f"generator bug: tensor {vi.name!r} has shape {dims}")
    declared = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    inferred = [d.dim_value for d in cleaned.graph.output[0].type.tensor_type.shape.dim]
    if declared != inferred:
        raise AssertionError(f"generator bug: output shape {declared} declared, {inferred} inferred")
