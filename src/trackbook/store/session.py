"""The per-process writer: metric buffers, background flushing, the event log.

Logging a metric only appends a tuple to an in-memory buffer; a daemon thread
flushes buffers to Parquet chunks every ``flush_seconds`` or as soon as one holds
``flush_points`` points, and everything is flushed at ``end_run`` and interpreter exit.
A failed background flush (a full disk, say) warns and keeps the points for the next
attempt, so tracking I/O never stops a training loop; the flush at ``end_run`` raises
instead (:class:`~trackbook.store.durable.DiskWriteError`) and keeps the points too, so
ending the run again once space is free loses nothing.

Durability (``store/durable.py``): chunks and their records are fsynced at every flush
only under ``TRACKBOOK_DURABILITY=flush``; under the default ``commit`` a run's end
fsyncs the chunks it wrote since, its compacted file and the log (the final status
record), so everything logged before ``end_run`` returned survives a power cut.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from .._errors import TrackbookWarning
from . import durable
from . import metrics as _metrics
from .events import EventLog, now_ms
from .layout import Layout
from .owner import Owners

log = logging.getLogger(__name__)

FLUSH_POINTS = int(os.environ.get("TRACKBOOK_FLUSH_POINTS", "50000"))
FLUSH_SECONDS = float(os.environ.get("TRACKBOOK_FLUSH_SECONDS", "1.0"))
COMPACT_EVERY_CHUNKS = 100
# At run end, fewer files than this are left as they are: reading a handful of files
# costs less than rewriting every point once more.
COMPACT_AT_END_MIN_FILES = 6


class RunBuffer:
    """Buffered metric points of one run in this process.

    ``items`` is appended to without a lock: the flusher copies the first ``n`` items and
    deletes exactly those afterwards (``del items[:n]``), and both list operations are
    atomic, so a point appended meanwhile is never lost. The list object never changes,
    so hot loops may hold a reference to it.
    """

    __slots__ = ("chunks", "directory", "flush_lock", "items", "limit", "run_id", "seq",
                 "session", "unsynced")

    def __init__(self, session: WriterSession, run_id: str) -> None:
        self.session = session
        self.run_id = run_id
        self.directory = session.layout.metrics_dir(run_id)
        self.items: list[tuple[str, float, int, int]] = []
        self.flush_lock = threading.Lock()
        self.seq = 0
        self.chunks = 0
        # Buffer length at which the next writer-side check happens (see ``full``).
        self.limit = FLUSH_POINTS
        # Chunks written since the last durable point (fsynced at the run's end).
        self.unsynced: list[str] = []

    def add(self, key: str, value: float, step: int, timestamp: int) -> None:
        items = self.items
        items.append((key, value, step, timestamp))
        if len(items) >= self.limit:
            self.full()

    def extend(self, points: list[tuple[str, float, int, int]]) -> None:
        items = self.items
        items.extend(points)
        if len(items) >= self.limit:
            self.full()

    def full(self) -> None:
        """The buffer reached FLUSH_POINTS: wake the flusher once, or flush inline when the
        flusher has fallen far behind (bounded memory)."""
        self.flush()

    def flush(self, *, level: str = durable.FLUSH, strict: bool = False) -> int:
        """Write buffered points as one chunk; return how many were written.

        A failure warns and keeps the points buffered; with ``strict`` it raises (after
        keeping them). ``level`` is the durability point of the chunk and its record.
        """
        with self.flush_lock:
            n = len(self.items)
            if not n:
                return 0
            items = self.items[:n]
            session = self.session
            try:
                table = self._table(items)
                if table is not None:
                    name = _metrics.chunk_name(session.log.writer_id, self.seq)
                    _metrics.write_chunk(self.directory, name, table, level=level)
                    summary = _metrics.summarize(table)
                    session.log.append([{"op": "metrics", "t": now_ms(), "run": self.run_id,
                                         "file": name, "n": table.num_rows, "sum": summary}],
                                       level=level)
                    if not durable.wants_sync(level):
                        self.unsynced.append(name)
            except Exception as exc:
                if strict:
                    raise
                warnings.warn(f"trackbook could not flush {len(items)} metric points of run "
                              f"{self.run_id} ({exc}); they stay buffered and are retried",
                              TrackbookWarning, stacklevel=2)
                return 0
            del self.items[:n]
            self.limit = FLUSH_POINTS
            if table is None:
                return 0
            self.seq += 1
            self.chunks += 1
            if self.chunks >= COMPACT_EVERY_CHUNKS:
                self.compact_locked()
            return int(table.num_rows)

    def _table(self, items: list[tuple[str, float, int, int]]) -> Any:
        """Arrow table of the points; a point that cannot be stored (a step beyond int64,
        say) is dropped with a warning instead of blocking every later flush."""
        try:
            return _metrics.build_table(self.run_id, items)
        except (OverflowError, ValueError, TypeError):
            good = [p for p in items if _metrics.storable(p)]
            bad = [p for p in items if not _metrics.storable(p)]
            warnings.warn(f"trackbook dropped {len(bad)} metric point(s) of run {self.run_id} "
                          f"that cannot be stored, e.g. {bad[0]!r}: steps and timestamps "
                          "must fit in 64-bit integers", TrackbookWarning, stacklevel=3)
            return _metrics.build_table(self.run_id, good) if good else None

    def compact_locked(self) -> None:
        self.chunks = 0
        run_id = self.run_id
        log_ = self.session.log
        directory = self.directory

        def before_delete(result: dict[str, Any]) -> None:
            log_.append([{"op": "compact", "t": now_ms(), "run": run_id, **result}],
                        level=durable.COMMIT)

        try:
            if _metrics.compact(directory, before_delete=before_delete) is not None:
                self.unsynced.clear()
        except Exception as exc:  # compaction is an optimisation; never lose the run over it
            log.warning("compaction of run %s failed: %s", run_id, exc)

    def close(self) -> None:
        """Flush everything, and compact when the run left many files (run end); then
        fsync what the policy wants on disk at a run's end. Raises
        :class:`~trackbook.store.durable.DiskWriteError` if the last points cannot be
        written (they stay buffered)."""
        # The chunk is written unsynced and fsynced below with the others: the run's end
        # costs one fsync per file it wrote since, one of its folder and one of the log
        # (the status record, appended by the caller at COMMIT).
        self.flush(strict=True)
        with self.flush_lock:
            newest, chunks, _ = _metrics.visible_files(self.directory)
            if len(chunks) + (newest is not None) >= COMPACT_AT_END_MIN_FILES:
                self.compact_locked()
            if self.unsynced and durable.wants_sync(durable.COMMIT):
                for name in self.unsynced:
                    path = self.directory / name
                    try:
                        durable.sync_file(path)
                    except FileNotFoundError:  # compacted away meanwhile
                        pass
                    except OSError as exc:
                        raise durable.DiskWriteError(path, f"the metric chunk {name} of run "
                                                     f"{self.run_id}", exc) from exc
                durable.sync_dir(self.directory)
            self.unsynced.clear()


class WriterSession:
    """Everything one process writes into one store."""

    def __init__(self, layout: Layout) -> None:
        # pyarrow may first load at exit (a short script's only flush); it imports this
        # module, which registers an atexit hook and fails once shutdown has begun.
        import concurrent.futures.thread  # noqa: F401

        self.layout = layout
        self.log = EventLog(layout)
        self.owners = Owners(layout, self.log.writer_id)
        self.buffers: dict[str, RunBuffer] = {}
        self._next_seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set by a store kept in sync with object storage (store/push.py: Pusher): told of
        # every record, pushes after every flush, says goodbye at shutdown.
        self.pusher: Any = None

    @property
    def writer_id(self) -> str:
        return self.log.writer_id

    def record(self, op: str, **fields: Any) -> None:
        """Append one metadata record (run start, params, tags, status, ...) to the log.

        Raises :class:`~trackbook.store.durable.DiskWriteError` (naming the record) when
        the disk refuses it: an explicit call must not lose data silently.
        """
        self._record(op, fields, durable.FLUSH)

    def commit(self, op: str, **fields: Any) -> None:
        """Like :meth:`record`, at a durable point (a run's final status): the log is
        fsynced unless ``TRACKBOOK_DURABILITY=off``."""
        self._record(op, fields, durable.COMMIT)

    def _record(self, op: str, fields: dict[str, Any], level: str) -> None:
        fields.setdefault("t", now_ms())
        self.log.append([{"op": op, **fields}], level=level)
        if self.pusher is not None:
            self.pusher.recorded(op, fields)

    def buffer(self, run_id: str) -> RunBuffer:
        buf = self.buffers.get(run_id)
        if buf is None:
            with self._lock:
                buf = self.buffers.get(run_id)
                if buf is None:
                    buf = self.buffers[run_id] = RunBuffer(self, run_id)
                    # A run resumed in this process continues its chunk numbers: a reused
                    # number would overwrite a chunk or hide behind a compaction's covers.
                    buf.seq = self._next_seq.get(run_id, 0)
            self._ensure_thread()
        return buf

    def wake(self) -> None:
        self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="trackbook-flusher",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush_all()
            try:
                self.log.beat()
            except OSError as exc:  # DiskWriteError included
                log.warning("heartbeat failed: %s", exc)

    def flush_all(self, *, strict: bool = False) -> None:
        """Flush every run's buffer. A failure warns and keeps the points (the background
        flusher, reads); with ``strict`` (``tb.flush()``) the first failure raises."""
        for buf in list(self.buffers.values()):
            buf.flush(strict=strict)
        if self.pusher is not None:
            self.pusher.push()

    def close_run(self, run_id: str) -> None:
        """Flush and compact a run's metrics and forget its buffer."""
        buf = self.buffers.get(run_id)
        if buf is not None:
            buf.close()  # raises on a full disk, keeping the buffer for another try
            self.buffers.pop(run_id, None)
            self._next_seq[run_id] = buf.seq

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        for buf in list(self.buffers.values()):
            buf.flush()
        if self.log.opened:
            # Every file this process wrote has its record: readers need not check them.
            self.log.append([{"op": "bye", "t": now_ms()}])
        if self.pusher is not None:
            self.pusher.push()
            self.pusher.close()


_sessions: dict[Path, WriterSession] = {}
_sessions_lock = threading.Lock()


def session_for(layout: Layout) -> WriterSession:
    """The writer session of this process for the store at ``layout``."""
    s = _sessions.get(layout.root)
    if s is None:
        with _sessions_lock:
            s = _sessions.get(layout.root)
            if s is None:
                s = _sessions[layout.root] = WriterSession(layout)
    return s


def _flush_at_exit() -> None:
    for s in list(_sessions.values()):
        try:
            s.shutdown()
        except Exception as exc:  # at exit nobody can handle it; say what was lost
            log.error("trackbook could not flush at exit: %s", exc)


def _forget_in_child() -> None:
    # A forked child is a new writer: it must not append to its parent's log.
    global _sessions, _sessions_lock
    _sessions = {}
    _sessions_lock = threading.Lock()


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
