"""Copying artifact folders into a run without touching what is there already.

The source folder is foreign input: only regular files are copied, a symlink only when it
points inside the folder being copied (its target's bytes are copied, never the link), and
names that are not valid UTF-8 are left out. Everything left out is listed with its reason.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..store import durable
from ._checks import has_surrogates


@dataclass
class CopyResult:
    copied: int = 0
    existing: int = 0
    differing: list[str] = field(default_factory=list)
    # (path relative to the copied folder, why it was not copied)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def copy_missing(src: Path, dest: Path, result: CopyResult | None = None) -> CopyResult:
    """Copy every file under ``src`` that ``dest`` lacks; never overwrite a file.

    Each file is copied to a temp name and renamed (:func:`trackbook.store.durable.copy_file`),
    so a reader (or a crash) never sees a half-copied file. A file that exists with another
    size is left alone and listed in ``differing``; symlinks pointing outside ``src``,
    special files (FIFOs, devices, sockets) and undecodable names are listed in ``skipped``.
    Errors reading ``src`` or writing ``dest`` propagate (``OSError`` /
    :class:`~trackbook.store.durable.DiskWriteError`).
    """
    result = result if result is not None else CopyResult()
    root = os.path.realpath(src)
    _copy_dir(root, root, Path(dest), "", result, set())
    return result


def _copy_dir(root: str, folder: str, dest: Path, rel: str, result: CopyResult,
              active: set[str]) -> None:
    """Copy ``folder`` (a real path inside ``root``) into ``dest``; ``rel`` is its path
    relative to the copied folder, ``active`` the real paths being copied (loop guard)."""
    active = active | {folder}
    made = dest.is_dir()
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        here = f"{rel}/{name}" if rel else name
        if has_surrogates(name):
            result.skipped.append((here.encode("utf-8", "replace").decode(),
                                   "its name is not valid UTF-8"))
            continue
        path = entry.path
        if entry.is_symlink():
            target = os.path.realpath(path)
            if not _inside(target, root):
                result.skipped.append((here, "a symlink pointing outside the run's artifact "
                                             "folder; not followed"))
                continue
            path = target
        try:
            st = os.stat(path)
        except FileNotFoundError:
            result.skipped.append((here, "a dangling symlink"))
            continue
        if stat.S_ISDIR(st.st_mode):
            if path in active:
                result.skipped.append((here, "a symlink to a folder that contains it (a loop); "
                                             "not followed"))
                continue
            _copy_dir(root, path, dest / name, here, result, active)
            continue
        if not stat.S_ISREG(st.st_mode):
            result.skipped.append((here, "not a regular file (a FIFO, socket or device)"))
            continue
        final = dest / name
        try:
            size = final.stat().st_size
        except FileNotFoundError:
            pass
        else:
            if size == st.st_size:
                result.existing += 1
            else:
                result.differing.append(here)
            continue
        if not made:
            dest.mkdir(parents=True, exist_ok=True)
            made = True
        durable.copy_file(path, final, what=f"artifact file {here}")
        result.copied += 1


def top_level_names(folder: Path | None) -> set[str]:
    """Names directly inside ``folder`` (empty when there is no folder)."""
    if folder is None:
        return set()
    try:
        return {e.name for e in os.scandir(folder)}
    except (FileNotFoundError, NotADirectoryError):
        return set()
