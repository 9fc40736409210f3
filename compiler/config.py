"""Config: every choice of a compile in one typed, serialisable record -- what ``convflow.compile(model, out,
config)`` takes and what ``convflow compile --config FILE`` reads (command-line flags override the file).

    cfg = Config(target_fps=50_000, clock_mhz=75, board="ulx3s-85f",
                 folding={"conv1": LayerConfig(pe=4, simd=9, mult="dsp")})
    cfg.save("convflow.yaml")                     # or .json; Config.load reads either
    Config.load("convflow.yaml") == cfg           # True: the round trip is exact

The folding of each layer (PE, SIMD and the resource choices of dataflow/folding.py: where its multipliers, weights
and line buffer go) is keyed by the source model's layer name -- the same names the artifact's folding.json uses,
so a folding a compile chose can be edited and fed back.  Every field is checked when the record is made (and
again against the model when it is compiled: an unknown layer name lists the model's layers); a bad value is one
UsageError naming the field.  hls4ml users: docs/coming-from-hls4ml.md maps its config keys to these.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional, Union

from convflow.hw.errors import UsageError

# the resource choices of a layer (compiler/dataflow/folding.py CHOICE_FIELDS) and the values each takes
MULT_CHOICES = ("auto", "lut", "dsp", "dsp2")
MEMORY_CHOICES = ("auto", "block", "lut")
PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
INPUT_BITS_RANGE = (2, 32)
FRAC_BITS_RANGE = (-32, 32)

# share of every resource of the part a design folded to fit (compiler/dataflow/folding.py) may take: place and
# route needs slack, and the estimate is within about 15 % of yosys (compiler/estimate.py).  LUT4 less: nextpnr
# does not route an ECP5-85F whose logic is that full (CNV 2W2A at 83 % and 88 % of TRELLIS_COMB: router2 stalled
# at 12-13k overused wires, router1 worse; LeNet-fmnist at 64 % routed; CNV 2W2A at this margin, 70 %, routed once
# its 144 x 512-bit logic ROM was split by PE).  Block RAM more: EBR needs no routing slack, and a weight ROM pushed out of it goes
# into logic at 1.3-2 LUT4 per 16 bits (CNV 2W2A at EBR 0.85 and LUT4 0.70: 31k LUT4 of ROM, 217 frames/s; at EBR
# 0.90: no large logic ROM, 868 frames/s).  Not all of it: the estimate counted 174 EBR where nextpnr placed 185.
# The fit margin a user gives replaces all of it.
DEFAULT_SHARE = 0.85
DEFAULT_MARGIN = "0.85,LUT4=0.70,EBR=0.90"


@dataclass
class LayerConfig:
    """One layer's folding: PE (output channels in parallel) and SIMD (inputs in parallel; up to the whole
    KH x KW x Cin window), each None to let the compiler choose; and where its multipliers ("lut", "dsp", "dsp2":
    two products a DSP), weights and line buffer ("block" RAM or "lut" RAM) go, "auto" for the stage's own rule."""
    pe: Optional[int] = None
    simd: Optional[int] = None
    mult: str = "auto"
    weight_mem: str = "auto"
    buffer_mem: str = "auto"

    def check(self, where: str) -> "LayerConfig":
        for name in ("pe", "simd"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"{where}.{name}: {value!r} is not a positive whole number")
        if (self.pe is None) != (self.simd is None):
            raise UsageError(f"{where}: give both pe and simd, or neither (to keep only the resource choices)")
        for name, allowed in (("mult", MULT_CHOICES), ("weight_mem", MEMORY_CHOICES),
                              ("buffer_mem", MEMORY_CHOICES)):
            if getattr(self, name) not in allowed:
                raise UsageError(f"{where}.{name}: {getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        return self

    def to_override(self) -> dict:
        """What compiler/dataflow/folding.fold takes for this layer."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        return out

    @staticmethod
    def from_value(value, where: str) -> "LayerConfig":
        """[pe, simd] (the --folding file's short form), a dict of the fields, or a LayerConfig."""
        if isinstance(value, LayerConfig):
            return value.check(where)
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise UsageError(f"{where}: want [pe, simd], two positive whole numbers, not {_short(value)}")
            return LayerConfig(pe=value[0], simd=value[1]).check(where)
        if isinstance(value, dict):
            known = {f.name for f in fields(LayerConfig)}
            unknown = [k for k in value if k not in known]
            if unknown:
                raise UsageError(f"{where}: unknown key {unknown[0]!r}; a layer takes {', '.join(sorted(known))}")
            return LayerConfig(**value).check(where)
        raise UsageError(f"{where}: want [pe, simd] or {{pe, simd, mult, weight_mem, buffer_mem}}, not "
                         f"{_short(value)}")


@dataclass
class InputPrecision:
    """The fixed-point input of a model with no input quantiser of its own (hls4ml's input precision
    ``ap_fixed<bits, bits - frac_bits>``): signed, ``bits`` wide, scale 2^-frac_bits."""
    bits: int = 16
    frac_bits: int = 8

    def check(self, where: str) -> "InputPrecision":
        for name, (lo, hi) in (("bits", INPUT_BITS_RANGE), ("frac_bits", FRAC_BITS_RANGE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise UsageError(f"{where}.{name}: {value!r}; give a whole number from {lo} to {hi}")
        return self

    def to_float_input(self) -> dict:
        return {"bits": self.bits, "signed": True, "scale": 2.0 ** -self.frac_bits}


@dataclass
class Config:
    """How to compile a model.  Folding target (at most one of target_fps / target_cycles; with board or device
    the design must also fit it, and with neither target it is folded as fast as fits); clock; the FPGA (an ECP5
    board or bare part for fitting and the open flow, a Xilinx part for the Vitis HLS project); per-layer folding
    and resource choices; the input precision of a model without an input quantiser."""
    target_fps: Optional[float] = None        # frames/s at clock_mhz
    target_cycles: Optional[int] = None       # cycles/frame
    clock_mhz: Optional[float] = None         # default 100 MHz (compiler/estimate.py); also the Vitis clock
    board: Optional[str] = None               # hw/boards, e.g. "ulx3s-85f"
    device: Optional[str] = None              # a bare ECP5 part, e.g. "LFE5U-45F"
    part: Optional[str] = None                # Xilinx part of the Vitis HLS project (default hw/flows/vitis.py)
    fit_margin: Union[float, str] = DEFAULT_MARGIN   # share of each resource (0.9,LUT4=0.75: some their own)
    input_pace: Optional[float] = None        # elements per cycle the input interface delivers, (0, 1]
    folding: dict = field(default_factory=dict)   # source layer name -> LayerConfig
    input_precision: Optional[InputPrecision] = None
    emit_hls: bool = True
    emit_rtl: bool = True

    def __post_init__(self):
        self.check()

    # -- checks ---------------------------------------------------------------------------------------------
    def check(self) -> "Config":
        _optional_number(self, "target_fps", low=0.0)
        _optional_number(self, "clock_mhz", low=0.0, high=1000.0)
        _optional_number(self, "input_pace", low=0.0, high=1.0)
        if self.target_cycles is not None and (isinstance(self.target_cycles, bool)
                                               or not isinstance(self.target_cycles, int) or self.target_cycles < 1):
            raise UsageError(f"config.target_cycles: {self.target_cycles!r} is not a positive whole number")
        if self.target_fps is not None and self.target_cycles is not None:
            raise UsageError("config: give target_fps or target_cycles, not both")
        for name in ("board", "device", "part"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not PART_NAME.fullmatch(value)):
                raise UsageError(f"config.{name}: {value!r} is not a part or board name (letters, digits, '-', "
                                 "'_', '.')")
        if self.board is not None and self.device is not None:
            raise UsageError("config: give board or device, not both")
        self._check_margin()
        if not isinstance(self.folding, dict):
            raise UsageError(f"config.folding: want {{layer name: {{pe, simd, ...}}}}, not {_short(self.folding)}")
        self.folding = {str(k): LayerConfig.from_value(v, f"config.folding[{k!r}]") for k, v in self.folding.items()}
        if isinstance(self.input_precision, dict):
            self.input_precision = _record(InputPrecision, self.input_precision, "config.input_precision")
        if self.input_precision is not None:
            if not isinstance(self.input_precision, InputPrecision):
                raise UsageError(f"config.input_precision: want {{bits, frac_bits}}, not "
                                 f"{_short(self.input_precision)}")
            self.input_precision.check("config.input_precision")
        for name in ("emit_hls", "emit_rtl"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"config.{name}: {getattr(self, name)!r}; give true or false")
        return self

    def _check_margin(self):
        from convflow.compiler.dataflow.folding import parse_margin
        from convflow.hw.errors import ConvflowError

        if isinstance(self.fit_margin, bool) or not isinstance(self.fit_margin, (int, float, str)):
            raise UsageError(f"config.fit_margin: {self.fit_margin!r}; give a fraction such as 0.85")
        try:
            default, own = parse_margin(self.fit_margin)
        except ConvflowError as exc:
            raise UsageError(f"config.fit_margin: {exc}") from None
        for name, share in [("every resource", default), *own.items()]:
            if not (math.isfinite(share) and 0.0 < share <= 1.0):
                raise UsageError(f"config.fit_margin: the share of {name} is {share:g}; give a fraction in (0, 1]")

    def check_layers(self, graph) -> dict:
        """The folding as compiler overrides, after checking every name against the model's layers with PE/SIMD
        (an unknown name would otherwise be ignored without a word)."""
        return checked_overrides(self.folding, graph, "config.folding")

    def compile_options(self) -> dict:
        """compile_model's keyword arguments (it checks the folding's layer names against the model)."""
        from convflow.hw.flows.vitis import DEFAULT_PART

        return {"target_cycles": self.target_cycles, "target_fps": self.target_fps, "clock_mhz": self.clock_mhz,
                "board": self.board, "device": self.device, "fit_margin": self.fit_margin,
                "input_pace": self.input_pace, "part": self.part or DEFAULT_PART,
                "folding": {k: v.to_override() for k, v in self.folding.items()} or None,
                "float_input": self.input_precision.to_float_input() if self.input_precision else None,
                "emit_hls": self.emit_hls, "emit_rtl": self.emit_rtl}

    # -- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = asdict(self)
        out["folding"] = {k: _compact(v) for k, v in self.folding.items()}
        return out

    @classmethod
    def from_dict(cls, data, where: str = "config") -> "Config":
        if not isinstance(data, dict):
            raise UsageError(f"{where}: want a mapping of config fields, not {_short(data)}")
        return _record(cls, data, where)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path) -> Path:
        """Write as YAML (.yaml / .yml) or JSON (anything else), atomically."""
        from convflow.hw.safe_output import write_file_atomically

        path = Path(path)
        text = self.to_yaml() if path.suffix in (".yaml", ".yml") else self.to_json()
        write_file_atomically(path, lambda handle: handle.write(text.encode()))
        return path

    @classmethod
    def load(cls, path) -> "Config":
        """A YAML or JSON config file (JSON is YAML, so one reader takes both); every error names the file."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not a text file; a config is YAML or JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise UsageError(f"{path}: not valid YAML or JSON{where}") from None
        try:
            return cls.from_dict(data if data is not None else {}, where="config")
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None

    def replace(self, **overrides) -> "Config":
        """A copy with some fields changed (None values are ignored: they are unset command-line flags)."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return Config.from_dict(data)


def checked_overrides(folding: dict, graph, where: str) -> dict:
    """{layer name: LayerConfig or [pe, simd] or dict} -> the compiler's overrides, every name checked against the
    model's layers with PE/SIMD (listed when one is unknown)."""
    known = [node.name for node in graph.mvu_nodes()]
    unknown = [name for name in folding if name not in known]
    if unknown:
        listing = ", ".join(repr(n) for n in known[:12]) + (" ..." if len(known) > 12 else "")
        raise UsageError(f"{where}: the model has no layer {unknown[0]!r} with PE/SIMD; its layers are "
                         f"{listing or 'none'}")
    return {name: LayerConfig.from_value(value, f"{where}[{name!r}]").to_override()
            for name, value in folding.items()}


def _record(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(f.name for f in fields(cls))}")
    try:
        return cls(**data)
    except TypeError as exc:                 # pragma: no cover - every field has a default
        raise UsageError(f"{where}: {exc}") from None


def _optional_number(cfg, name: str, low: float, high: float = math.inf) -> None:
    value = getattr(cfg, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low < value <= high:
        bound = f"above {low:g}" + (f" and at most {high:g}" if high != math.inf else "")
        raise UsageError(f"config.{name}: {value!r}; give a number {bound}")
    setattr(cfg, name, float(value))


def _compact(layer: LayerConfig) -> dict:
    return {k: v for k, v in asdict(layer).items() if v is not None and not (k in ("mult", "weight_mem",
                                                                                     "buffer_mem") and v == "auto")}


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
