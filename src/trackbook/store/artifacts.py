"""Artifact files of a run, kept inside ``runs/<id>/artifacts`` and never outside it."""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .._errors import ArtifactPathError, TrackbookWarning
from . import durable
from .durable import DiskWriteError, atomic_path


@dataclass(frozen=True)
class FileInfo:
    """An artifact entry, as MLflow's ``list_artifacts`` returns it."""

    path: str
    is_dir: bool
    file_size: int | None


def safe_relpath(path: str | None) -> str:
    """Normalise an artifact sub-path; refuse absolute paths and ``..`` escapes."""
    if path is None or path in ("", "."):
        return ""
    text = str(path).replace("\\", "/")
    p = PurePosixPath(text)
    if p.is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise ArtifactPathError(f"artifact path {path!r} must be relative to the run's folder")
    if any(part == ".." for part in p.parts):
        raise ArtifactPathError(
            f"artifact path {path!r} contains '..'; artifacts cannot leave the run's folder")
    parts = [x for x in p.parts if x not in ("", ".")]
    return "/".join(parts)


def resolve(root: Path, path: str | None) -> Path:
    """The real path of artifact ``path`` under ``root``; it must stay inside ``root``."""
    rel = safe_relpath(path)
    target = (root / rel) if rel else root
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise ArtifactPathError(f"artifact path {path!r} resolves outside the run's folder")
    return target


def put_file(root: Path, local: str | os.PathLike[str], artifact_path: str | None) -> Path:
    """Copy one local file into ``root/artifact_path/``."""
    src = Path(local)
    if not src.is_file():
        raise ArtifactPathError(f"{str(local)!r} is not a file (use log_artifacts for folders)")
    dest_dir = resolve(root, artifact_path)
    _mkdir(dest_dir, src.name)
    dest = dest_dir / src.name
    durable.copy_file(src, dest, what=f"the artifact {src.name}", level=durable.FLUSH)
    return dest


def _skipped(folder: str, names: list[str]) -> set[str]:
    """``shutil.copytree``'s ignore hook: the entries of ``folder`` not copied.

    Symlinks to folders are not followed, as MLflow's ``os.walk`` copy does not: a loop, or a
    link to a huge folder elsewhere, cannot fill the disk. Dangling links and anything that
    is not a regular file or folder (a device, a pipe) have nothing to copy.
    """
    out = set()
    for name in names:
        path = os.path.join(folder, name)
        if os.path.islink(path) and os.path.isdir(path):
            why = "is a symlink to a folder (not followed)"
        elif os.path.isdir(path) or os.path.isfile(path):
            continue
        elif os.path.islink(path) and not os.path.exists(path):
            why = "is a dangling symlink"
        else:
            why = "is not a regular file or folder"
        out.add(name)
        warnings.warn(f"log_artifacts skipped {path}: it {why}", TrackbookWarning,
                      stacklevel=2)
    return out


def _copy_tree(src: Path, dest: Path, what: str, merge: bool = False,
               shown: Path | None = None) -> None:
    """copytree ``src`` to ``dest``; a failure is a DiskWriteError naming ``shown``."""
    shown = shown or dest
    try:
        shutil.copytree(src, dest, ignore=_skipped, dirs_exist_ok=merge)
    except shutil.Error as exc:  # every file's error, as text: report the first one
        failed = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        first = failed[0] if failed else ("?", "?", str(exc))
        err = OSError(durable.errno_in(str(first[2])) or 0,
                      f"{first[2]} (copying {first[0]}; {len(failed)} entries failed)")
        raise DiskWriteError(shown, what, err) from exc
    except OSError as exc:
        raise DiskWriteError(shown, what, exc) from exc


def put_dir(root: Path, local: str | os.PathLike[str], artifact_path: str | None) -> Path:
    """Copy the contents of a local folder into ``root/artifact_path/``.

    Regular files and symlinks to files are copied (their content); symlinks to folders,
    dangling links and special files are skipped with a :class:`TrackbookWarning`. A new
    folder appears whole or not at all: no ``.tmp`` copy is left behind on failure.
    """
    src = Path(local)
    if not src.is_dir():
        raise ArtifactPathError(f"{str(local)!r} is not a folder")
    dest = resolve(root, artifact_path)
    what = f"artifacts copied from {str(src)!r}"
    if dest != root and not dest.exists():
        # A new folder (a model, say) appears whole: copied aside, then renamed in place.
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(dest, what=what) as tmp:
                _copy_tree(src, tmp, what, shown=dest)
            return dest
        except DiskWriteError:
            if not dest.is_dir():
                raise
            # someone created it meanwhile: merge into theirs below
    dest.mkdir(parents=True, exist_ok=True)
    _copy_tree(src, dest, what, merge=True)
    return dest


def put_bytes(root: Path, artifact_file: str, data: bytes) -> Path:
    """Write ``data`` as artifact file ``artifact_file`` (a relative path with a name)."""
    rel = safe_relpath(artifact_file)
    if not rel:
        raise ArtifactPathError("artifact_file needs a file name, e.g. 'config.json'")
    dest = resolve(root, rel)
    _mkdir(dest.parent, rel)
    durable.write_atomic(dest, data, what=f"the artifact {rel}", level=durable.FLUSH)
    return dest


def _mkdir(path: Path, what: str) -> None:
    durable.make_dirs(path, what=f"the artifact {what}")


def list_dir(root: Path, path: str | None = None) -> list[FileInfo]:
    """Entries directly under ``path`` (relative paths from the artifact root)."""
    base = resolve(root, path)
    if not base.is_dir():
        return []
    prefix = safe_relpath(path)
    out = []
    for e in sorted(os.scandir(base), key=lambda e: e.name):
        if e.name.startswith("."):
            continue
        rel = f"{prefix}/{e.name}" if prefix else e.name
        is_dir = e.is_dir()
        out.append(FileInfo(rel, is_dir, None if is_dir else e.stat().st_size))
    return out
