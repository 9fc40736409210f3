"""Backend measurements (``Session.stats``) for people: every number with its unit, named by what it is.

    format_stat("run_s", 0.002902396)            -> "run time: 2.9 ms"
    format_stat("sim_cycles_per_second", 5.1e6)  -> "sim: 5.10 M cycles/s"
    format_stat("frames_per_s", 34567.2)         -> "throughput: 34,567 frames/s"
"""
from __future__ import annotations

import math

# key suffix -> (unit, how to print); the first that matches wins, so longer suffixes come first
_RULES = (
    ("_frames_per_second", "frames/s"), ("frames_per_second", "frames/s"), ("frames_per_s", "frames/s"),
    ("_cycles_per_cpu_second", "cycles/CPU s"), ("_cycles_per_second", "cycles/s"),
    ("_cycles_per_frame", "cycles/frame"), ("cycles_per_frame", "cycles/frame"),
    ("_cpu_seconds", "CPU s"), ("_seconds", "s"), ("_s", "s"), ("_ms", "ms"),
    ("_cycles", "cycles"), ("_mhz", "MHz"),
)


def _number(value: float) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "-"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f} M"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_stat(key: str, value) -> str:
    """``name: value unit`` (seconds below one shown in ms); non-numbers as they are."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    for suffix, unit in _RULES:
        if number and key.endswith(suffix):
            label = key[: -len(suffix)].strip("_").replace("_", " ") or _BARE.get(key, key.replace("_", " "))
            if unit in ("s", "CPU s"):
                label += " CPU time" if unit == "CPU s" else " time"
                if 0 < abs(value) < 1:
                    return f"{label}: {1e3 * value:.3g} ms"
                unit = "s"
            return f"{label}: {_number(value)} {unit}".replace("M  ", "M ")
    label = key.replace("_", " ")
    if value is None:
        return f"{label}: -"
    return f"{label}: {_number(value) if number else value}"


# names for keys that are nothing but a unit
_BARE = {"frames_per_s": "throughput", "frames_per_second": "throughput", "cycles_per_frame": "pace"}


def format_stats(stats: dict) -> list:
    return [format_stat(k, v) for k, v in stats.items()]
