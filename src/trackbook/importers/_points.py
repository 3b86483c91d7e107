"""Metric histories of imported runs: whole batches of runs written as Parquet chunks.

New runs are written straight from the source's numpy columns: a batch is sorted and
summarised at once and each run's chunk is a slice of one Arrow table. A run trackbook
has already is compared point by point (a multiset: a point MLflow holds twice is kept
twice) with its metric files, so only missing points are written, and chunk files an
earlier import wrote but never logged (it was killed) are logged now instead of written
again.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING

from ._checks import key_problem
from ._source import MetricBatch, Points, Source
from ._summary import ImportSummary

if TYPE_CHECKING:
    from ..store.imports import ImportWriter
    from ..store.store import Store


class MetricImport:
    """Writes the metric points of imported runs (see the module docstring)."""

    def __init__(self, store: Store, source: Source, writer: ImportWriter,
                 summary: ImportSummary) -> None:
        from ..store import metrics as _metrics

        self.store = store
        self.source = source
        self.writer = writer
        self.summary = summary
        self.schema = _metrics._schema()
        # metric files the catalog knows, per run already in trackbook
        self.indexed: dict[str, set[str]] = {}

    def on_disk(self, run_id: str) -> bool:
        """Whether a run unknown to the catalog has metric files already (an import killed
        before it logged the run): its points are then compared, not written again."""
        try:
            names = os.listdir(self.store.layout.metrics_dir(run_id))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return any(n.endswith(".parquet") for n in names)  # artifacts alone are not points

    def write(self, new_ids: list[str], old_ids: list[str],
              tb_counts: dict[str, dict[str, int]]) -> None:
        """Write every point of ``new_ids``; for ``old_ids`` (runs trackbook has) only the
        points missing, when their counts per key differ from ``tb_counts`` (catalog)."""
        s = self.summary
        todo = list(new_ids)
        if old_ids:
            src_counts = self.source.metric_counts(old_ids)
            for run_id in old_ids:
                theirs, ours = src_counts.get(run_id, {}), tb_counts.get(run_id, {})
                if theirs == ours:
                    s.had("metric points", sum(theirs.values()))
                else:
                    todo.append(run_id)
        grow = set(todo) - set(new_ids)
        for run_id in grow:
            self._index_orphans(run_id)
        for batch in self.source.metrics(todo):
            self._write_batch(self._checked(batch), grow)

    def _checked(self, batch: MetricBatch) -> MetricBatch:
        """``batch`` without the metrics whose key fails the checks (those are listed)."""
        import numpy as np

        bad = {k: why for k in set(batch.keys) if (why := key_problem("metric", k))}
        if not bad:
            return batch
        keep = np.array([k not in bad for k in batch.keys], np.bool_)
        for run_id, key in zip(batch.runs, batch.keys, strict=True):
            if key in bad:
                self.summary.skip("metric points", f"{run_id} {key!r}", bad[key])
        rows = np.repeat(keep, batch.sizes)
        return MetricBatch([r for r, k in zip(batch.runs, keep, strict=True) if k],
                           [r for r, k in zip(batch.keys, keep, strict=True) if k],
                           batch.sizes[keep], batch.values[rows], batch.steps[rows],
                           batch.stamps[rows])

    def _write_batch(self, batch: MetricBatch, grow: set[str]) -> None:
        """Write each new run of ``batch`` as one chunk: the batch's columns are sorted and
        summarised at once, and each run's chunk is a slice of one Arrow table."""
        import numpy as np

        from ..store.imports import points_table, string_column

        s = self.summary
        ranges = batch.run_ranges()
        for run_id, g0, g1 in ranges:
            if run_id in grow:
                pts = batch.points(g0, g1)
                before = len(pts)
                pts = self._missing_points(run_id, pts)
                s.had("metric points", before - len(pts))
                if len(pts):
                    order = np.lexsort((pts.stamps, pts.steps, pts.codes))
                    table = points_table(run_id, pts.keys, pts.codes[order], pts.values[order],
                                         pts.steps[order], pts.stamps[order])
                    s.add("metric points", self.writer.points(run_id, table))
        new = [r for r in ranges if r[0] not in grow]
        if not new:
            return
        import pyarrow as pa

        sizes = batch.sizes
        groups = len(sizes)
        group_of_row = np.repeat(np.arange(groups, dtype=np.int64), sizes)
        order = np.lexsort((batch.stamps, batch.steps, group_of_row))  # stable: ties keep order
        values, steps, stamps = batch.values[order], batch.steps[order], batch.stamps[order]
        off = batch.offsets
        with np.errstate(invalid="ignore"):
            mins = np.fmin.reduceat(values, off[:-1]).tolist()
            maxs = np.fmax.reduceat(values, off[:-1]).tolist()
        last = off[1:] - 1
        last_steps, last_stamps = steps[last].tolist(), stamps[last].tolist()
        last_values = values[last].tolist()
        keys = string_column(batch.keys, group_of_row)
        values_col, steps_col, stamps_col = pa.array(values), pa.array(steps), pa.array(stamps)
        counts = sizes.tolist()
        starts = off.tolist()
        for run_id, g0, g1 in new:
            summary = {batch.keys[g]: [counts[g], None if mins[g] != mins[g] else mins[g],
                                       None if maxs[g] != maxs[g] else maxs[g], last_steps[g],
                                       last_stamps[g], last_values[g]] for g in range(g0, g1)}
            a, n = starts[g0], starts[g1] - starts[g0]
            table = pa.Table.from_arrays(
                [string_column([run_id], np.zeros(n, np.int32)), keys.slice(a, n),
                 values_col.slice(a, n), steps_col.slice(a, n), stamps_col.slice(a, n)],
                schema=self.schema)
            s.add("metric points", self.writer.points(run_id, table, summary))

    def _index_orphans(self, run_id: str) -> None:
        """Log the chunks of ``run_id`` that no record names, when their writer is dead."""
        from ..store import metrics as _metrics
        from ..store.events import writer_alive

        directory = self.store.layout.metrics_dir(run_id)
        _, chunks, _ = _metrics.visible_files(directory)
        known = self.indexed.get(run_id, set())
        for path in chunks:
            if path.name in known:
                continue
            writer = path.name[2:-len(".parquet")].rpartition("-")[0]
            if writer == self.store.session.writer_id or writer_alive(self.store.layout,
                                                                      writer):
                continue  # a live writer logs its own chunk
            import pyarrow.parquet as pq

            self.writer.index_chunk(run_id, path.name, pq.read_table(path).cast(self.schema))
            self.summary.skip("metric points", f"{run_id}/{path.name}",
                              "written by an earlier import that stopped before logging it; "
                              "indexed now (no point written twice)")

    def _missing_points(self, run_id: str, pts: Points) -> Points:
        """The points of ``pts`` that the run's metric files lack (as a multiset: a point
        MLflow holds twice is kept twice)."""
        import numpy as np

        ours = self.store.metric_history(run_id)
        have = Counter(zip(ours["key"].to_pylist(), ours["step"].to_pylist(),
                           ours["timestamp"].to_pylist(),
                           ours["value"].to_numpy().view(np.int64).tolist(), strict=True))
        keep = np.zeros(len(pts), np.bool_)
        bits = pts.values.view(np.int64)
        for i, (code, step, ts, b) in enumerate(zip(pts.codes.tolist(), pts.steps.tolist(),
                                                    pts.stamps.tolist(), bits.tolist(),
                                                    strict=True)):
            k = (pts.keys[code], step, ts, b)
            if have[k] > 0:
                have[k] -= 1
            else:
                keep[i] = True
        return Points(pts.keys, pts.codes[keep], pts.values[keep], pts.steps[keep],
                      pts.stamps[keep])
