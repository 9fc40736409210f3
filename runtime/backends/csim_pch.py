"""A precompiled header of the ap_int / hls_stream / std headers, kept once per machine, for the csim build.

Why: g++ spends about a third of a csim build parsing Xilinx's ap_int headers (the same for every model).  With
them precompiled the build of lenet-fmnist drops from ~4.6 s to ~2.5 s.  The header is built once per compiler,
flag set and ap_types version and kept under ``$CONVFLOW_CACHE/csim_pch`` (default ``~/.cache/convflow/csim_pch``,
a private folder: convflow/hw/cache.py); about 85 MB.  Its sha256 is recorded beside it and checked before use.

The catch: g++ 12 loses the "system header" status of the ap_int headers inside a precompiled header, so their
(harmless, internal) -Wuninitialized / -Wmaybe-uninitialized findings would surface as errors under -Werror.  A
build that uses the precompiled header therefore adds ``PCH_WARNING_FLAGS``.  Generated code is still checked with
every warning as an error: the first (cold) build of each machine, builds with CONVFLOW_CSIM_PCH=0, and the HLS
tests compile it without the precompiled header.

Only GNU g++ is supported (clang's precompiled headers work differently); any other compiler gets no header and
the plain build.  A stale or damaged header is harmless: g++ then ignores it and parses the real headers, the
build notices (g++ -H), and the header is made anew by the next build.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from convflow.hw import cache
from convflow.hw.integrity import sha256_file

# Headers whose background build the csim build that started it did not wait for (see defer()).
_PENDING: list = []

HEADER_NAME = "cf_csim_pch.h"
# the headers every generated project includes (convflow.h and convflow_csim.cpp), parsed once here
HEADER_TEXT = """// Precompiled for convflow's csim backend (runtime/backends/csim_pch.py); do not edit.
#include <cstdint>
#include <thread>
#include <vector>

#include <ap_int.h>
#include <hls_stream.h>
"""
PCH_WARNING_FLAGS = ["-Wno-uninitialized", "-Wno-maybe-uninitialized"]
GCH_HASH = "gch.sha256"        # the .gch's sha256, recorded when it is made and checked before every use


def enabled() -> bool:
    return os.environ.get("CONVFLOW_CSIM_PCH", "1").strip().lower() not in ("0", "no", "off", "false")


def is_gnu(compiler_version: str) -> bool:
    """True for GNU g++ (its --version names the Free Software Foundation); clang and others are not."""
    return "Free Software Foundation" in compiler_version and "clang" not in compiler_version.lower()


def header_key(cxx: str, compiler_version: str, flags, ap_types: Path) -> str:
    """Everything the precompiled header depends on: compiler, flags, header text and the ap_types contents."""
    digest = hashlib.sha256("\0".join([cxx, compiler_version, *flags, HEADER_TEXT]).encode())
    for path in sorted(ap_types.rglob("*.h")):
        digest.update(str(path.relative_to(ap_types)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:24]


class PrecompiledHeader:
    """The precompiled header for one (compiler, flags, ap_types): ``include_dir`` holds HEADER_NAME and its
    ``.gch``; a translation unit whose first line is ``#include "cf_csim_pch.h"`` compiled with ``-I include_dir``
    uses it."""

    def __init__(self, cxx: str, compiler_version: str, flags, ap_types: Path, root: Path = None):
        self.cxx = cxx
        self.flags = [*flags, *PCH_WARNING_FLAGS]
        self.ap_types = Path(ap_types)
        # absolute: g++ runs in the build's work folder, so a relative $CONVFLOW_CACHE would name nothing there
        self.root = (Path(root) if root is not None else cache.private_dir("csim_pch")).resolve()  # CacheError
        self.include_dir = self.root / header_key(cxx, compiler_version, self.flags, self.ap_types)
        self._process = None
        self._staging = None
        self.failure = None

    def ready(self) -> bool:
        """The header is there and its .gch matches the sha256 recorded when it was made (g++ would load a
        planted or damaged .gch as if it were its own)."""
        gch = self.include_dir / (HEADER_NAME + ".gch")
        if not self.include_dir.exists():
            return False
        try:
            recorded = (self.include_dir / GCH_HASH).read_text().strip()
            if gch.is_file() and not gch.is_symlink() and sha256_file(gch) == recorded:
                return True
        except OSError:
            pass
        self.discard()                # damaged, planted or half-made: removed, so that a new one can be made
        return False

    def was_used(self, include_listing: str) -> bool:
        """Whether g++ -H's listing (its stderr) shows this header's .gch taken ("!"), not refused ("x")."""
        return f"! {self.include_dir / HEADER_NAME}.gch" in include_listing

    def discard(self) -> None:
        """Remove an unusable header (stale, damaged) so that the next build makes a new one."""
        shutil.rmtree(self.include_dir, ignore_errors=True)

    def start_build(self) -> bool:
        """Start g++ on the header in the background (returns at once); False when it cannot even start."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=f".{self.include_dir.name}.", dir=self.root))
        except OSError:
            return False                      # no writable cache: simply never precompile
        header = self._staging / HEADER_NAME
        header.write_text(HEADER_TEXT)
        command = [self.cxx, *self.flags, "-isystem", str(self.ap_types), "-x", "c++-header", str(header),
                   "-o", str(header) + ".gch"]
        nice = shutil.which("nice")
        if nice:                                  # the build the user waits for goes first on a busy machine
            command = [nice, "-n", "10", *command]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return True

    def abort(self) -> None:
        """Stop a background build (Ctrl-C, SIGTERM or a failed csim build) and remove its staging folder."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        self._process = self._staging = None

    def finish_build(self) -> bool:
        """Wait for the background build and publish it atomically; True when the header is now ready.  A failed
        build only costs speed (the csim build without it stays correct): its message is kept in ``failure``."""
        if self._process is None:
            return self.ready()
        _, stderr = self._process.communicate()
        if self._process.returncode == 0:
            gch = self._staging / (HEADER_NAME + ".gch")
            try:
                (self._staging / GCH_HASH).write_text(sha256_file(gch) + "\n")
                os.rename(self._staging, self.include_dir)      # atomic; fails when another process won the race
            except OSError:
                pass                        # (or the cache folder was removed while it was building)
        else:
            self.failure = stderr[-2000:]
        shutil.rmtree(self._staging, ignore_errors=True)         # gone already when it was published
        self._process = self._staging = None
        return self.ready()


def defer(header: PrecompiledHeader) -> None:
    """Let a background header build finish on its own: the csim build that started it returns as soon as its own
    library is made (the first result of a cold machine no longer waits for the header: measured on lenet-fmnist,
    2 busy cores, the cold build took 5.0 s waiting, the strict build alone 1.9 s).  It is published by the next
    csim build of this process, by finish_pending(), or when the interpreter exits."""
    _PENDING.append(header)


def finish_pending() -> None:
    """Wait for every deferred header build and publish it (see PrecompiledHeader.finish_build)."""
    while _PENDING:
        _PENDING.pop().finish_build()


atexit.register(finish_pending)

