"""Copying artifact folders into a run without touching what is there already."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CopyResult:
    copied: int = 0
    existing: int = 0
    differing: list[str] = field(default_factory=list)


def copy_missing(src: Path, dest: Path, result: CopyResult | None = None) -> CopyResult:
    """Copy every file under ``src`` that ``dest`` lacks; never overwrite a file.

    Each file is copied to a temp name and renamed, so a reader (or a crash) never sees a
    half-copied file. A file that exists with another size is left alone and listed in
    ``differing``.
    """
    result = result if result is not None else CopyResult()
    for dirpath, _dirs, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dest if rel == "." else dest / rel
        made = False
        for name in files:
            source = os.path.join(dirpath, name)
            final = target / name
            try:
                size = final.stat().st_size
            except FileNotFoundError:
                pass
            else:
                if size == os.stat(source).st_size:
                    result.existing += 1
                else:
                    result.differing.append(os.path.normpath(os.path.join(rel, name)))
                continue
            if not made:
                target.mkdir(parents=True, exist_ok=True)
                made = True
            tmp = target / f".{name}.{os.getpid()}.import.tmp"
            shutil.copyfile(source, tmp)
            os.replace(tmp, final)
            result.copied += 1
    return result


def top_level_names(folder: Path | None) -> set[str]:
    """Names directly inside ``folder`` (empty when there is no folder)."""
    if folder is None:
        return set()
    try:
        return {e.name for e in os.scandir(folder)}
    except FileNotFoundError:
        return set()
