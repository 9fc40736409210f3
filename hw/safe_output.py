"""Writing an output folder (``-o DIR``) without ever losing a user's data: one module for every writer (compile,
verify, train, build).

The rule: convflow deletes only what it wrote.  Everything is written into a staging folder beside the target and
moved into place only when complete.  Then, by what the target holds:

- nothing (absent or an empty folder): the staging folder is renamed onto it;
- an output of the same kind written by convflow and nothing else (``owned(folder)`` names every entry in it): the
  two folders are exchanged atomically (renameat2 RENAME_EXCHANGE; a reader sees the old or the new one, never a
  mix) and the old one is removed;
- anything else -- a folder holding files convflow did not write, the working directory (``-o .``) or one of its
  parents, the folder holding the input or a parent of it, or the input's own artifact -- is refused with one line
  saying why, unless ``force``.  With ``force`` the new entries are moved into the folder one by one, beside what
  is there; an entry convflow did not write, or the input itself, is never replaced: that is refused even with
  ``force``.

Staging folders and the old copies are removed on every error, on Ctrl-C and (inside ``signals_as_exceptions``) on
SIGTERM, so nothing half-written is left at or beside the target.  Two processes writing the same target are
serialised by a lock on the parent folder (flock; no lock file is left behind).

    target = OutputTarget(out_dir, kind=ARTIFACT, inputs=[model_path], force=False)   # refuses at once
    staging = target.stage()
    try:
        ... write into staging ...
        target.publish(staging)
    except BaseException as exc:
        raise target.abandon(staging, exc)
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from convflow.hw.errors import ConvflowError, OutputRefused

STAGING_TAG = ".convflow-staging-"
OLD_TAG = ".convflow-old-"


@dataclass(frozen=True)
class Kind:
    """What a writer writes: ``what`` names it in messages; ``owned(folder)`` returns the top-level entry names of
    ``folder`` that this writer wrote there (from the folder's own record, e.g. manifest.json), or None when the
    folder is not one of its outputs."""
    what: str
    owned: Callable[[Path], Optional[set]]
    marker: str = ""          # the entry that makes a folder "ours"; moved in last when merging


def _read_json(path: Path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def artifact_entries(folder: Path) -> Optional[set]:
    """The entries of a convflow artifact (a folder whose manifest.json says it was written by convflow
    compile): manifest.json, the files it records (by top-level name), its weights and sources, and what
    ``convflow build`` adds (bitstream/ and its failed-log folder)."""
    manifest = _read_json(Path(folder) / "manifest.json")
    if not isinstance(manifest, dict) or "format_version" not in manifest or "convflow_version" not in manifest:
        return None
    names = {"manifest.json", "bitstream", "bitstream.failed-logs", "report"}     # report/: convflow report
    files = manifest.get("files")
    if isinstance(files, dict):
        names |= {str(rel).split("/")[0] for rel in files}
    sources = manifest.get("sources")
    if isinstance(sources, dict):
        names |= {str(rel).split("/")[0] for rel in sources.values()}
    if isinstance(manifest.get("weights"), str):
        names.add(manifest["weights"].split("/")[0])
    return names


ARTIFACT = Kind("a convflow artifact", artifact_entries, marker="manifest.json")


# ---------------------------------------------------------------------------------------------------- signals
class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM (inside ``signals_as_exceptions``), so that every ``finally`` and
    clean-up runs as it does for Ctrl-C.  A SystemExit: ``except Exception`` does not swallow it."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


@contextmanager
def signals_as_exceptions():
    """SIGTERM (and SIGHUP) raise Terminated in the main thread while inside; elsewhere (other threads) this does
    nothing.  Ctrl-C already raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):        # pragma: no cover - not the main thread of the main interpreter
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# ---------------------------------------------------------------------------------------------------- helpers
def _is_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both resolved)."""
    return path == folder or folder in path.parents


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    libc = _libc()
    fn = getattr(libc, "renameat2", None) if libc is not None else None
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False                       # the file system (or kernel) has no exchange: fall back
    raise OSError(err, os.strerror(err), str(b))


_LIBC = []


def _libc():
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        except OSError:                    # pragma: no cover
            _LIBC.append(None)
    return _LIBC[0]


@contextmanager
def _locked_folder(folder: Path):
    """An exclusive flock on ``folder`` itself (a directory can be locked on Linux): serialises the convflow
    processes publishing into it without leaving a lock file behind."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                       # closing releases the lock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _listing(names, limit: int = 4) -> str:
    names = sorted(names)
    shown = ", ".join(repr(n) if not n.isprintable() else n for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def write_error(exc: OSError, target: Path) -> ConvflowError:
    """An OSError met while writing an output -> one actionable line (nothing was left half-written)."""
    hint = {errno.ENOSPC: "free some space or choose another -o", errno.EDQUOT: "free some space (quota)",
            errno.EACCES: "choose a folder you can write to", errno.EPERM: "choose a folder you can write to",
            errno.EROFS: "the file system is read-only; choose another -o"}.get(exc.errno, "choose another -o")
    reason = exc.strerror or str(exc)
    return ConvflowError(f"cannot write {target}: {reason}; nothing was left half-written; {hint}")


# ---------------------------------------------------------------------------------------------------- the target
class OutputTarget:
    """One output folder about to be written.  Constructing it checks the target (OutputRefused at once, before
    any work); ``stage()`` makes the staging folder; ``publish(staging)`` moves it into place (checking again
    under the lock); ``abandon(staging, exc)`` removes it and returns the exception to raise."""

    def __init__(self, target, kind: Kind = ARTIFACT, inputs=(), force: bool = False, option: str = "-o"):
        self.target = Path(os.path.abspath(target))
        self.kind = kind
        self.inputs = [Path(p).resolve() for p in inputs if p is not None]
        self.force = force
        self.option = option
        self._created_parents = []
        self.mode = self._plan()

    # -- the rule
    def _plan(self) -> str:
        """'new', 'replace' or 'merge' (only with force); OutputRefused otherwise."""
        t = self.target
        where = f"{self.option} {t}"
        if t.is_symlink():
            raise OutputRefused(f"{where} is a symbolic link (to {os.readlink(t)}); give the folder itself")
        if t.exists() and not t.is_dir():
            raise OutputRefused(f"{where} is a file, not a folder; choose a folder for {self.kind.what}")
        real = t.resolve()
        cwd = Path.cwd().resolve()
        reasons = []
        if _is_within(cwd, real):
            reasons.append("is the working directory" if real == cwd else "holds the working directory")
        for source in self.inputs:
            if _is_within(source, real):
                reasons.append(f"holds the input {source}")
        if not t.exists():
            if reasons:                                   # pragma: no cover - a missing folder holds nothing
                raise OutputRefused(f"{where} {reasons[0]}")
            return "new"
        entries = self._entries(t)
        owned = self.kind.owned(t)
        foreign = set(entries) - (owned or set())
        if not entries and not reasons:
            return "new"
        if not reasons and owned is not None and not foreign:
            return "replace"
        if not reasons:
            if owned is None:
                reasons.append(f"is not {self.kind.what} and holds files convflow did not write "
                               f"({_listing(entries)})")
            else:
                reasons.append(f"holds files convflow did not write ({_listing(foreign)}) beside "
                               f"{self.kind.what}")
        if not self.force:
            raise OutputRefused(f"{where} {reasons[0]}: nothing was deleted; choose another {self.option} (or "
                                f"pass --force to write beside what is there, which replaces only what convflow "
                                f"wrote)")
        return "merge"

    @staticmethod
    def _entries(folder: Path) -> list:
        return [n for n in os.listdir(folder) if not (n.startswith(STAGING_TAG) or n.startswith(OLD_TAG))]

    def _check_merge(self, staging: Path) -> None:
        """With force: no new entry may land on something convflow did not write, or on the input."""
        owned = self.kind.owned(self.target) or set()
        for name in os.listdir(staging):
            there = self.target / name
            if not (there.exists() or there.is_symlink()):
                continue
            if name not in owned:
                raise OutputRefused(f"{self.option} {self.target}: {name} is there and convflow did not write it; "
                                    "even with --force it is not replaced; move it or choose another "
                                    f"{self.option}")
            for source in self.inputs:
                if _is_within(source, there.resolve()):
                    raise OutputRefused(f"{self.option} {self.target}: writing {name} would replace the input "
                                        f"{source}; choose another {self.option}")

    # -- staging
    def stage(self) -> Path:
        """A fresh staging folder: beside the target, or inside it when merging (the same file system either
        way, so every move is a rename)."""
        parent = self.target if self.mode == "merge" else self.target.parent
        missing = []
        probe = parent
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._created_parents = missing
            staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_TAG}{self.target.name}.", dir=parent))
            os.chmod(staging, 0o777 & ~_umask())      # mkdtemp makes 0700; the output follows the umask
            return staging
        except OSError as exc:
            self._remove_created_parents()
            raise write_error(exc, self.target) from None

    def _remove_created_parents(self) -> None:
        for folder in self._created_parents:           # deepest first; only the ones this target made
            try:
                folder.rmdir()
            except OSError:
                break
        self._created_parents = []

    def abandon(self, staging: Path, exc: BaseException) -> BaseException:
        """Remove the staging folder (and parents this target made); the exception to raise: an OSError becomes
        one line naming the target, anything else (Ctrl-C, SIGTERM, a model error) is returned unchanged."""
        if staging is not None:
            _remove(staging)
        if not self.target.exists():
            self._remove_created_parents()
        if isinstance(exc, OSError):
            converted = write_error(exc, self.target)
            converted.__cause__ = exc
            return converted
        return exc

    def publish(self, staging: Path) -> Path:
        """Move the complete staging folder into place; returns the target."""
        staging = Path(staging)
        with _locked_folder(self.target.parent):
            self.mode = self._plan()                    # the target may have changed since we started
            if self.mode == "merge":
                self._check_merge(staging)
                self._merge(staging)
            else:
                self._swap_in(staging)
        self._created_parents = []
        return self.target

    def _swap_in(self, staging: Path) -> None:
        t = self.target
        if self.mode == "new":
            try:
                os.rename(staging, t)                  # also replaces an empty folder
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                self.mode = self._plan()               # filled meanwhile by a process outside the lock
                if self.mode != "replace":
                    raise OutputRefused(f"{self.option} {t} was filled by something else while convflow worked; "
                                        "nothing was deleted") from None
        if not _exchange(staging, t):
            old = t.parent / f"{OLD_TAG}{t.name}.{os.getpid()}"
            os.rename(t, old)
            try:
                os.rename(staging, t)
            except BaseException:
                os.rename(old, t)
                raise
            staging = old
        _remove(staging)                               # now the old output: all of it ours (checked)

    def _merge(self, staging: Path) -> None:
        """Move the new entries in beside what is there (the marker last, so the folder is never a valid output
        with a mix of old and new entries); on any failure every move is undone."""
        t = self.target
        trash = Path(tempfile.mkdtemp(prefix=f"{OLD_TAG}{t.name}.", dir=t))
        names = sorted(os.listdir(staging), key=lambda n: n == self.kind.marker)
        marker = t / self.kind.marker if self.kind.marker else None
        moves = []                                     # (from, to), in the order done
        try:
            if marker is not None and (marker.exists() or marker.is_symlink()):
                os.rename(marker, trash / marker.name)
                moves.append((marker, trash / marker.name))
            for name in names:
                there = t / name
                if there.exists() or there.is_symlink():
                    os.rename(there, trash / name)
                    moves.append((there, trash / name))
                os.rename(staging / name, there)
                moves.append((staging / name, there))
        except BaseException:
            for src, dst in reversed(moves):
                try:
                    os.rename(dst, src)
                except OSError:                        # pragma: no cover - best effort
                    pass
            raise
        finally:
            _remove(trash)
            _remove(staging)


def write_file_atomically(path, write: Callable, inputs=(), option: str = "--output") -> Path:
    """Write one file (e.g. run --output y.npy) through a temporary file beside it, put in place with one rename;
    the input file is never overwritten and nothing half-written is left.  ``write(handle)`` writes the content
    to a binary file object."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise OutputRefused(f"{option} {path} is a folder; give a file name")
    if path.is_symlink():
        raise OutputRefused(f"{option} {path} is a symbolic link; give the file itself")
    for source in inputs:
        if source is not None and path.exists() and Path(source).resolve() == path.resolve():
            raise OutputRefused(f"{option} {path} is the input file; choose another name (nothing was written)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{STAGING_TAG}{path.name}.", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from None
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())             # mkstemp makes 0600; a plain file follows the umask
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from exc
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
