"""The device backend: the artifact's accelerator on a board, over a serial port (the board top's UART protocol,
docs/uart-protocol.md, spoken by convflow.hw.flows.ecp5_protocol.Link).

Options:
  ``port``      the serial device (e.g. /dev/ttyUSB0), or ``"sim"``: the simulated board of this very artifact
                (convflow.runtime.board_sim: its cf_accel inside the real board top, UART included, served on a
                pseudo-terminal), built, started and stopped by the backend.  Required.
  ``baud``      the line rate (default: the one in bitstream/report.json, else 115200; ignored by ``sim``).
  ``timeout``   seconds of silence that end in an error naming the port (default 5).
  ``retries``   resends per frame before giving up (default 16).
  ``window``    INFERs in flight, at most the board's window (default: the board's).

Before any input is sent the board's INFO reply is checked against the artifact: design id (sha256 of manifest.json
and rtl/accel.json, as the ECP5 build stamps it), input / output element counts and bit widths; a board that runs
another design is refused with the port, both design ids and what differs.

``stats`` after ``run``: frames, link_frames_per_second (wall clock, the link and the host included),
latency_cycles (on-chip, first input beat to last output beat, median), busy_cycles_per_frame (median of the
accelerator's cycles per frame with work: its initiation interval when frames queue up on the board),
onchip_frames_per_second at the board's clock (from the INFO reply), clock_mhz, and the link's counts: resent,
duplicates, errors.  With ``sim`` the cycles are simulated cycles; link_frames_per_second is the simulation's speed.
"""
from __future__ import annotations

import json

import numpy as np

from convflow.hw.console import progress
from convflow.hw.errors import ToolMissing
from convflow.hw.flows import ecp5_protocol as P

from .base import Backend

DEFAULT_BAUD = 115200


class DeviceError(P.BoardError):
    """The board on the port runs another design, or the link failed."""


def _check_board(info: P.BoardInfo, spec: dict, design: int, port: str):
    """Refuse a board that does not run this artifact, saying what differs."""
    diffs = []
    if info.design_id != design:
        diffs.append(f"design id {info.design_id:08x} on the board, {design:08x} in the artifact")
    for key, label in (("in_elems", "input elements"), ("out_elems", "output elements"), ("in_bits", "input bits"),
                       ("out_bits", "output bits")):
        if getattr(info, key) != spec[key]:
            diffs.append(f"{label} {getattr(info, key)} on the board, {spec[key]} in the artifact")
    for key, label in (("in_signed", "input signedness"), ("out_signed", "output signedness")):
        if bool(getattr(info, key)) != bool(spec[key]):
            diffs.append(f"{label} {'signed' if getattr(info, key) else 'unsigned'} on the board")
    if diffs:
        raise DeviceError(f"the board on {port} runs another design ({'; '.join(diffs)}); program it with this "
                          "artifact's bitstream (convflow build, then convflow flash)")


class DeviceBackend(Backend):
    name = "device"

    def __init__(self, artifact, **options):
        super().__init__(artifact, **options)
        from convflow.hw.flows.ecp5 import design_id, read_accel

        port = options.get("port")
        if not port:
            raise DeviceError("the device backend needs a serial port: port='/dev/ttyUSB0' (--port), or "
                              "port='sim' for the simulated board")
        self.spec = read_accel(artifact.path)
        self.design = design_id(artifact.path)
        self.sim = None
        self.serial = None
        try:
            import serial
        except ImportError:
            raise ToolMissing("the device backend needs pyserial: pip install pyserial (the `hw` extra)") from None
        if port == "sim":
            from convflow.runtime.board_sim import SimBoard

            self.sim = SimBoard(artifact.path)
            path = self.sim.start()
            self.port_name = f"{path} (simulated board)"
            baud = DEFAULT_BAUD
        else:
            path, self.port_name = port, port
            baud = int(options.get("baud") or self._built_baud() or DEFAULT_BAUD)
        try:
            try:
                self.serial = serial.Serial(path, baud, timeout=0.005, write_timeout=options.get("timeout", 5.0))
            except (serial.SerialException, OSError) as exc:
                raise DeviceError(f"cannot open the serial port {port}: {exc}") from None
            self.link = P.Link(self.serial, name=self.port_name, timeout=float(options.get("timeout", 5.0)),
                               retries=int(options.get("retries", 16)))
            self.info = self.link.info()
            _check_board(self.info, self.spec, self.design, self.port_name)
        except BaseException:
            self.close()
            raise
        self.stats = {"port": self.port_name, "window": self.info.window}

    def _built_baud(self):
        report = self.artifact.path / "bitstream" / "report.json"
        try:
            return json.loads(report.read_text())["uart"]["baud"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def run(self, x: np.ndarray) -> np.ndarray:
        spec, info = self.spec, self.info
        x = np.asarray(x)
        n = x.shape[0]
        out_shape = tuple(spec["out_shape"])
        if x.shape[1:] != tuple(spec["in_shape"]):
            raise ValueError(f"device: input batch has shape {x.shape[1:]}, the accelerator wants "
                             f"{tuple(spec['in_shape'])}")
        if n == 0:
            return np.zeros((0, *out_shape), dtype=np.int64)
        flat = x.astype(np.int64).reshape(n, -1)
        payloads = [P.pack_elements(row, info.in_bits, info.in_signed) for row in flat]
        before = (self.link.stats.resent, self.link.stats.duplicates, self.link.stats.seconds)
        with progress(total=n, desc=f"device {self.port_name}", unit="frame") as bar:
            results = self.link.infer(payloads, info, window=self.options.get("window"),
                                      on_result=lambda i: bar.update())
        seconds = self.link.stats.seconds - before[2]
        latency = np.array([r.latency_cycles for r in results])
        busy = np.array([r.busy_cycles for r in results[1:]] or [results[0].busy_cycles])
        clock_mhz = info.clock_khz / 1e3 if info.clock_khz else None
        cycles = float(np.median(busy))
        self.stats = {
            "port": self.port_name, "window": info.window, "frames": n,
            "link_frames_per_second": n / seconds if seconds > 0 else float("nan"),
            "latency_cycles": int(np.median(latency)), "max_latency_cycles": int(latency.max()),
            "busy_cycles_per_frame": cycles,
            "clock_mhz": clock_mhz,
            "onchip_frames_per_second": clock_mhz * 1e6 / cycles if clock_mhz and cycles else None,
            "resent": self.link.stats.resent - before[0], "duplicates": self.link.stats.duplicates - before[1],
            "link_errors": dict(self.link.stats.errors),
        }
        return np.stack([r.values for r in results]).reshape((n, *out_shape))

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:   # noqa: BLE001 - closing a port that went away
                pass
            self.serial = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None


BACKEND = DeviceBackend
