"""Files are the truth: a dead writer's runs are checked against their metric files.

A writer killed between renaming a chunk and appending its record, or between linking a
compacted file and recording it, leaves files its log does not describe. Once such a
writer is found dead (it never said goodbye), the catalog's file list and latest metrics
of every run it wrote are made to follow the reading rule of :mod:`trackbook.store.metrics`
over the run's folder. Writers that exited cleanly (a ``bye`` record) are never checked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import metrics as _metrics
from .fold import bulk_upsert
from .layout import Layout

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)


def unsettled(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Writers that neither said goodbye nor were checked (those whose process is gone
    are for :func:`settle`)."""
    return {w for (w,) in con.execute("SELECT writer_id FROM writers WHERE settled = 0").fetchall()}


def settle(con: duckdb.DuckDBPyConnection, layout: Layout, dead: set[str],
           fetch: Callable[[list[str]], None] | None = None) -> None:
    """Check the runs of the ``dead`` writers against their folders, then mark them settled.

    ``fetch`` first brings the runs' metric files into their folders, where the folders
    are a replica's copy (an ``s3://`` store: the bucket, not the copy, is the truth).
    """
    if not dead:
        return
    known: dict[str, set[str]] = {}
    for run_id, file in con.execute(
            "SELECT w.run_id, f.file FROM (SELECT DISTINCT run_id FROM writer_runs "
            "WHERE list_contains(?, writer_id) AND run_id NOT IN "
            "(SELECT run_id FROM purged_runs)) w LEFT JOIN metric_files f USING (run_id)",
            [sorted(dead)]).fetchall():
        files = known.setdefault(run_id, set())
        if file is not None:
            files.add(file)
    if fetch is not None and known:
        try:
            fetch(sorted(known))
        except Exception as exc:  # the bucket is unreachable: check them on a later refresh
            log.warning("cannot fetch the metric files of a dead writer's runs: %s", exc)
            return
    for run_id in sorted(known):
        reconcile_run(con, layout, run_id, known[run_id])
    bulk_upsert(con, "writers", ["writer_id", "settled"], [(w, 1) for w in sorted(dead)])


def reconcile_run(con: duckdb.DuckDBPyConnection, layout: Layout, run_id: str,
                  known: set[str] | None = None) -> bool:
    """Make the catalog's files and latest metrics of ``run_id`` those its folder shows
    (``known``: the files the catalog lists, when the caller has them); return whether
    anything changed.

    Only what the folder proves is changed: a visible file the catalog lacks is added, a
    listed file that a present compacted file covers is dropped. A listed file that is
    simply absent (a replica that has not downloaded it) leaves the run as it is.
    """
    directory = layout.metrics_dir(run_id)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        names = []
    if known is None:
        known = {f for (f,) in con.execute(
            "SELECT file FROM metric_files WHERE run_id = ?", [run_id]).fetchall()}
    chunk_names = [n for n in names if n.endswith(".parquet") and not n.startswith(".")]
    if not chunk_names and not known:
        return False
    if set(chunk_names) == known and sum(n.startswith("m-") for n in chunk_names) <= 1:
        return False  # what the catalog lists is all there is (no covered file lingers)
    try:
        newest, chunks, covers = _metrics.pick_visible(
            chunk_names, lambda n: _metrics._covers(directory / n))
    except (OSError, ValueError) as exc:  # a damaged footer: leave it to `trackbook doctor`
        log.warning("cannot read the metric files of run %s: %s", run_id, exc)
        return False
    visible = set(chunks) | ({newest} if newest else set())
    if visible == known:
        return False
    hidden = set(_metrics.covered_by(sorted(known), _metrics.parse_compact(newest) or 0,
                                     covers)) if newest else set()
    if any(f not in visible and f not in hidden for f in known):
        return False  # a listed file is missing here: nothing to prove it gone
    try:
        table = _metrics.read_metrics(directory)
    except (OSError, ValueError) as exc:
        log.warning("cannot read the metric files of run %s: %s", run_id, exc)
        return False
    summary = _metrics.summarize(table) if table.num_rows else {}
    log.info("run %s: the catalog listed %s, its folder shows %s; following the folder",
             run_id, sorted(known), sorted(visible))
    con.execute("DELETE FROM metric_files WHERE run_id = ?", [run_id])
    bulk_upsert(con, "metric_files", ["run_id", "file"], [(run_id, f) for f in sorted(visible)])
    bulk_upsert(con, "adopted_files", ["run_id", "file"],
                [(run_id, f) for f in sorted(visible - known)], keep_existing=True)
    con.execute("DELETE FROM latest_metrics WHERE run_id = ?", [run_id])
    bulk_upsert(con, "latest_metrics",
                ["run_id", "key", "value", "step", "timestamp", "min", "max", "count"],
                [(run_id, k, s[5], s[3], s[4], s[1], s[2], s[0]) for k, s in summary.items()])
    return True
