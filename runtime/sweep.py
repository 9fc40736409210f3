"""Design-space sweeps: one model folded for every (board, frame rate) point, each point compiled -- and with
``build`` built into a bitstream -- in parallel, on a local process pool or on a Ray cluster.

    results = sweep("model.onnx", "build/sweep", boards=["ulx3s-25f", "ulx3s-85f"], fps=[1000, 10000, "fit"])

A point ``(board, fps)`` is the cheapest folding that reaches ``fps`` frames/s at ``clock_mhz`` and fits the board
(dataflow/folding.py); ``fps="fit"`` is the fastest folding that fits.  Results stream into ``<out>/results.jsonl``,
one JSON object per line, written as each point finishes; a sweep started again over the same directory skips the
points already there (same model file, options and convflow version), so an interrupted sweep resumes where it
stopped.  At the end ``<out>/pareto.json`` holds the Pareto front -- frames/s against LUT4, FF, DSP and EBR (and
Fmax when built) -- and ``<out>/pareto.png`` plots it (matplotlib, Agg).

Like the demo this is a front door: it imports the compiler and the flows.  Each point runs in a worker process
(``run_point``), on the pool's or Ray's; the driver only writes results.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

RESULTS = "results.jsonl"
PARETO_JSON = "pareto.json"
PARETO_PNG = "pareto.png"
DEFAULT_CLOCK_MHZ = 100.0
# the resources the front is drawn against: (key in a record's "resources", axis label)
RESOURCE_AXES = (("LUT4", "LUT4"), ("FF", "flip-flops"), ("MULT18X18D", "DSP (MULT18X18D)"), ("EBR", "block RAM (EBR)"))


@dataclass(frozen=True)
class Point:
    board: str
    fps: float | None            # None: the fastest folding that fits the board

    @property
    def key(self) -> str:
        return f"{self.board}@{'fit' if self.fps is None else f'{self.fps:g}'}"

    @property
    def folder(self) -> str:
        return self.key.replace("@", "-")


def parse_fps(text: str) -> list:
    """"1000,1e4,fit" -> [1000.0, 10000.0, None] (ValueError on anything else)."""
    out = []
    for item in (t.strip() for t in str(text).split(",")):
        if not item:
            continue
        if item == "fit":
            out.append(None)
            continue
        value = float(item)
        if not value > 0:
            raise ValueError(f"frame rate {item!r} is not positive")
        out.append(value)
    return out


def points_of(boards, fps) -> list:
    return [Point(b, None if f in (None, "fit") else float(f)) for b in boards for f in fps]


def config_hash(model: Path, point: Point, options: dict) -> str:
    """What a result depends on: the model file's bytes, the point, the options and the convflow version."""
    from convflow.hw import VERSION

    digest = hashlib.sha256()
    digest.update(model.read_bytes())
    data = model.with_name(model.name + ".data")          # ONNX external data beside the model (Brevitas exports)
    if data.is_file():
        digest.update(data.read_bytes())
    digest.update(json.dumps([point.key, options, VERSION], sort_keys=True).encode())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------- one point
