"""QKeras quantisers as QONNX quantisers, exactly, or refused with the reason (keras_convert.py names the layer).

Weights (``quantized_weights``): the quantiser is applied to the layer's weights by QKeras itself, as the layer does
in inference, so what convflow takes is what Keras multiplies with, whatever the quantiser's rules -- an explicit
``alpha`` array, ``alpha="auto_po2"`` (QKeras's iterated least-squares power-of-two scale per output channel, read
from the quantiser after the call), ``"auto"``, binary, ternary, power-of-two.  That float tensor is then written as
integers on a grid: a QONNX Quant with the per-channel scale QKeras used (alpha x 2^(integer - bits + sign)), which
maps the tensor onto itself.  Both are checked on every weight: the integers (``_on_grid`` says what happens with
scales that are not powers of two), and qonnx's own Quant applied to the tensor returning it bit for bit; anything
else is refused.

Activations (``activation_steps``): QKeras computes these on the fly, so each supported quantiser is written as the
QONNX ops that compute the same numbers (each case says why it is exact); the rest is refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convflow.hw.errors import UnsupportedOp

F32 = np.float32
SUPPORTED_ACTIVATIONS = ("quantized_bits", "quantized_relu", "binary", "ternary", "quantized_tanh (hard)",
                         "linear", "relu", "softmax (last layer only)")
# quantised weights wider than this stop being a sensible multiplier (a power-of-two quantiser can span 2^-64..2^63)
MAX_WEIGHT_BITS = 16


@dataclass
class QuantParams:
    """One QONNX quantiser: Quant (integer grid) or BipolarQuant (+-scale)."""
    op: str                       # "Quant" | "BipolarQuant"
    scale: np.ndarray             # float32: a scalar, or broadcastable against the quantised tensor
    bits: int = 1
    signed: bool = True
    narrow: bool = False
    rounding: str = "ROUND"


def _number(value) -> float:
    return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value))


def _name(q) -> str:
    return getattr(q, "__name__", None) or type(q).__name__


def _config(q) -> dict:
    return {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in q.get_config().items()}


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise UnsupportedOp(why)


# ----------------------------------------------------------------------------------------------- activations
def activation_steps(q) -> list:
    """The ops computing activation ``q`` on a float tensor, in order: ("Quant", QuantParams) for a quantiser,
    ("Mul" | "Add" | "Sub" | "Div", float32 constant), ("Relu", None), ("Softmax", None).  [] for linear."""
    if q is None:
        return []
    name = _name(q)
    handler = _ACTIVATIONS.get(name)
    if handler is None:
        raise UnsupportedOp(f"activation {q} is not exact on an integer grid (convflow takes "
                            f"{', '.join(SUPPORTED_ACTIVATIONS)})")
    return handler(q)


def _plain(q) -> list:
    return {"linear": [], "relu": [("Relu", None)], "softmax": [("Softmax", None)]}[_name(q)]


def _common_checks(q, cfg: dict) -> None:
    _require(_number(cfg.get("qnoise_factor", 1.0)) == 1.0,
             f"{q}: qnoise_factor {cfg.get('qnoise_factor')} mixes unquantised values into the output")


def _bits_activation(q) -> list:
    """quantized_bits(bits, integer, symmetric, keep_negative, alpha 1): round(x / 2^f) half to even (tf.round),
    clipped to the signed (narrow if symmetric) or unsigned range, times 2^f with f = integer - bits + sign -- a QONNX
    Quant with that scale.  One signed bit is QKeras's sign(x) with sign(0) = +1: a BipolarQuant."""
    cfg = _config(q)
    _common_checks(q, cfg)
    _require(cfg.get("alpha") in (None, 1, 1.0),
             f"{q}: alpha={cfg.get('alpha')!r} on an activation (convflow takes alpha 1 there: an 'auto' scale is "
             "recomputed from every batch)")
    bits, integer, sign = int(cfg["bits"]), int(_number(cfg["integer"])), int(bool(cfg["keep_negative"]))
    if bits - sign == 0:
        return [("Quant", QuantParams("BipolarQuant", F32(1.0)))]
    return [("Quant", QuantParams("Quant", F32(2.0 ** (integer - bits + sign)), bits, bool(sign),
                                  bool(cfg.get("symmetric")) and bool(sign)))]


def _relu_activation(q) -> list:
    """quantized_relu(bits, integer): round(x / 2^(integer - bits)) half to even, clipped to [0, 2^bits - 1], times
    the scale: an unsigned QONNX Quant (the clip at 0 is the ReLU)."""
    cfg = _config(q)
    _common_checks(q, cfg)
    _require(not cfg.get("use_sigmoid"), f"{q}: use_sigmoid is not supported")
    _require(not cfg.get("negative_slope"), f"{q}: a negative_slope (leaky quantised ReLU) is not supported")
    _require(cfg.get("relu_upper_bound") is None or getattr(q, "is_quantized_clip", True),
             f"{q}: relu_upper_bound without is_quantized_clip is not supported")
    bits, integer = int(cfg["bits"]), int(_number(cfg["integer"]))
    return [("Quant", QuantParams("Quant", F32(2.0 ** (integer - bits)), bits, False))]


