"""The QKeras variant of the fuzzer: random QKeras models as hls4ml users write them, saved as .h5 and compiled from
the file (convflow's own Keras converter -> the frontend), then checked like the QONNX ones and, besides,
against Keras itself: the model ends in a quantiser, so Keras's float output divided by the output scale must be
the reference's integers exactly.

Drawn: QConv2D (strides, 'same' / 'valid', with or without bias, BatchNormalization after it with negative
gammas), QDense after a Flatten, QActivation with quantized_relu, quantized_bits (signed) or binary after a layer,
MaxPooling2D, ZeroPadding2D, UpSampling2D, Add (a residual block, both operands on one quantiser) and Concatenate;
the input quantiser is a quantized_bits, the last layer a linear QDense.  (Written first against qonnx 0.4's
converter, which dropped QActivation(quantized_bits / binary) after a layer without a word: the regressions
qkeras-*.json record what it broke.)  Integer bits are 0 or more: QKeras itself cannot run a negative one.

A spec is JSON like the QONNX one (same unit keys, so the shrinker's edits apply): input (H, W, C) with a
quantized_bits input quantiser, then units conv / dense / maxpool / pad / resize / residual / concat; scales are
powers of two (QKeras's alpha=1), the integer bits of every activation chosen from a float sample of its input.
"""
from __future__ import annotations

import copy

import numpy as np

F32 = np.float32
MAX_PIXELS = 144
# Where a tensor has one channel or one pixel, tf2onnx writes the NHWC <-> NCHW transposes as Reshapes, and one
# between a layer's BatchNorm / ReLU and its quantiser is refused by the frontend ("Reshape reads float values ...
# that no quantiser re-quantised"): convolutions here have 2 outputs or more and never shrink a tensor to 1 x 1
# (regression qkeras-reshape-inside-a-float-chain, xfail).
SINGLETONS = "tf2onnx writes a transpose of a 1-channel or 1-pixel tensor as a Reshape"
# A ZeroPadding2D straight after the input quantiser is refused: before a Flatten the frontend reads the NHWC input
# as NCHW ("padding the batch or channel axis"), before a 'valid' QConv2D the converted graph has a tensor without
# a shape (regressions qkeras-input-padding-*, xfail): pads are drawn only after a first layer.
INPUT_PADDING = "ZeroPadding2D on the model input"
# Concatenate([x, x]) breaks in qonnx's converter (its own clean-up renames only a node's first read of a tensor;
# regression qkeras-concatenate-one-tensor-twice, xfail): a concatenation has at most one identity branch.
TWICE = "Concatenate of one tensor twice"


def _pick(rng, weights: dict):
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def draw_act(rng, binary_ok=False) -> dict:
    """quantized_relu, quantized_bits (signed) or, where ``binary_ok``, binary (+-1) after a layer."""
    act = {"kind": "relu", "bits": int(rng.integers(2, 9)), "rel": float(np.exp(rng.uniform(-0.7, 0.7)))}
    r = rng.random()
    if r < 0.35:
        act["kind"] = "bits"
    elif r < 0.5 and binary_ok:
        act["kind"] = "binary"
    return act


def draw_conv(rng, channels=6, same=False) -> dict:
    k = int(rng.choice([1, 2, 3, 3]))
    return {"op": "conv", "cout": int(rng.integers(1, channels + 1)), "k": [k, k],
            "stride": [1, 1] if same or rng.random() < 0.7 else [2, 2],
            "padding": "same" if same or rng.random() < 0.5 else "valid", "bias": bool(rng.random() < 0.7),
            "bn": bool(rng.random() < 0.3), "w": {"bits": int(rng.integers(2, 9))}, "act": draw_act(rng, not same),
            "seed": int(rng.integers(1 << 31))}