def run_point(model: str, out: str, board: str, fps, options: dict) -> dict:
    """Compile (and with options["build"] build) one point; never raises: failures are results too."""
    from convflow.hw.errors import ConvflowError, DesignDoesNotFit

    point = Point(board, fps)
    record = {"key": point.key, "board": board, "target_fps": fps}
    artifact = Path(out) / "artifacts" / point.folder
    try:
        from convflow.compiler.compile import compile_model

        compile_model(model, artifact, board=board, target_fps=fps, clock_mhz=options["clock_mhz"],
                      fit_margin=options["fit_margin"], emit_hls=False)
        manifest = json.loads((artifact / "manifest.json").read_text())
        folding = manifest["folding"]
        record.update(status="compiled", artifact=str(artifact), cycles_per_frame=folding["cycles_per_frame"],
                      fps=folding["fps_at_clock"], clock_mhz=folding["clock_mhz"], binding=folding["binding"],
                      resources=folding["used"], resources_percent=folding["used_percent"],
                      folding={row["name"]: [row["pe"], row["simd"]] for row in folding["layers"]})
        if options.get("build"):
            from convflow.hw.flows.ecp5 import build

            report = build(artifact, board=board, clock_mhz=options["clock_mhz"])
            fmax = report["clock"]["fmax_mhz"]
            record.update(status="built", fmax_mhz=fmax, timing_met=report["clock"]["timing_met"],
                          fps_at_fmax=round(fmax * 1e6 / folding["cycles_per_frame"], 3) if fmax else None,
                          resources_placed={k: v["used"] for k, v in report["resources"].items() if k != "IO"},
                          bitstream=str(artifact / "bitstream" / "top.bit"), build_s=report["times_s"]["total"])
    except DesignDoesNotFit as exc:
        record.update(status="does not fit", error=str(exc))
    except ConvflowError as exc:
        record.update(status="error", error=str(exc))
    except Exception as exc:             # noqa: BLE001 - a bug in one point must not stop the others
        record.update(status="internal error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    return record


# ----------------------------------------------------------------------------------------------- executors
def _pool_results(tasks: list, workers: int):
    """(point, record) as each finishes, on a local process pool."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_point, *args): point for point, args in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _ray_results(tasks: list, address: str | None):
    """(point, record) as each finishes, one Ray task per point.  ``address``: the cluster's (``ray.init(address=
    ...)``); None uses an instance this process already started (ray.init(num_cpus=2) in the tests)."""
    from convflow.runtime.ray_cluster import join

    ray, started = join(address, "sweep --ray")
    try:
        remote = ray.remote(num_cpus=1)(run_point)
        pending = {remote.remote(*args): point for point, args in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------------- the sweep
def read_results(path: Path) -> list:
    """The records of a results file; a line cut short by an interruption is skipped."""
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def sweep(model, out, *, boards, fps, build: bool = False, ray: str | None = None, use_ray: bool = False,
          workers: int | None = None, clock_mhz: float = DEFAULT_CLOCK_MHZ, fit_margin: float | None = None,
          progress: bool = True, echo=print) -> dict:
    """Run every point not yet in ``out``/results.jsonl; returns {"results": every record, "front": the Pareto
    front, "ran": points run now, "skipped": points already done}.  ``ray``: a Ray cluster address (``use_ray``
    with ``ray=None``: an instance this process already initialised); otherwise a local process pool of
    ``workers`` processes (default: one per CPU, at most one per point)."""
    from convflow.compiler.dataflow.folding import DEFAULT_MARGIN
    from convflow.hw.errors import ConvflowError
    from convflow.hw.flows import ecp5_board

    model = Path(model).resolve()
    if not model.is_file():
        raise ConvflowError(f"{model}: no such model file")
    for board in boards:
        ecp5_board.board(board)                        # an unknown board: one clear line before any work
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    options = {"build": bool(build), "clock_mhz": float(clock_mhz),
               "fit_margin": str(fit_margin if fit_margin is not None else DEFAULT_MARGIN)}
    points = points_of(boards, fps)
    if not points:
        raise ConvflowError("no points to sweep: give at least one board and one frame rate (or 'fit')")
    results_path = out / RESULTS
    hashes = {p.key: config_hash(model, p, options) for p in points}
    done = {r["key"]: r for r in read_results(results_path) if r.get("config") == hashes.get(r.get("key"))}
    todo = [p for p in points if p.key not in done]
    tasks = [(p, (str(model), str(out), p.board, p.fps, options)) for p in todo]
    if todo:
        if ray is not None or use_ray:
            stream = _ray_results(tasks, ray)
        else:
            stream = _pool_results(tasks, workers or max(1, min(len(tasks), os.cpu_count() or 1)))
        bar = _progress(len(tasks), progress)
        for point, record in stream:
            record["config"] = hashes[point.key]
            _append(results_path, record)
            done[point.key] = record
            if bar is not None:
                bar.write(describe(record))
                bar.update(1)
            else:
                echo(describe(record))
        if bar is not None:
            bar.close()
    results = [done[p.key] for p in points]
    front = pareto_front(results)
    (out / PARETO_JSON).write_text(json.dumps({"model": str(model), "options": options, "front": front,
                                               "points": results}, indent=1, sort_keys=True) + "\n")
    plot(results, front, out / PARETO_PNG, title=model.name)
    return {"results": results, "front": front, "ran": len(todo), "skipped": len(points) - len(todo)}


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="point", desc="sweep", file=sys.stderr, leave=False)


def describe(record: dict) -> str:
    """One line per point, with units."""
    key = record["key"]
    if record["status"] in ("compiled", "built"):
        r = record["resources"]
        line = (f"{key:<22} {record['cycles_per_frame']:>9,} cycles/frame  {record['fps']:>12,.0f} frames/s at "
                f"{record['clock_mhz']:g} MHz  LUT4 {r['LUT4']:,}  FF {r['FF']:,}  DSP {r['MULT18X18D']}  "
                f"EBR {r['EBR']}")
        if record["status"] == "built":
            line += f"  Fmax {record['fmax_mhz']} MHz -> {record['fps_at_fmax']:,.0f} frames/s"
        return line
    return f"{key:<22} {record['status']}: {record['error']}"


# ----------------------------------------------------------------------------------------------- the front
def _objectives(record: dict):
    """(frames/s, resources used, Fmax) of a point that compiled, else None."""
    if record.get("status") not in ("compiled", "built"):
        return None
    fps = record.get("fps_at_fmax") or record["fps"]
    return fps, [record["resources"][k] for k, _ in RESOURCE_AXES], record.get("fmax_mhz") or 0.0


def pareto_front(results: list) -> list:
    """The keys of the points no other point beats (at least as many frames/s, no more of any resource, at least
    the Fmax, and better in one of them); of several points with equal figures (one design that fits several
    boards), the first."""
    scored = [(r["key"], _objectives(r)) for r in results]
    scored = [(k, o) for k, o in scored if o is not None]

    def beats(a, b) -> bool:
        (fa, ra, ma), (fb, rb, mb) = a, b
        no_worse = fa >= fb and ma >= mb and all(x <= y for x, y in zip(ra, rb))
        better = fa > fb or ma > mb or any(x < y for x, y in zip(ra, rb))
        return no_worse and better

    front, seen = [], []
    for key, o in scored:
        if not any(beats(p, o) for _, p in scored) and o not in seen:     # one of several equal designs
            front.append(key)
            seen.append(o)
    return front


def plot(results: list, front: list, path: Path, title: str = "") -> None:
    """frames/s against each resource (log scale), the front joined and labelled; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if _objectives(r) is not None]
    on_front = [r for r in ok if r["key"] in front]
    built = [r for r in ok if r.get("fmax_mhz")]
    fig, axes = plt.subplots(2, 3 if built else 2, figsize=(16 if built else 11, 8))
    if built:                       # frames/s at Fmax against Fmax itself
        ax = axes.flat[4]
        ax.scatter([r["fmax_mhz"] for r in built], [_objectives(r)[0] for r in built], color="C1")
        for r in built:
            ax.annotate(r["key"], (r["fmax_mhz"], _objectives(r)[0]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("Fmax after place and route (MHz)")
        ax.set_ylabel("frames/s at Fmax")
        ax.grid(True, alpha=0.3)
        axes.flat[5].axis("off")
    for ax, (key, label) in zip(axes.flat, RESOURCE_AXES):
        ax.scatter([r["resources"][key] for r in ok], [_objectives(r)[0] for r in ok], color="0.7", s=18,
                   label="points")
        ordered = sorted(on_front, key=lambda r: r["resources"][key])
        ax.plot([r["resources"][key] for r in ordered], [_objectives(r)[0] for r in ordered], "o-", color="C0",
                label="Pareto front")
        for r in ordered:
            ax.annotate(r["key"], (r["resources"][key], _objectives(r)[0]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel(f"{label} used (board top included)")
        ax.set_ylabel("frames/s" + (" at Fmax" if any(r.get("fmax_mhz") for r in ok) else " at the clock"))
        if ok and min(_objectives(r)[0] for r in ok) > 0:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"convflow sweep: {title}" if title else "convflow sweep")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
