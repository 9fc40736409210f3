"""Build caches kept once per user: the csim libraries, the Verilator models and runtime, the precompiled ap_int
header, the yowasp JIT cache.

A cache holds binaries that convflow later loads or runs, so it must be as trustworthy as the code that made them:

- it lives in a per-user private folder (``private_dir``: convflow.hw.user_cache_dir(name), created 0700, and
  refused when it is a link, not a folder, owned by someone else or writable by others) -- never a shared
  ``$TMPDIR`` name;
- an entry is a folder ``<root>/<key>/`` named by the content hash of every input of the build (the caller's
  key), holding the build's products and ``entry.json`` with the sha256 of each; ``lookup`` re-hashes them and
  uses the entry only if all match, and removes a damaged one (truncated by a full disk, edited, planted) so it is
  rebuilt instead of run;
- a build runs in a work folder beside the entry and is renamed into place when complete, holding ``lock(key)``
  (fcntl.flock), so two processes asking for the same entry build it once and never see half of it.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from convflow.hw import user_cache_dir
from convflow.hw.errors import CacheError, IntegrityError
from convflow.hw.integrity import check_file, check_record, sha256_file

ENTRY_RECORD = "entry.json"
GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def private_dir(name: str) -> Path:
    """The user's private cache folder for ``name``, made (0700) if missing and checked if found."""
    path = user_cache_dir(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise CacheError(f"cannot make the cache folder {path}: {exc.strerror or exc}; point CONVFLOW_CACHE at a "
                         "folder you can write") from None
    check_private(path, info)
    return path


def cache_folder(name: str, cache_dir=None) -> Path:
    """A backend's private build cache: ``cache_dir`` if given (made 0700 and checked), else private_dir(name).
    Never inside an artifact, never a shared temporary name."""
    if cache_dir is None:
        return private_dir(name)
    root = Path(cache_dir).resolve()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot make the {name} cache folder {root}: {exc.strerror}") from None
    check_private(root)
    return root


def check_private(path: Path, info=None) -> None:
    info = info or os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise CacheError(f"the cache folder {path} is a symbolic link; convflow keeps its cache in a real folder "
                         "of yours (remove the link, or set CONVFLOW_CACHE)")
    if not stat.S_ISDIR(info.st_mode):
        raise CacheError(f"the cache folder {path} is not a folder; remove it or set CONVFLOW_CACHE")
    if info.st_uid != os.getuid():
        raise CacheError(f"the cache folder {path} belongs to user id {info.st_uid}, not to you; convflow only "
                         "runs binaries from its own cache (set CONVFLOW_CACHE to a folder of yours)")
    if info.st_mode & GROUP_OTHER_WRITE:
        raise CacheError(f"the cache folder {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}),"
                         " so its binaries cannot be trusted; remove it (convflow makes a private one) or set "
                         "CONVFLOW_CACHE")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)              # readable by others only (an older convflow's 0755): nothing planted
    if not os.access(path, os.W_OK | os.X_OK):
        raise CacheError(f"the cache folder {path} is read-only; make it writable or set CONVFLOW_CACHE")


@contextmanager
def lock(root: Path, key: str):
    """Exclusive lock of one entry (a ``.<key>.lock`` file beside it, kept: the cache is ours).  Work folders of
    the same key left by a killed build are removed once the lock is held: nobody else can be using them."""
    with open(Path(root) / f".{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        for stale in Path(root).glob(f".{key}.build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


# characters GNU make (and Verilator's makefiles) cope with in the path of the folder it builds in
MAKE_SAFE = re.compile(r"[A-Za-z0-9_./+-]+")


def work_dir(root: Path, key: str, for_make: bool = False) -> Path:
    """A fresh private folder to build entry ``key`` in (publish it, or remove it): beside the entry, or -- when
    ``for_make`` and the cache's path holds characters make cannot build in (a space, '$', ':' ...) -- a private
    temporary folder (mkdtemp: 0700, a fresh random name) that the products are moved from."""
    if not for_make or MAKE_SAFE.fullmatch(str(root)):
        return Path(tempfile.mkdtemp(prefix=f".{key}.build-", dir=root))
    for base in (tempfile.gettempdir(), "/tmp"):
        if MAKE_SAFE.fullmatch(base) and os.path.isdir(base):
            return Path(tempfile.mkdtemp(prefix=f"convflow-build-{key[:12]}-", dir=base))
    raise CacheError(f"make cannot build in {root} (its path holds a space or a character make treats specially) "
                     "and no temporary folder without them exists; set CONVFLOW_CACHE to a plain path")


class Entry:
    """A cache entry ``root/key`` with recorded hashes; ``found`` after ``lookup``, ``damaged`` when a broken one
    was removed."""

    def __init__(self, root: Path, key: str):
        self.root = Path(root)
        self.key = key
        self.path = self.root / key
        self.damaged = None                 # why the entry found was removed, if it was

    def lookup(self, required=()) -> bool:
        """True when the entry exists and every file it records (and ``required`` names) matches its hash."""
        if not self.path.exists() and not self.path.is_symlink():
            return False
        where = f"cache entry {self.path}"
        try:
            info = os.lstat(self.path)
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
                raise IntegrityError(f"{where}: not a folder")
            try:
                record = json.loads((self.path / ENTRY_RECORD).read_text())
            except (OSError, ValueError):
                raise IntegrityError(f"{where}: no readable {ENTRY_RECORD}") from None
            files = check_record(record.get("files") if isinstance(record, dict) else None, where)
            if record.get("key") != self.key:
                raise IntegrityError(f"{where}: recorded for another key")
            missing = [name for name in required if name not in files]
            if missing:
                raise IntegrityError(f"{where}: records no {missing[0]}")
            for rel, digest in files.items():
                check_file(self.path, rel, digest, where)
        except IntegrityError as exc:
            self.damaged = str(exc)
            self.remove()
            return False
        return True

    def file(self, name: str) -> Path:
        return self.path / name

    def publish(self, work: Path, files) -> None:
        """Move ``files`` (relative names inside the work folder ``work``) into a new entry with their hashes
        recorded, rename it into place and remove ``work``.  Call while holding ``lock``."""
        work = Path(work)
        fresh = work_dir(self.root, self.key)
        try:
            for rel in files:
                (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(work / rel, fresh / rel)       # a rename, or a copy from a build folder elsewhere
            record = {"key": self.key, "files": {rel: sha256_file(fresh / rel) for rel in sorted(files)}}
            (fresh / ENTRY_RECORD).write_text(json.dumps(record, indent=1) + "\n")
            self.remove()
            os.rename(fresh, self.path)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def remove(self) -> None:
        if self.path.is_symlink() or self.path.is_file():
            self.path.unlink()
        elif self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
