"""Recorded file hashes and safe relative paths: how an artifact (or a cache entry) proves its files are the ones
convflow wrote, before anything reads or runs them.

An artifact's manifest.json holds ``files: {relative path: sha256}``, computed over the staged artifact just before
it is moved into place.  Every loader checks a file against that record before use, and never prints a file's
contents in an error (a manifest may point at /etc/shadow).  A recorded path must be relative, made of the
characters convflow itself writes (``[A-Za-z0-9_.+-]``, no leading ``.``, ``-`` or ``+``), free of ``..``, and lead to a
regular file inside the folder with no symbolic link on the way.  Such names can be handed to a compiler, a
simulator or make as plain arguments or ``#include "name"`` without quoting problems.

Kept in convflow.hw (imports nothing else of convflow) so that the compiler, the tool flows and the runtime all
share one definition.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from pathlib import Path

from convflow.hw.errors import IntegrityError

# one path component as convflow writes it: no leading '.' (no '..', no hidden files), '-' or '+' (never taken
# for a tool's option or a Verilator +plusarg)
SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
MAX_DEPTH = 8


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(root, exclude=("manifest.json",)) -> dict:
    """{relative posix path: sha256} of every regular file under ``root`` (sorted), except the top-level names in
    ``exclude``.  A symbolic link or a name convflow would not write is an error: this records what we wrote."""
    root = Path(root)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise IntegrityError(f"{path}: a symbolic link in an output convflow is writing")
        if path.is_dir() or rel in exclude:
            continue
        check_name(rel, f"{root}")
        files[rel] = sha256_file(path)
    return files


def check_name(rel, where: str) -> str:
    """``rel`` if it is a relative path convflow could have written, else IntegrityError (the name is shown with
    repr, so that control characters cannot forge output)."""
    if not isinstance(rel, str) or not rel:
        raise IntegrityError(f"{where}: a file name must be a non-empty string, not {rel!r}")
    if rel.startswith("/") or "\\" in rel:
        raise IntegrityError(f"{where}: {rel!r} is not a relative path inside the folder; refusing it")
    parts = rel.split("/")
    if len(parts) > MAX_DEPTH or any(p in ("", ".", "..") for p in parts):
        raise IntegrityError(f"{where}: {rel!r} leaves the folder or is not a plain relative path; refusing it")
    for part in parts:
        if not SAFE_COMPONENT.fullmatch(part):
            raise IntegrityError(f"{where}: {rel!r} holds characters convflow never writes in a file name; "
                                 "refusing it")
    return rel


def resolve_inside(root, rel, where: str) -> Path:
    """The regular file ``root/rel`` after checking the name, that no component on the way is a symbolic link,
    and that it resolves inside ``root``."""
    root = Path(root)
    check_name(rel, where)
    path = root
    for part in rel.split("/"):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise IntegrityError(f"{where}: {rel} is missing; the artifact is incomplete (recompile it)") from None
        if stat.S_ISLNK(mode):
            raise IntegrityError(f"{where}: {rel} is (or passes through) a symbolic link; convflow never writes "
                                 "links, refusing it")
    if not stat.S_ISREG(mode):
        raise IntegrityError(f"{where}: {rel} is not a regular file")
    real_root = root.resolve()
    if real_root not in path.resolve().parents:
        raise IntegrityError(f"{where}: {rel} resolves outside {root}; refusing it")
    return path


def check_record(files, where: str) -> dict:
    """A ``files`` record (from a manifest or a cache entry) checked for shape: {safe name: 64 hex digits}."""
    if not isinstance(files, dict) or not files:
        raise IntegrityError(f"{where}: no 'files' record of sha256 hashes (written by an older convflow, or "
                             "edited); recompile the model with `convflow compile`")
    for rel, digest in files.items():
        check_name(rel, where)
        if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise IntegrityError(f"{where}: the recorded hash of {rel} is not a sha256 hex digest")
    return files


def check_file(root, rel, digest: str, where: str) -> Path:
    """``root/rel`` after checking its path and that its content has the recorded sha256."""
    path = resolve_inside(root, rel, where)
    if sha256_file(path) != digest:
        raise IntegrityError(f"{where}: {rel} does not match its recorded sha256 (changed after it was written); "
                             "recompile the model, or run `convflow check` to see every difference")
    return path


def check_files(root, files: dict, where: str) -> None:
    for rel, digest in files.items():
        check_file(root, rel, digest, where)


def copy_verified(root, files: dict, dest, where: str, strip_prefix: str = "") -> list:
    """Copy each recorded file of ``root`` into ``dest`` (keeping its relative path, less ``strip_prefix``) and
    check the *copy's* hash: what a tool later reads from ``dest`` is exactly what was recorded, whatever happens
    to ``root`` meanwhile.  Returns the relative names written."""
    dest = Path(dest)
    written = []
    for rel, digest in files.items():
        src = resolve_inside(root, rel, where)
        name = rel[len(strip_prefix):] if strip_prefix and rel.startswith(strip_prefix) else rel
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        if sha256_file(target) != digest:
            raise IntegrityError(f"{where}: {rel} does not match its recorded sha256 (changed after it was "
                                 "written); recompile the model")
        written.append(name)
    return written


def under(files: dict, folder: str) -> dict:
    """The entries of a ``files`` record that lie in ``folder`` (a relative folder name, e.g. 'hls')."""
    prefix = folder.rstrip("/") + "/"
    return {rel: digest for rel, digest in files.items() if rel.startswith(prefix)}


def unlisted(root, files: dict, folders) -> list:
    """Regular files (or links) inside ``folders`` of ``root`` that the record does not name: planted or left
    over.  Loaders ignore them (they copy only recorded files); `convflow check` reports them."""
    root = Path(root)
    extra = []
    for folder in folders:
        base = root / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if (path.is_symlink() or not path.is_dir()) and rel not in files:
                extra.append(rel)
    return extra


def artifact_record(artifact) -> dict:
    """The ``files`` record of the artifact folder ``artifact`` (its manifest.json), checked for shape; for the
    tool flows, which read an artifact without the runtime."""
    import json

    manifest_path = Path(artifact) / "manifest.json"
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise IntegrityError(f"{artifact}: no manifest.json; compile the model with `convflow compile` first")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError):
        raise IntegrityError(f"{manifest_path}: not valid JSON; recompile the model") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{manifest_path}: not a JSON object; recompile the model")
    return check_record(manifest.get("files"), str(manifest_path))
