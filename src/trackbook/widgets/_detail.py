"""The run table's detail pane: one run's params, latest metrics, tags and artifacts.

Image artifacts (PNG, JPEG, GIF, WebP, SVG) travel as bytes in the reply's buffers and
the browser shows them from memory: the pane never hands the page a file path or URL,
so it works on JupyterHub, Colab and VS Code alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import RunNotFoundError
from ..store import artifacts as _artifacts
from ..tracking.query import get_run
from ._protocol import ArtifactEntry, RunDetail

if TYPE_CHECKING:
    from ..store.store import Store

#: Files listed in the pane (a model folder can hold thousands).
MAX_ARTIFACTS = 200
#: Images previewed, and the largest one sent (bigger ones are listed only).
MAX_PREVIEWS = 12
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}


def _walk(root: Path, limit: int) -> tuple[list[tuple[str, int]], bool]:
    """Files under ``root`` (relative "/" paths, sizes), breadth-first, at most ``limit``."""
    files: list[tuple[str, int]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop(0)
        try:
            entries = _artifacts.list_dir(root, rel_dir or None)
        except FileNotFoundError:  # deleted while listing
            continue
        for entry in entries:
            if entry.is_dir:
                pending.append(entry.path)
            elif len(files) >= limit:
                return files, True
            else:
                files.append((entry.path, int(entry.file_size or 0)))
    return files, False


def artifact_entries(store: Store, run_id: str) -> tuple[list[ArtifactEntry], list[bytes], bool]:
    """The run's artifact files, image previews (as buffers) and whether the list is cut."""
    root = store.artifact_root(run_id)
    files, truncated = _walk(root, MAX_ARTIFACTS)
    entries: list[ArtifactEntry] = []
    buffers: list[bytes] = []
    for path, size in files:
        entry: ArtifactEntry = {"path": path, "size": size}
        mime = IMAGE_TYPES.get(os.path.splitext(path)[1].lower())
        if mime and size <= MAX_PREVIEW_BYTES and len(buffers) < MAX_PREVIEWS:
            try:
                data = _artifacts.resolve(root, path).read_bytes()
            except OSError:
                data = None
            if data is not None:
                entry["mime"] = mime
                entry["preview"] = len(buffers)
                buffers.append(data)
        entries.append(entry)
    return entries, buffers, truncated


def run_detail(store: Store, run_id: str) -> tuple[RunDetail, list[bytes]]:
    """What the detail pane shows about ``run_id``, and the image previews' bytes.

    Raises
    ------
    RunNotFoundError
        If the store has no such run.
    """
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFoundError(f"run id must be a non-empty string, got {run_id!r}")
    run = get_run(store, run_id)
    if run is None:
        raise RunNotFoundError(f"no run with id {run_id!r} in store {store.root}")
    artifacts, buffers, truncated = artifact_entries(store, run_id)
    info = run.info
    detail: RunDetail = {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "experiment_id": info.experiment_id, "user_id": info.user_id,
        "start_time": info.start_time, "end_time": info.end_time,
        "params": sorted(run.data.params.items()),
        "metrics": sorted(run.data.metrics.items()),
        "tags": sorted(run.data.tags.items()),
        "artifacts": artifacts, "artifacts_truncated": truncated,
    }
    return detail, buffers