def random_qkeras_spec(seed: int, max_units: int = 4) -> dict:
    rng = np.random.default_rng([seed, 0x9CE5])
    shape = [int(rng.integers(3, 9)), int(rng.integers(3, 9)), int(rng.integers(1, 4))]
    spec = {"seed": int(seed), "source": "qkeras",
            "input": {"shape": shape, "bits": int(rng.integers(2, 9)), "signed": bool(rng.random() < 0.6)},
            "units": []}
    for _ in range(int(rng.integers(1, max_units + 1))):
        op = _pick(rng, {"conv": 8, "maxpool": 2, "pad": 1, "resize": 1, "residual": 2, "concat": 2, "dense": 2})
        if op == "conv":
            unit = draw_conv(rng)
        elif op == "dense":
            unit = {"op": "dense", "units": int(rng.integers(2, 12)), "bias": bool(rng.random() < 0.7),
                    "bn": bool(rng.random() < 0.2), "w": {"bits": int(rng.integers(2, 9))}, "act": draw_act(rng),
                    "seed": int(rng.integers(1 << 31))}
        elif op == "maxpool":
            k = int(rng.choice([2, 3]))
            unit = {"op": "maxpool", "k": [k, k], "stride": [k, k] if rng.random() < 0.6 else [1, 1]}
        elif op == "pad":
            unit = {"op": "pad", "pads": [int(rng.integers(0, 3)) for _ in range(4)]}
        elif op == "resize":
            unit = {"op": "resize", "scale": [2, 2] if rng.random() < 0.7 else [1, 2]}
        elif op == "residual":
            unit = {"op": "residual", "branch": [draw_conv(rng, same=True) for _ in range(int(rng.integers(1, 3)))],
                    "act": draw_act(rng, False), "seed": int(rng.integers(1 << 31))}
        else:
            unit = {"op": "concat", "branches": [[draw_conv(rng, same=True) for _ in range(int(rng.integers(0, 2)))]
                                                 for _ in range(2)]}
        spec["units"].append(unit)
    spec["units"].append({"op": "dense", "units": 3, "bias": True, "w": {"bits": 6}, "act": None,
                          "seed": int(rng.integers(1 << 31))})
    return build_qkeras(spec)[1]


