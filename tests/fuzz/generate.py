"""Random fuzz specs (build.py turns one into a QONNX model): seeded, small, and only what convflow's frontend
takes today (compiler/frontend/handlers.py), so that any refusal is a finding.

What is drawn, and how often (per unit of the layer list; see ``draw_unit``):
  input    NCHW (C 1-4, H and W 3-10) or flat (2-32 features); its quantiser 1-8 bits (never binarised: convflow
           takes no bipolar input yet), signed or not, narrow, a zero point, a power-of-two or arbitrary scale, now
           and then FLOOR / CEIL rounding; 1 in 20 has none (convflow then feeds int16 x 2^-8); 2 in 5 have 1-3
           float pre-processing ops (Add / Sub / Mul / Div, per tensor or per channel, negative factors too)
  conv     1-8 outputs, kernels 1-3 (some rectangular), strides 1-3, symmetric / asymmetric / no padding,
           depthwise and grouped, with or without bias, BatchNorm (mostly with negative gammas), a Mul, a ReLU
  dense    MatMul (+ bias Add) or Gemm (transB or not, bias or not), after a Flatten or a Reshape
  weights  1-8 bits (1-bit signed = +-1), signed or not, narrow, per tensor or per output channel, powers of two
           or arbitrary floats
  acts     1-8 bits, signed / unsigned / narrow, zero points, power-of-two or arbitrary scales, 1 in 12 binarised
           (BipolarQuant or a 1-bit signed Quant) into unpadded convolutions, dense layers and max pools
  pools    MaxPool (stride = or != kernel, padding), AveragePool (count_include_pad padding; or Brevitas's
           TruncAvgPool: Mul + Trunc), GlobalAveragePool
  others   Pad (zero or an on-grid value), nearest Resize x2 (or x3, or one axis) in four coordinate modes, Flatten,
           a re-quantisation, residual blocks (1-2 convs, identity or 1x1-conv shortcut, one shared grid or grids 2x
           apart, ReLU after the Add), Concat of 2-3 branches (shared quantiser or not)
The last unit may end on floats (an accumulator with an affine BatchNorm / Mul / bias after it).
"""
from __future__ import annotations

import numpy as np

from .build import FuzzBuilder, Tensor, build, legal_act, level_range, start

MAX_CHANNELS = 8


def _pick(rng, weights: dict):
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _seed(rng) -> int:
    return int(rng.integers(1 << 31))


