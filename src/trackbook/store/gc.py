"""Garbage collection: permanently remove runs marked deleted (``trackbook gc``).

``Client.delete_run`` only records ``{"op": "lifecycle", "stage": "deleted"}``; the
run's files stay until ``collect_garbage`` removes ``runs/<id>/`` (metric files and
artifacts) and appends ``{"op": "purge", "run": id}`` to this process's log. The
catalog forgets a purged run, and a rebuild from the logs does not bring it back.

Files go first, then the purge record: a gc killed in between leaves a deleted run
without files, which the next gc finishes (removing a missing folder is a no-op).

On an ``s3://`` store (:class:`~trackbook.store.s3store.S3Store`) gc pulls first, deletes
the run's objects (``runs/<id>/...``) from the bucket before the replica's folder, and
pushes the purge record before it returns, so every machine's catalog forgets the run at
its next pull. Other machines' replicas keep the copies they had downloaded (nothing reads
them any more) until their replica folder is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import StoreError
from . import events

if TYPE_CHECKING:
    from .layout import Layout
    from .objects import Objects
    from .store import Store

log = logging.getLogger(__name__)

_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class GcRun:
    """A deleted run that gc looked at."""

    run_id: str
    experiment_id: str
    run_name: str | None
    status: str
    #: Bytes of ``runs/<id>/`` (metric files and artifacts) when gc looked.
    size: int
    #: When the run was last marked deleted (ms since the epoch), if known.
    deleted_time: int | None = None


@dataclass
class GcResult:
    """What :func:`collect_garbage` did (or, with ``dry_run``, would do)."""

    dry_run: bool
    #: Runs removed (or that would be removed).
    purged: list[GcRun] = field(default_factory=list)
    #: Deleted runs left alone, with the reason (still RUNNING, too recent, unsafe id).
    skipped: list[tuple[GcRun, str]] = field(default_factory=list)
    #: Runs whose removal failed, with the error; they stay deleted for the next gc.
    failed: list[tuple[GcRun, str]] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(r.size for r in self.purged)


def collect_garbage(store: Store, older_than_days: float | None = None,
                    dry_run: bool = False, now_ms: int | None = None) -> GcResult:
    """Permanently delete the runs whose lifecycle stage is ``deleted``.

    Parameters
    ----------
    store
        The store to clean.
    older_than_days
        Only runs marked deleted at least this many days ago (default: all).
    dry_run
        Report what would be deleted, change nothing.
    now_ms
        The current time in ms (for tests); default: the clock.

    Returns
    -------
    GcResult
        Purged, skipped and failed runs. A deleted run that is still RUNNING (its
        writer process is alive) is never removed: it is listed in ``skipped``.

    Examples
    --------
    >>> result = collect_garbage(Store("trackbook-store"), dry_run=True)  # doctest: +SKIP
    >>> [r.run_id for r in result.purged]  # doctest: +SKIP
    """
    layout = store.layout
    objects = _bucket(store)
    if objects is not None:
        store.pull(force=True)  # type: ignore[attr-defined]
    with store.catalog.connect() as con:
        rows = con.execute(
            "SELECT run_id, experiment_id, run_name, status FROM runs "
            "WHERE lifecycle_stage = 'deleted' ORDER BY start_time, run_id").fetchall()
    if not rows:
        return GcResult(dry_run)
    deleted_at: dict[str, int] = {}
    if older_than_days is not None:
        deleted_at = deletion_times(layout, {r[0] for r in rows})
    now = now_ms if now_ms is not None else events.now_ms()
    cutoff = None if older_than_days is None else now - older_than_days * _DAY_MS
    result = GcResult(dry_run)
    for run_id, experiment_id, run_name, status in rows:
        safe = _SAFE_RUN_ID.fullmatch(run_id) is not None
        size = 0
        if safe:
            size = (bucket_size(objects, run_id) if objects is not None
                    else tree_size(layout.run_dir(run_id)))
        run = GcRun(run_id, experiment_id, run_name, status, size, deleted_at.get(run_id))
        if not safe:
            result.skipped.append((run, "its id is not a plain folder name"))
        elif status == "RUNNING":
            result.skipped.append((run, "it is still RUNNING (its process is alive); "
                                        "end it, then run gc again"))
        elif cutoff is not None and (run.deleted_time is None or run.deleted_time > cutoff):
            result.skipped.append((run, f"it was deleted less than {older_than_days:g} "
                                        "days ago"))
        elif dry_run:
            result.purged.append(run)
        else:
            try:
                if objects is not None:
                    remove_run_objects(objects, run_id)
                remove_run_files(layout, run_id)
                store.session.record("purge", run=run_id)
            except (OSError, StoreError) as exc:
                log.warning("could not purge run %s: %s", run_id, exc)
                result.failed.append((run, str(exc)))
            else:
                result.purged.append(run)
    if result.purged and not dry_run:
        if objects is not None:
            store.session.flush_all()  # the purge records reach the bucket now
        with store.catalog.connect():
            pass  # fold the purge records in now, so the next reader starts clean
    return result


def _bucket(store: Store) -> Objects | None:
    """The object store behind ``store`` (an s3:// store), else None."""
    objects = getattr(store, "objects", None)
    return objects if objects is not None and hasattr(store, "pull") else None


def bucket_size(objects: Objects, run_id: str) -> int:
    """Total size in bytes of the run's objects in the bucket."""
    return sum(o.size for o in objects.list(f"runs/{run_id}/"))


def remove_run_objects(objects: Objects, run_id: str) -> None:
    """Delete the run's objects (``runs/<run_id>/...``) from the bucket."""
    if _SAFE_RUN_ID.fullmatch(run_id) is None:
        raise ValueError(f"refusing to remove objects of run id {run_id!r}")
    keys = [o.key for o in objects.list(f"runs/{run_id}/")]
    if len(keys) > 1:
        with ThreadPoolExecutor(min(16, len(keys))) as pool:
            list(pool.map(objects.delete, keys))
    elif keys:
        objects.delete(keys[0])


def remove_run_files(layout: Layout, run_id: str) -> None:
    """Remove ``runs/<run_id>/``; a symlink is unlinked, never followed."""
    if _SAFE_RUN_ID.fullmatch(run_id) is None:
        raise ValueError(f"refusing to remove files of run id {run_id!r}")
    path = layout.run_dir(run_id)
    if path.is_symlink():
        path.unlink()
        return
    # Already gone when an earlier gc was interrupted before its purge record.
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def tree_size(path: Path) -> int:
    """Total size in bytes of the files under ``path`` (symlinks count as themselves)."""
    if path.is_symlink():
        return path.lstat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue  # a writer renamed a temp file or compacted meanwhile
    return total


def deletion_times(layout: Layout, run_ids: set[str]) -> dict[str, int]:
    """When each of ``run_ids`` was last marked deleted, from the writer logs (ms).

    The catalog does not keep this time, so the logs are scanned; only lines with a
    ``lifecycle`` op are decoded.
    """
    t0 = time.perf_counter()
    found: dict[str, tuple[int, str]] = {}
    for _writer, path in events.iter_logs(layout):
        try:
            with open(path, "rb") as f:
                lines = [ln for ln in f if b'"lifecycle"' in ln]
        except FileNotFoundError:
            continue
        for rec in _decode(lines):
            run_id = rec.get("run")
            if rec.get("op") != "lifecycle" or run_id not in run_ids:
                continue
            t = int(rec.get("t", 0))
            if run_id not in found or t >= found[run_id][0]:
                found[run_id] = (t, str(rec.get("stage")))
    log.debug("scanned logs for deletion times in %.3fs", time.perf_counter() - t0)
    return {run_id: t for run_id, (t, stage) in found.items() if stage == "deleted"}


def _decode(lines: list[bytes]) -> list[dict[str, object]]:
    """The records of whole log lines (framed or not; damaged ones are skipped here, the
    catalog's reader reports them)."""
    # a torn tail of a killed writer has no newline yet
    return events.parse_lines(b"".join(ln for ln in lines if ln.endswith(b"\n")), warn=False)