def _binary_activation(q) -> list:
    """binary(alpha=1 or a positive number): QKeras's sign(x) with sign(0) = +1, times alpha: a BipolarQuant, whose
    rule is the same (x >= 0 -> +1)."""
    cfg = _config(q)
    _require(not cfg.get("use_01"), f"{q}: use_01 (a {{0, 1}} activation) is not supported; use binary() (+-1)")
    _require(not cfg.get("use_stochastic_rounding"), f"{q}: stochastic rounding is not supported")
    alpha = cfg.get("alpha")
    _require(alpha is None or (not isinstance(alpha, str) and np.size(alpha) == 1 and _number(alpha) > 0),
             f"{q}: alpha={alpha!r} on an activation (convflow takes one positive number there)")
    return [("Quant", QuantParams("BipolarQuant", F32(1.0 if alpha is None else _number(alpha))))]


def _ternary_activation(q) -> list:
    """ternary(alpha, threshold t): sign(x) where |x| >= t, else 0, times alpha (1 if None).  A Quant with scale t and
    rounding DOWN (toward zero) of x / t clipped to [-1, 1] gives exactly those levels: |x| >= t makes x / t at least 1
    in float32 (1 is a float), and |x| < t keeps it below 1 - 2^-24, which rounds below 1, since t's ulp is more than
    2^-24 t.  If alpha differs from t, the levels are then divided by t (exact: +-t / t = +-1), multiplied by alpha
    and quantised once more onto alpha's grid (an identity on +-alpha)."""
    cfg = _config(q)
    alpha = cfg.get("alpha")
    _require(not isinstance(alpha, str), f"{q}: alpha={alpha!r} on an activation (an 'auto' scale is recomputed "
                                         "from every batch)")
    _require(alpha is None or (np.size(alpha) == 1 and _number(alpha) > 0),
             f"{q}: alpha={alpha!r} on an activation (convflow takes one positive number there)")
    threshold = F32(getattr(q, "default_threshold", 0.33) if cfg.get("threshold") is None else cfg["threshold"])
    _require(threshold > 0, f"{q}: threshold {threshold} must be positive")
    alpha = F32(1.0 if alpha is None else _number(alpha))
    steps = [("Quant", QuantParams("Quant", threshold, 2, True, True, "DOWN"))]
    if alpha != threshold:
        steps += [("Div", threshold)] + ([("Mul", alpha)] if alpha != 1 else [])
        steps.append(("Quant", QuantParams("Quant", alpha, 2, True, True)))
    return steps


def _tanh_activation(q) -> list:
    """quantized_tanh(bits, symmetric) with QKeras's hard tanh: p = 2 clip(x / 2 + 1/2, 0, 1) - 1, then
    round(p 2^(bits-1)) half to even, clipped to the signed (narrow if symmetric) range.  Written as the same float32
    ops (Mul 0.5, Add 0.5, Mul 2, Sub 1, each rounding as TensorFlow's does) and a Quant with scale 2^-(bits-1); the
    clip to [0, 1] is left out because the Quant's own clip gives the same level for every p outside [-1, 1]."""
    from qkeras import quantizers

    cfg = _config(q)
    _require(not cfg.get("use_real_tanh"), f"{q}: use_real_tanh (tanh's float32 value differs between "
                                           "implementations, so its rounding is not exact); use the default hard tanh")
    _require(not cfg.get("use_stochastic_rounding"), f"{q}: stochastic rounding is not supported")
    _require(quantizers._sigmoid is quantizers.hard_sigmoid,
             f"{q}: QKeras's internal sigmoid was set to another mode than 'hard' (set_internal_sigmoid)")
    bits = int(cfg["bits"])
    return [("Mul", F32(0.5)), ("Add", F32(0.5)), ("Mul", F32(2.0)), ("Sub", F32(1.0)),
            ("Quant", QuantParams("Quant", F32(2.0 ** -(bits - 1)), bits, True, bool(cfg.get("symmetric"))))]


_ACTIVATIONS = {
    "linear": _plain, "relu": _plain, "softmax": _plain,
    "quantized_bits": _bits_activation, "quantized_relu": _relu_activation, "binary": _binary_activation,
    "ternary": _ternary_activation, "quantized_tanh": _tanh_activation,
}


# ----------------------------------------------------------------------------------------------- weights
def quantized_weights(q, weights: np.ndarray) -> tuple:
    """(the quantised weights as the layer computes them, float32 in the layer's own layout; the QuantParams that
    reproduce them, its scale broadcast to the weights' shape).  ``q`` None: unquantised, (weights, None)."""
    import tensorflow as tf

    weights = np.asarray(weights, F32)
    if q is None:
        return weights, None
    name = _name(q)
    if name not in _WEIGHT_GRIDS:
        raise UnsupportedOp(f"weight quantiser {q} is not supported (convflow takes quantized_bits, binary, "
                            "ternary, quantized_po2 and quantized_relu on weights)")
    quantised = np.asarray(q(tf.constant(weights)), F32)       # QKeras's own numbers, as the layer's call makes them
    params = _WEIGHT_GRIDS[name](q, quantised)
    params.scale = np.broadcast_to(np.asarray(params.scale, F32), weights.shape).astype(F32)
    return _on_grid(q, quantised, params), params