def draw_act(rng, relu: bool = False, bipolar_ok: bool = True, rel=(0.3, 3.0)) -> dict:
    """An activation quantiser (a ReLU before it makes unsigned ones likelier)."""
    if bipolar_ok and rng.random() < 1 / 12:
        kind = "bipolar" if rng.random() < 0.5 else "quant1"
        return legal_act({"kind": kind, "bits": 1, "signed": True, "narrow": False, "zeropt": 0,
                          "rel": float(np.exp(rng.uniform(*np.log(rel)))), "pow2": bool(rng.random() < 0.5)})
    bits = int(rng.choice([1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 7, 8]))
    signed = bool(rng.random() < (0.3 if relu else 0.6))
    if bits == 1:
        signed = False
    act = {"kind": "quant", "bits": bits, "signed": signed, "narrow": bool(rng.random() < 0.2), "zeropt": 0,
           "rel": float(np.exp(rng.uniform(*np.log(rel)))), "pow2": bool(rng.random() < 0.5)}
    if rng.random() < 0.2:             # a zero point that leaves levels on both sides of it (or above it)
        lo, hi = level_range(dict(act, zeropt=0))
        act["zeropt"] = int(rng.integers(-(hi // 2), hi // 2 + 1)) if signed else int(rng.integers(0, hi // 2 + 1))
    if rng.random() < 0.1:
        act["rounding"] = str(rng.choice(["FLOOR", "CEIL"]))
    return legal_act(act)


def draw_weights(rng) -> dict:
    return {"bits": int(rng.choice([1, 2, 2, 3, 4, 4, 5, 6, 8])), "signed": bool(rng.random() < 0.85),
            "narrow": bool(rng.random() < 0.5), "per_channel": bool(rng.random() < 0.5),
            "pow2": bool(rng.random() < 0.5)}


def draw_conv(rng, t: Tensor, act_ok_none: bool = False, bipolar_ok: bool = True,
              max_channels: int = MAX_CHANNELS) -> dict:
    c = t.shape[0]
    k = int(rng.choice([1, 2, 3, 3]))
    kernel = [k, k] if rng.random() < 0.85 else [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    stride = int(rng.choice([1, 1, 1, 2, 2, 3]))
    stride = [stride, stride] if rng.random() < 0.9 else [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    r = rng.random()
    if r < 0.5:
        pads = [kernel[0] // 2, kernel[1] // 2, kernel[0] // 2, kernel[1] // 2]
    elif r < 0.8:
        pads = [0, 0, 0, 0]
    else:
        pads = [int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1])),
                int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1]))]
    cout = int(rng.integers(1, max_channels + 1))
    group = 1
    r = rng.random()
    if r < 0.15 and c > 1:
        group = "dw"
    elif r < 0.25:
        divisors = [g for g in range(2, c + 1) if c % g == 0]
        if divisors:
            group = int(rng.choice(divisors))
            cout = group * int(rng.integers(1, max(1, max_channels // group) + 1))
    relu = bool(rng.random() < 0.5)
    unit = {"op": "conv", "cout": cout, "k": kernel, "stride": stride, "pads": pads, "group": group,
            "bias": bool(rng.random() < 0.5), "w": draw_weights(rng), "relu": relu, "seed": _seed(rng)}
    if rng.random() < 0.4:
        unit["bn"] = "negative" if rng.random() < 0.7 else "positive"
    if rng.random() < 0.1:
        unit["mul"] = "channel" if rng.random() < 0.5 else "scalar"
    unit["act"] = None if act_ok_none and rng.random() < 0.4 else draw_act(rng, relu, bipolar_ok)
    return binarised(rng, unit)


def binarised(rng, unit: dict) -> dict:
    """A layer into a binarisation has a BatchNorm (or at least a bias) to centre its values first, as in FINN's
    networks: the sign of an uncentred accumulator is mostly one value."""
    act = unit.get("act")
    if act and act["kind"] in ("bipolar", "quant1") and not unit.get("bn"):
        if rng.random() < 0.8:
            unit["bn"] = "negative" if rng.random() < 0.6 else "positive"
        else:
            unit["bias"] = True
    return unit


def draw_dense(rng, act_ok_none: bool) -> dict:
    relu = bool(rng.random() < 0.5)
    unit = {"op": "dense", "units": int(rng.integers(1 if act_ok_none else 2, 17)), "gemm": bool(rng.random() < 0.5),
            "transB": bool(rng.random() < 0.8), "bias": bool(rng.random() < 0.5), "w": draw_weights(rng),
            "relu": relu, "flatten": "Reshape" if rng.random() < 0.3 else "Flatten", "seed": _seed(rng)}
    if rng.random() < 0.2:
        unit["bn"] = "negative" if rng.random() < 0.7 else "positive"
    if rng.random() < 0.05:
        unit["mul"] = "channel" if rng.random() < 0.5 else "scalar"
    unit["act"] = None if act_ok_none and rng.random() < 0.4 else draw_act(rng, relu)
    return binarised(rng, unit)


def draw_window(rng) -> dict:
    k = int(rng.choice([2, 2, 3]))
    kernel = [k, k] if rng.random() < 0.9 else [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    stride = kernel if rng.random() < 0.5 else [int(rng.integers(1, 4))] * 2
    return {"k": kernel, "stride": list(stride)}


def draw_unit(rng, t: Tensor, last: bool, max_channels: int = MAX_CHANNELS) -> dict:
    """One unit that can follow t (convolutions with at most ``max_channels`` outputs)."""
    c, pixels = t.shape[0], int(np.prod(t.shape[1:])) if t.spatial else 0
    if not t.spatial:
        weights = {"dense": 8, "requant": 1 if not t.bipolar else 0}
    elif t.bipolar:
        weights = {"conv": 6, "maxpool": 2, "dense": 1, "flatten": 1, "resize": 1}
    else:
        weights = {"conv": 30, "maxpool": 10, "avgpool": 6, "gap": 3 if last or pixels <= 16 else 1, "pad": 5,
                   "resize": 4 if pixels <= 64 else 0, "flatten": 2, "requant": 4, "residual": 10, "concat": 6,
                   "dense": 6 if pixels * c <= 256 else 0}
        if pixels > 49:                                 # big: pool or stride it down
            weights.update(maxpool=20, avgpool=10)
    op = _pick(rng, weights)
    if op == "conv":
        return draw_conv(rng, t, act_ok_none=last, max_channels=max_channels)
    if op == "dense":
        return draw_dense(rng, act_ok_none=last)
    if op == "maxpool":
        unit = {"op": "maxpool", **draw_window(rng)}
        if rng.random() < 0.2:
            unit["pads"] = [int(rng.integers(0, 2)) for _ in range(4)]
        return unit
    if op == "avgpool":
        unit = {"op": "avgpool", **draw_window(rng), "seed": _seed(rng)}
        if rng.random() < 0.2:
            unit["count_include_pad"] = 1
            unit["pads"] = [int(rng.integers(0, 2)) for _ in range(4)]
        if rng.random() < 0.3:
            bits = t.act["bits"]
            unit["trunc"] = {"out_bits": int(bits if rng.random() < 0.7 else bits + rng.integers(-1, 2)),
                             "rounding": str(rng.choice(["FLOOR", "FLOOR", "ROUND", "CEIL"]))}
        unit["act"] = None if last and rng.random() < 0.4 else draw_act(rng, bipolar_ok=False)
        return unit
    if op == "gap":
        return {"op": "gap", "act": None if last and rng.random() < 0.4 else draw_act(rng, bipolar_ok=False)}
    if op == "pad":
        unit = {"op": "pad", "pads": [int(rng.integers(0, 3)) for _ in range(4)],
                "explicit_value": bool(rng.random() < 0.3)}
        if rng.random() < 0.3:
            lo, hi = level_range(t.act)
            unit["level"] = int(rng.integers(lo, hi + 1))
        return unit
    if op == "resize":
        scale = [[2, 2], [2, 2], [2, 2], [2, 1], [1, 2], [3, 3]][int(rng.integers(6))]
        return {"op": "resize", "scale": scale, "mode": int(rng.integers(4))}
    if op == "flatten":
        return {"op": "flatten", "how": "Reshape" if rng.random() < 0.3 else "Flatten"}
    if op == "requant":
        relu = bool(rng.random() < 0.3)
        return {"op": "requant", "relu": relu, "act": draw_act(rng, relu, bipolar_ok=not last)}
    if op == "residual":
        branch = [draw_conv(rng, t, bipolar_ok=False, max_channels=max_channels)
                  for _ in range(int(rng.integers(1, 3)))]
        unit = {"op": "residual", "branch": branch, "relu": bool(rng.random() < 0.6),
                "ratio": int(rng.choice([0, 0, 0, 0, 0, 1, -1])), "seed": _seed(rng)}
        if rng.random() < 0.3:
            unit["shortcut"] = draw_conv(rng, t, bipolar_ok=False, max_channels=max_channels)
        unit["act"] = None if last and rng.random() < 0.3 else draw_act(rng, unit["relu"], bipolar_ok=False)
        return unit
    if op == "concat":
        n = 3 if rng.random() < 0.1 else 2
        branches = [[draw_conv(rng, t, bipolar_ok=False, max_channels=max_channels)
                     for _ in range(int(rng.choice([0, 1, 1, 2])))]
                    for _ in range(n)]
        return {"op": "concat", "branches": branches, "shared": bool(rng.random() < 0.6)}
    raise AssertionError(op)


def draw_input(rng) -> dict:
    if rng.random() < 0.85:
        shape = [int(rng.integers(1, 5)), int(rng.integers(3, 11)), int(rng.integers(3, 11))]
    else:
        shape = [int(rng.integers(2, 33))]
    act = draw_act(rng, bipolar_ok=False, rel=(0.5, 2.0))
    if rng.random() < 0.05:
        act = None
    pre = []
    if rng.random() < 0.4:
        for _ in range(int(rng.integers(1, 4))):
            pre.append({"op": str(rng.choice(["Add", "Sub", "Mul", "Div"])), "per_channel": bool(rng.random() < 0.5),
                        "negative": 0.2 if rng.random() < 0.2 else 0.0, "seed": _seed(rng)})
    return {"shape": shape, "act": act, "pre": pre}


# the models that go through csim and rtlsim are drawn smaller: a Verilator build took 4.9 s for one convolution
# and 37 s for the 12 layers of random_spec(0) (2 shared cores), the g++ build of csim 2.2 s and 6.7 s
HARDWARE = {"max_units": 4, "max_channels": 4}


def random_spec(seed: int, max_units: int = 6, max_channels: int = MAX_CHANNELS) -> dict:
    """The spec of fuzz model ``seed`` (the same seed and limits always give the same spec), as built
    (legalised): 1 to ``max_units`` units, convolutions with at most ``max_channels`` outputs."""
    rng = np.random.default_rng([seed, 0xF022])
    spec = {"seed": int(seed), "input": draw_input(rng), "units": []}
    depth = int(rng.integers(1, max_units + 1))
    # walk a builder along, so that each unit is drawn for the tensor it will read
    b = FuzzBuilder(spec)
    first = draw_conv(rng, Tensor("x", tuple(spec["input"]["shape"]), None, 1.0), max_channels=max_channels) \
        if spec["input"]["act"] is None and len(spec["input"]["shape"]) == 3 else None
    if spec["input"]["act"] is None and first is None:
        first = draw_dense(rng, act_ok_none=depth == 1)
    spec["units"] = [first] if first else []
    t = start(b, spec)
    units = []
    for i in range(depth):
        last = i == depth - 1
        unit = first if (i == 0 and first) else draw_unit(rng, t, last, max_channels)
        t2, built = b.emit(unit, t, last)
        if built is None:
            continue
        units.append(unit)
        t = t2
        if t.act is None:
            break
    spec["units"] = units
    return build(spec)[1]


def describe(spec: dict) -> str:
    """One line naming the model's layers, e.g. 'u4 3x8x8 | conv3x3/2 dw bn- relu u3 | maxpool2 | dense10'."""
    def act(a):
        if a is None:
            return "float"
        if a["kind"] in ("bipolar", "quant1"):
            return "bipolar" if a["kind"] == "bipolar" else "q1"
        text = ("s" if a["signed"] else "u") + str(a["bits"]) + ("n" if a["narrow"] else "")
        return text + (f"z{a['zeropt']}" if a["zeropt"] else "") + ("" if a["pow2"] else "~")

    def unit(u):
        op = u["op"]
        if op == "conv":
            g = " dw" if u["group"] == "dw" else (f" g{u['group']}" if u["group"] != 1 else "")
            bn = {"negative": " bn-", "positive": " bn+"}.get(u.get("bn"), "")
            extra = (" b" if u.get("bias") else "") + bn + (" relu" if u.get("relu") else "")
            a = u["act"] if isinstance(u["act"], dict) or u["act"] is None else None
            tail = "shared" if u["act"] == "shared" else act(a)
            return f"conv{u['cout']} {u['k'][0]}x{u['k'][1]}/{u['stride'][0]}{g}{extra} w{u['w']['bits']} {tail}"
        if op == "dense":
            return f"{'gemm' if u.get('gemm') else 'matmul'}{u['units']} w{u['w']['bits']} {act(u['act'])}"
        if op in ("maxpool", "avgpool"):
            tr = " trunc" if u.get("trunc") else ""
            return f"{op}{u['k'][0]}x{u['k'][1]}/{u['stride'][0]}{tr}" + (f" {act(u.get('act'))}" if op == "avgpool"
                                                                           and not tr else "")
        if op == "gap":
            return f"gap {act(u['act'])}"
        if op == "residual":
            inner = "; ".join(unit(b) for b in u["branch"])
            sc = unit(u["shortcut"]) if u.get("shortcut") else "id"
            return f"res[{inner} + {sc}] {act(u['act'])}"
        if op == "concat":
            return "concat[" + " | ".join("; ".join(unit(b) for b in br) or "id" for br in u["branches"]) + "]"
        if op == "requant":
            return f"requant {act(u['act'])}"
        return op
    inp = spec["input"]
    pre = "".join(f"{p['op'].lower()} " for p in inp.get("pre", []))
    head = f"{pre}{act(inp.get('act'))} {'x'.join(map(str, inp['shape']))}"
    return " | ".join([head] + [unit(u) for u in spec["units"]])