class _Builder:
    """Keras functional model, built unit by unit with a float sample of every tensor (from Keras itself)."""

    def __init__(self, spec):
        import tensorflow as tf
        from qkeras import QActivation, quantized_bits

        self.tf = tf
        self.layers = tf.keras.layers
        inp = spec["input"]
        self.inp = self.layers.Input(tuple(inp["shape"]), name="input")
        bits, signed = int(min(max(inp["bits"], 2), 8)), bool(inp["signed"])
        inp.update(bits=bits, signed=signed)
        rng = np.random.default_rng(spec["seed"])
        # input levels uniform, on the quantiser's grid (integer bits 0: scale 2^-(bits - signed))
        scale = 2.0 ** -(bits - int(signed))
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        self.sample_in = (rng.integers(lo, hi + 1, size=(16,) + tuple(inp["shape"])) * scale).astype(F32)
        self.x = QActivation(quantized_bits(bits, 0, keep_negative=signed, alpha=1), name="input_quant")(self.inp)
        self.act = {"kind": "bits", "bits": bits, "integer": 0, "signed": signed, "input": True}

    def sample(self, tensor) -> np.ndarray:
        return np.asarray(self.tf.keras.Model(self.inp, tensor)(self.sample_in))

    def quantiser(self, act: dict, values: np.ndarray):
        """The QActivation for ``act``, its integer bits chosen so the 99th percentile of |values| fits."""
        from qkeras import QActivation, binary, quantized_bits, quantized_relu

        if act["kind"] == "binary":
            return QActivation(binary(alpha=1)), {"kind": "binary"}
        bits = act["bits"] = int(min(max(act["bits"], 2), 8))
        top = float(np.quantile(np.abs(values), 0.99)) * act.get("rel", 1.0) + 1e-9
        signed = act["kind"] == "bits"
        # (QKeras itself cannot run a negative integer: 2 ** integer on integer tensors; 0 and up then)
        integer = int(np.clip(np.ceil(np.log2(top)), 0, bits - int(signed)))
        act["integer"] = integer
        if act["kind"] == "relu":
            return QActivation(quantized_relu(bits, integer)), {"kind": "relu", "bits": bits, "integer": integer,
                                                                "signed": False}
        return QActivation(quantized_bits(bits, integer, keep_negative=True, alpha=1)), \
            {"kind": "bits", "bits": bits, "integer": integer, "signed": True}

    def layer(self, u, x, conv: bool, shape_same=False):
        """QConv2D / QDense [BatchNormalization] and the unit's activation; weights drawn from the unit's seed."""
        from qkeras import QConv2D, QDense, quantized_bits

        rng = np.random.default_rng(u["seed"])
        wb = u["w"]["bits"] = int(min(max(u["w"]["bits"], 2), 8))
        quant = quantized_bits(wb, 0, alpha=1)
        bias_q = quantized_bits(8, 3, alpha=1)
        if conv:
            k = u["k"]
            if shape_same:
                u.update(stride=[1, 1], padding="same")
            h, w = x.shape[1], x.shape[2]
            u["cout"] = max(2, u["cout"])
            if u["padding"] == "valid":
                k = u["k"] = [max(1, min(k[0], h)), max(1, min(k[1], w))]
            out = [(n - kk) // s + 1 if u["padding"] == "valid" else -(-n // s)
                   for n, kk, s in zip((h, w), k, u["stride"])]
            if out[0] * out[1] == 1 and u.get("unpadded"):     # a binarised input: 1x1 instead of padding
                k = u["k"] = [1, 1]
                u.update(stride=[1, 1])
            elif out[0] * out[1] == 1:           # see SINGLETONS
                u.update(padding="same", stride=[1, 1])
            layer = QConv2D(max(1, u["cout"]), tuple(k), strides=tuple(u["stride"]), padding=u["padding"],
                            use_bias=bool(u.get("bias")), kernel_quantizer=quant,
                            bias_quantizer=bias_q if u.get("bias") else None)
        else:
            if len(x.shape) == 4:
                x = self.layers.Flatten()(x)
            layer = QDense(max(1, u["units"]), use_bias=bool(u.get("bias")), kernel_quantizer=quant,
                           bias_quantizer=bias_q if u.get("bias") else None)
        y = layer(x)
        kernel = layer.get_weights()[0]
        fan_in = int(np.prod(kernel.shape[:-1]))
        levels = rng.integers(-(1 << (wb - 1)) + 1, 1 << (wb - 1), size=kernel.shape)
        weights = [(levels * 2.0 ** -(wb - 1) * min(1.0, 3 / np.sqrt(fan_in))).astype(F32)]
        if u.get("bias"):
            weights.append((np.round(rng.normal(size=kernel.shape[-1]) * 8) / 16).astype(F32))
        layer.set_weights(weights)
        if u.get("bn"):
            values = self.sample(y)
            axes = tuple(range(values.ndim - 1))
            n = values.shape[-1]
            bn = self.layers.BatchNormalization()
            y = bn(y)
            gamma = rng.uniform(0.5, 2.0, n) * np.where(rng.random(n) < 0.35, -1, 1)
            spread = values.std(axis=axes) + 1e-3
            bn.set_weights([gamma.astype(F32), (rng.normal(size=n) * 0.5).astype(F32),
                            (values.mean(axis=axes) + rng.normal(size=n) * 0.3 * spread).astype(F32),
                            (spread ** 2 * rng.uniform(0.5, 2.0, n)).astype(F32)])
        return y

    def unit(self, u, last: bool):
        L = self.layers
        x = self.x
        spatial = len(x.shape) == 4
        op = u["op"]
        binary = self.act["kind"] == "binary"
        if not spatial and op != "dense":
            return None
        if binary and op in ("pad", "residual", "concat"):
            return None
        if op in ("residual", "concat") and self.act["kind"] != "relu":
            return None                          # its branches end on the block input's quantiser: a relu one
        if op == "conv":
            if binary:
                u.update(padding="valid", unpadded=True)       # a pad of 0 is neither -1 nor +1
            y = self.layer(u, x, True)
            q, self.act = self.quantiser(u["act"], self.sample(y))
            self.x = q(y)
        elif op == "dense":
            y = self.layer(u, x, False)
            if u.get("act") is None and last:        # the linear head: integer logits x scale
                self.x = y
                self.act = {"kind": "linear"}
            else:
                u["act"] = u.get("act") or {"kind": "relu", "bits": 6}
                q, self.act = self.quantiser(u["act"], self.sample(y))
                self.x = q(y)
        elif op == "maxpool":
            k = u["k"] = [max(1, min(u["k"][0], x.shape[1])), max(1, min(u["k"][1], x.shape[2]))]
            if ((x.shape[1] - k[0]) // u["stride"][0] + 1) * ((x.shape[2] - k[1]) // u["stride"][1] + 1) == 1:
                return None                      # see SINGLETONS
            self.x = L.MaxPooling2D(tuple(k), strides=tuple(u["stride"]))(x)
        elif op == "pad":
            if self.act.get("input"):
                return None                      # see INPUT_PADDING
            t, b, left, r = u["pads"]
            if (x.shape[1] + t + b) * (x.shape[2] + left + r) > MAX_PIXELS or not any(u["pads"]):
                return None
            self.x = L.ZeroPadding2D(((t, b), (left, r)))(x)
        elif op == "resize":
            if x.shape[1] * x.shape[2] * u["scale"][0] * u["scale"][1] > MAX_PIXELS:
                return None
            self.x = L.UpSampling2D(tuple(u["scale"]))(x)
        elif op in ("residual", "concat"):
            branches = [u["branch"]] if op == "residual" else u["branches"]
            ends = []
            block_act = self.act
            for b, units in enumerate(branches):
                y = x
                for i, cu in enumerate(units):
                    cu["act"] = dict(cu["act"]) if cu["act"]["kind"] != "binary" else {"kind": "relu", "bits": 4}
                    end = i == len(units) - 1
                    if end and op == "residual":
                        cu["cout"] = x.shape[-1]
                    y = self.layer(cu, y, True, shape_same=True)
                    if end:                       # the branch ends on the block input's quantiser
                        q = self.shared(block_act)
                        cu["act"] = dict(cu["act"], shared=True)
                    else:
                        q, _ = self.quantiser(cu["act"], self.sample(y))
                    y = q(y)
                ends.append(y)
            if op == "residual":
                if not u["branch"]:
                    return None
                s = L.Add()([x, ends[0]])
                q, self.act = self.quantiser(u["act"], self.sample(s))
                self.x = q(s)
            elif sum(not units for units in branches) > 1:
                return None                      # see TWICE
            else:
                self.x = L.Concatenate()(ends)
        return u

    def shared(self, act: dict):
        from qkeras import QActivation, quantized_bits, quantized_relu

        if act["kind"] == "relu":
            return QActivation(quantized_relu(act["bits"], act["integer"]))
        return QActivation(quantized_bits(act["bits"], act["integer"], keep_negative=act["signed"], alpha=1))


def build_qkeras(spec: dict) -> tuple:
    """spec -> (Keras model, the spec as built)."""
    spec = copy.deepcopy(spec)
    b = _Builder(spec)
    built = []
    units = spec["units"]
    for i, unit in enumerate(units):
        u = b.unit(copy.deepcopy(unit), i == len(units) - 1)
        if u is not None:
            built.append(u)
    if not built or b.act["kind"] != "linear":
        head = {"op": "dense", "units": 3, "bias": True, "w": {"bits": 6}, "act": None, "seed": 7}
        built.append(b.unit(head, True))
    spec["units"] = built
    return b.tf.keras.Model(b.inp, b.x, name=f"qkeras_fuzz_{spec['seed']}"), spec


def describe_qkeras(spec: dict) -> str:
    def act(a):
        if a is None:
            return "linear"
        if a["kind"] == "binary":
            return "binary"
        return ("relu" if a["kind"] == "relu" else "bits") + f"{a.get('bits')}.{a.get('integer', '?')}"

    def unit(u):
        if u["op"] == "conv":
            return (f"qconv{u['cout']} {u['k'][0]}x{u['k'][1]}/{u['stride'][0]} {u['padding']}"
                    f"{' bn' if u.get('bn') else ''} w{u['w']['bits']} {act(u['act'])}")
        if u["op"] == "dense":
            return f"qdense{u['units']} w{u['w']['bits']} {act(u['act'])}"
        if u["op"] == "residual":
            return "res[" + "; ".join(unit(c) for c in u["branch"]) + f"] {act(u['act'])}"
        if u["op"] == "concat":
            return "concat[" + " | ".join("; ".join(unit(c) for c in b) or "id" for b in u["branches"]) + "]"
        return u["op"]
    inp = spec["input"]
    head = f"{'s' if inp['signed'] else 'u'}{inp['bits']} {'x'.join(map(str, inp['shape']))}"
    return " | ".join([head] + [unit(u) for u in spec["units"]])


def keras_reference_mismatch(keras_model, artifact, ints: np.ndarray):
    """Keras's own output on the inputs the integers stand for, against the reference's integers (None when equal,
    else a one-line description)."""
    from convflow.runtime import Session

    from convflow.runtime import layout

    session = Session(artifact)
    q = session.input_quantizer.quantizer
    source = layout.to_source(session.graph, ints)                 # the ONNX input's layout: Keras's own
    floats = (source.astype(np.float64) * float(np.asarray(q.scale))).astype(F32)
    out = np.asarray(keras_model(floats.reshape((len(ints),) + tuple(keras_model.input_shape[1:]))), np.float64)
    tensor = session.output_tensor
    expected = session.run(ints)
    if np.any(np.asarray(tensor.offset) != 0):
        return f"output has a host offset {tensor.offset}: not comparable with =="
    got = out.reshape(expected.shape) / np.asarray(tensor.scale, np.float64)
    if not np.array_equal(got, expected):
        bad = int(np.sum(got != expected))
        return f"Keras differs from the reference in {bad} of {expected.size} outputs"
    return None


def check_qkeras(spec: dict, backends, workdir, *, name: str = "qkeras", inputs: int = 24, seed: int = 0):
    """Build the spec's QKeras model, save it as <workdir>/<name>.h5 and check that file (check_qkeras_file)."""
    from pathlib import Path

    model, _ = build_qkeras(spec)
    path = Path(workdir) / f"{name}.h5"
    model.save(str(path))
    return check_qkeras_file(path, backends, workdir, name=name, inputs=inputs, seed=seed)


def check_qkeras_file(path, backends, workdir, *, name: str = "qkeras", inputs: int = 24, seed: int = 0):
    """Compile the .h5 file and check it (check.check), then Keras's own output (the file loaded with QKeras's
    custom objects) against the reference: a Failure on backend "keras"."""
    from pathlib import Path

    from convflow.compiler.frontend.load import load_keras_model

    from .check import Failure, check

    path = Path(path)

    def against_keras(artifact, x):
        why = keras_reference_mismatch(load_keras_model(path), artifact, x)
        return Failure("mismatch", "keras", why) if why else None
    return check(path, backends, workdir, name=name, inputs=inputs, seed=seed, extra=against_keras)