def _scale_after_call(q) -> np.ndarray:
    scale = getattr(q, "scale", None)
    return np.asarray(1.0 if scale is None else (scale.numpy() if hasattr(scale, "numpy") else scale), F32)


def _bits_grid(q, quantised) -> QuantParams:
    """quantized_bits: level * alpha * 2^(integer - bits + sign), alpha being 1, the given array, or the scale QKeras
    computed for 'auto' / 'auto_po2' (left on the quantiser by the call)."""
    cfg = _config(q)
    bits, integer, sign = int(cfg["bits"]), int(_number(cfg["integer"])), int(bool(cfg["keep_negative"]))
    alpha = _scale_after_call(q)
    if bits - sign == 0:
        return QuantParams("BipolarQuant", alpha)
    return QuantParams("Quant", alpha * F32(2.0 ** (integer - bits + sign)), bits, bool(sign),
                       bool(cfg.get("symmetric")) and bool(sign))


def _binary_grid(q, quantised) -> QuantParams:
    if _config(q).get("use_01"):
        return QuantParams("Quant", _scale_after_call(q), 1, False)
    return QuantParams("BipolarQuant", _scale_after_call(q))


def _ternary_grid(q, quantised) -> QuantParams:
    return QuantParams("Quant", _scale_after_call(q), 2, True, True)


def _relu_grid(q, quantised) -> QuantParams:
    cfg = _config(q)
    return QuantParams("Quant", F32(2.0 ** (int(_number(cfg["integer"])) - int(cfg["bits"]))), int(cfg["bits"]),
                       False)


def _po2_grid(q, quantised) -> QuantParams:
    """Powers of two (and their negatives) lie on the grid of the smallest one used: a fixed-point tensor with as
    many bits as the exponents span."""
    magnitudes = np.abs(quantised[quantised != 0])
    if magnitudes.size == 0:
        return QuantParams("Quant", F32(1.0), 2, True)
    unit = F32(2.0 ** np.floor(np.log2(magnitudes.min())))
    bits = int(np.max(magnitudes / unit)).bit_length() + 1
    _require(bits <= MAX_WEIGHT_BITS, f"{q}: its powers of two span {bits} bits as a fixed-point grid (at most "
                                      f"{MAX_WEIGHT_BITS}); limit the exponents with max_value or fewer bits")
    return QuantParams("Quant", unit, bits, True)


_WEIGHT_GRIDS = {"quantized_bits": _bits_grid, "binary": _binary_grid, "stochastic_binary": _binary_grid,
                 "ternary": _ternary_grid, "stochastic_ternary": _ternary_grid, "quantized_relu": _relu_grid,
                 "quantized_po2": _po2_grid, "quantized_relu_po2": _po2_grid}


def _on_grid(q, quantised: np.ndarray, params: QuantParams) -> np.ndarray:
    """The quantised weights as integer levels times the scale, checked: qonnx's quantiser must map them onto
    themselves.  With power-of-two scales they are exactly QKeras's numbers.  With other scales (alpha "auto", an
    array of learned floats) QKeras's straight-through return, x + (xq - x), rounds in float32 and leaves some of its
    weights an ulp off level x scale; convflow takes the level QKeras computed (accepted only where that level is
    unambiguous), so its integers are the quantiser's, and Keras's own float sums cannot be bit-exact there."""
    from qonnx.custom_op.general.bipolar_quant import binary_quant
    from qonnx.custom_op.general.quant import quant

    scale = params.scale
    _require(bool(np.all(scale > 0)) and bool(np.all(np.isfinite(scale))), f"{q}: its scale is not positive")
    quotient = quantised.astype(np.float64) / scale.astype(np.float64)
    levels = np.rint(quotient)
    on_grid = (levels * scale.astype(np.float64)).astype(F32)       # exact in float64, rounded once to float32
    if not np.array_equal(on_grid, quantised):
        _require(bool(np.all(np.abs(quotient - levels) < 2.0 ** -10)),
                 f"{q}: the quantised weights are not integers times the scale QKeras gives "
                 f"({np.unique(scale)[:4]}...), so no integer layer computes them")
    if params.op == "BipolarQuant":
        _require(bool(np.all(np.abs(levels) == 1)), f"{q}: binary weights that are not +-scale")
        again = binary_quant(on_grid, scale)
    else:
        again = quant(on_grid, scale, F32(0), F32(params.bits), int(params.signed), int(params.narrow),
                      params.rounding)
    _require(np.array_equal(np.asarray(again, F32), on_grid),
             f"{q}: qonnx's Quant (bits {params.bits}, signed {params.signed}, narrow {params.narrow}) does not "
             "reproduce the quantised weights")
    return on_grid
