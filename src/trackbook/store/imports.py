"""Writing runs that already exist elsewhere: given ids, times and whole metric histories.

Importers (``trackbook import-mlflow``) use this instead of the tracking API, which stamps
runs with new ids and the current time. Everything still goes through this process's
writer machinery, so the concurrency and crash rules hold unchanged:

- metadata are records appended to this process's own log (``run_start`` with the original
  start time, ``params``, ``tags``, ``status`` with the original end time, ``lifecycle``);
- metric points become Parquet chunks ``c-<writer>-<seq>.parquet`` written to a temp name
  and renamed, each followed by its ``metrics`` record, with chunk numbers taken from the
  session's per-run counter (so a run that is also logged to in this process never reuses a
  number);
- experiments are claimed by name with an exclusive create, keeping their creation time.

A crash leaves whole files and whole log lines: an importer that runs again sees what was
written (the catalog, and the Parquet files themselves) and adds only what is missing.
Records are appended only by :meth:`ImportWriter.flush`, in one write, after every chunk
file before them is in place, so a caller that flushes between whole runs never shows a
half-imported run; :meth:`ImportWriter.discard` drops what was written since the last
flush (records and chunk files) when a run cannot be completed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from . import durable
from . import metrics as _metrics
from .durable import DiskWriteError
from .events import now_ms

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from .store import Store

# Threads writing metric chunk files (Parquet encoding and file I/O release the GIL).
WRITE_THREADS = 2


def claim_experiment(store: Store, name: str, experiment_id: str | None,
                     creation_time: int | None) -> tuple[str, bool]:
    """Claim experiment ``name`` with the given id (if free) and creation time.

    Returns (experiment id, whether this call created it). An experiment of that name that
    exists already wins: its id is returned and nothing is changed. When ``experiment_id``
    is taken by another experiment, a fresh id is used.
    """
    from .store import Store

    if experiment_id is None or store.experiment_by_id(experiment_id) is not None:
        experiment_id = str(uuid.uuid4().int >> 80)
    if type(store).create_experiment is not Store.create_experiment:
        # A store that claims names elsewhere (object storage): its own claim, created now.
        return store.create_experiment(name, None, experiment_id)
    store.layout.ensure()
    record = {"experiment_id": experiment_id, "name": name, "artifact_location": None,
              "creation_time": creation_time if creation_time is not None else now_ms()}
    data = json.dumps(record).encode()
    what = f"the experiment {name!r}"
    if durable.create_exclusive(store.layout.experiment_name_claim(name), data, what=what):
        durable.write_atomic(store.layout.experiment_file(experiment_id), data, what=what)
        return experiment_id, True
    for _ in range(100):  # the winner's claim is complete once it exists (hard link)
        existing = store.experiment_by_name(name)
        if existing is not None:
            return str(existing["experiment_id"]), False
        time.sleep(0.01)
    raise OSError(f"experiment {name!r} is claimed but unreadable in {store.root}")


def string_column(words: list[str], codes: np.ndarray) -> pa.Array:
    """A string column whose row i is ``words[codes[i]]`` (no Python object per row)."""
    import numpy as np
    import pyarrow as pa

    n = len(codes)
    if len(words) == 1:  # a run id column: one word repeated, straight from buffers
        word = words[0].encode("utf-8")
        if len(word) * n < 2**31:
            offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(word))
            return pa.Array.from_buffers(pa.string(), n, [
                None, pa.py_buffer(offsets), pa.py_buffer(word * n)])
    indices = pa.array(np.asarray(codes, np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(words, pa.string())).cast(pa.string())


def points_table(run_id: str, key_names: list[str], key_codes: np.ndarray,
                 values: np.ndarray, steps: np.ndarray, stamps: np.ndarray) -> pa.Table:
    """The metric-file table of one run from numpy columns (no per-point Python objects).

    ``key_codes[i]`` indexes ``key_names``; the other arrays are float64 / int64.
    """
    import numpy as np
    import pyarrow as pa

    n = len(values)
    codes = np.asarray(key_codes, np.int64)
    return pa.Table.from_arrays(
        [string_column([run_id], np.zeros(n, np.int64)), string_column(key_names, codes),
         pa.array(np.asarray(values, np.float64)), pa.array(np.asarray(steps, np.int64)),
         pa.array(np.asarray(stamps, np.int64))],
        schema=_metrics._schema(),
    )


class ImportWriter:
    """Writes imported runs into ``store`` through this process's writer session.

    Records are buffered and appended in one write by :meth:`flush` (or :meth:`close`),
    once every chunk file before them is in place; :meth:`discard` drops them instead.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.session = store.session
        self._records: list[dict[str, Any]] = []
        self._touched: set[str] = set()
        self._pool = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="trackbook-import")
        self._pending: list[Future[Any]] = []
        # (run, chunk file) written since the last flush: what discard() removes
        self._written: list[tuple[str, str]] = []

    def _add(self, record: dict[str, Any]) -> None:
        record.setdefault("t", now_ms())
        self._records.append(record)

    def record(self, op: str, **fields: Any) -> None:
        """Buffer any other record (e.g. an MLflow 3 logged model's ``model_create``,
        :mod:`trackbook.store.fold_models`), appended by :meth:`flush`."""
        self._add({"op": op, **fields})

    def start_run(self, run_id: str, experiment_id: str, name: str | None,
                  start_time: int | None, user: str | None, parent_run_id: str | None) -> None:
        """A run with a given id and start time (status RUNNING until :meth:`status`)."""
        self._add({"op": "run_start", "run": run_id, "exp": experiment_id, "name": name,
                   "start": start_time, "user": user, "parent": parent_run_id,
                   "artifact_uri": str(self.store.layout.artifacts_dir(run_id))})

    def params(self, run_id: str, data: dict[str, str]) -> None:
        if data:
            self._add({"op": "params", "run": run_id, "data": data})

    def tags(self, run_id: str, data: dict[str, str]) -> None:
        if data:
            self._add({"op": "tags", "run": run_id, "data": data})

    def inputs(self, run_id: str, experiment_id: str, datasets: list[dict[str, Any]],
               models: list[str]) -> None:
        """Dataset inputs (records of ``tracking.inputs.dataset_record``) and model ids."""
        if datasets or models:
            self._add({"op": "inputs", "run": run_id, "exp": experiment_id,
                       "datasets": datasets, "models": models})

    def status(self, run_id: str, status: str, end_time: int | None) -> None:
        """The run's status (FINISHED, FAILED, KILLED or SCHEDULED) and original end time
        (None stays None)."""
        self._add({"op": "status", "run": run_id, "status": status, "end": end_time})

    def lifecycle(self, run_id: str, stage: str) -> None:
        self._add({"op": "lifecycle", "run": run_id, "stage": stage})

    def experiment_tags(self, experiment_id: str, data: dict[str, str]) -> None:
        if data:
            self._add({"op": "experiment_tags", "exp": experiment_id, "data": data})

    def experiment_deleted(self, experiment_id: str, when: int | None) -> None:
        self._add({"op": "experiment_update", "exp": experiment_id,
                   "fields": {"lifecycle_stage": "deleted",
                              "last_update_time": when if when is not None else now_ms()}})

    def points(self, run_id: str, table: pa.Table,
               summary: dict[str, list[Any]] | None = None) -> int:
        """Write ``table`` (see :func:`points_table`) as one chunk of the run; return its size.

        The chunk number comes from the session's buffer of the run under its flush lock,
        so it never clashes with points this process logs to the same run. Files are written
        by a small thread pool (Parquet encoding releases the GIL); their records are
        appended only once every file before them is in place (:meth:`flush`).
        """
        if table.num_rows == 0:
            return 0
        buf = self.session.buffer(run_id)
        with buf.flush_lock:
            name = _metrics.chunk_name(self.session.writer_id, buf.seq)
            buf.seq += 1
            buf.chunks += 1
        self._touched.add(run_id)
        self._written.append((run_id, os.path.join(buf.directory, name)))
        self._pending.append(self._pool.submit(_metrics.write_chunk, buf.directory, name, table))
        self._add({"op": "metrics", "run": run_id, "file": name, "n": table.num_rows,
                   "sum": summary if summary is not None else _metrics.summarize(table)})
        return int(table.num_rows)

    def index_chunk(self, run_id: str, name: str, table: pa.Table) -> None:
        """Log the ``metrics`` record of a chunk file that is in place but was never logged
        (its writer died in between: a crash loses no flushed point, and this makes the
        catalog count it again)."""
        self._touched.add(run_id)
        self._add({"op": "metrics", "run": run_id, "file": name, "n": table.num_rows,
                   "sum": _metrics.summarize(table)})

    def flush(self) -> None:
        """Wait for the chunk files, then append the buffered records to this process's log
        (a chunk's record never precedes its file)."""
        pending, self._pending = self._pending, []
        failed: BaseException | None = None
        for f, (_run, path) in zip(pending, self._written[-len(pending):] if pending else [],
                                   strict=True):
            try:
                f.result()  # wait for every file, even after one failed
            except DiskWriteError as exc:
                failed = failed or exc
            except OSError as exc:
                failed = failed or DiskWriteError(path, "a metric chunk", exc)
            except BaseException as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        records, self._records = self._records, []
        if records:
            self.session.log.append(records)
            self._push({r["run"] for r in records if "run" in r})
        self._written = []

    def discard(self) -> None:
        """Forget everything since the last :meth:`flush`: the buffered records are dropped
        and the chunk files written meanwhile removed, so none of it ever shows (a failed
        import leaves no half run; running it again writes the points again)."""
        pending, self._pending = self._pending, []
        for f in pending:
            with contextlib.suppress(Exception):
                f.result()
        self._records = []
        written, self._written = self._written, []
        for run_id, path in written:
            folder, name = os.path.split(path)
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                for left in os.listdir(folder):  # a temp file the failed write left
                    if left.startswith(f".{name}") and left.endswith(".tmp"):
                        os.unlink(os.path.join(folder, left))
            self._touched.discard(run_id)
            buf = self.session.buffers.pop(run_id, None)
            if buf is not None:  # its chunk count must not trigger a compaction
                self.session._next_seq[run_id] = buf.seq

    def _push(self, run_ids: set[str]) -> None:
        """A store synced with object storage uploads what was just written (its pusher,
        see ``push.py``, is told which runs changed, then pushes once per batch)."""
        pusher = getattr(self.session, "pusher", None)
        if pusher is not None:
            for run_id in run_ids:
                pusher.recorded("import", {"run": run_id})
            pusher.push()

    def close(self) -> None:
        """Flush, then let the session compact runs that now have many metric files."""
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)
        touched, self._touched = self._touched, set()
        for run_id in touched:
            self.session.close_run(run_id)
        self._push(touched)  # compactions, and the artifacts copied since the last batch
