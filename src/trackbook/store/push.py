"""The writer side of an object-store replica: :class:`Pusher` uploads what one writer
process wrote (see :mod:`trackbook.store.sync` for the protocol), and
:func:`recover_dead_writers` what dead writers of the replica left unpushed."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._errors import TrackbookWarning
from . import durable, events
from .layout import Layout
from .objects import Objects
from .pull import fetch_artifacts, fetch_run_metrics
from .sync import (
    files_of,
    own_dir,
    parse_records,
    ready_models,
    rel_key,
    replica_lock,
    segment_key,
    sync_dir,
)

log = logging.getLogger(__name__)

_WARN_EVERY_SECONDS = 60.0
_INLINE_BYTES = 64 << 10  # a last segment this small also rides in the heartbeat
ARTIFACT_SECONDS = 10.0  # a running run's artifact folder is walked at most this often
# A run end wakes the background push at most this long after the previous push began,
# so a loop of short runs shares pushes (a segment and a heartbeat) between several runs.
PUSH_GAP_SECONDS = float(os.environ.get("TRACKBOOK_S3_PUSH_GAP_SECONDS", "0.2"))


class Pusher:
    """Uploads what one writer process writes into the replica (see the module docstring).

    Never raises into a training loop: a failed push warns and is retried by the next one
    (everything stays in the replica meanwhile).
    """

    def __init__(self, layout: Layout, objects: Objects, writer_id: str,
                 on_start: Callable[[], None] | None = None,
                 wake: Callable[[], None] | None = None) -> None:
        self.layout = layout
        self._wake = wake
        self.objects = objects
        self.writer_id = writer_id
        self._on_start = on_start
        self._lock = threading.RLock()
        self._state_file = own_dir(layout) / f"{writer_id}.json"
        self._offset = 0  # bytes of our log that are in the bucket
        self._seq = 0  # next segment number
        self._marked = False
        self._beat_mtime = 0
        self._touched: set[str] = set()  # runs whose artifacts we upload
        self._artifacts: dict[str, dict[str, tuple[int, int]]] = {}  # run -> rel -> (size, mtime)
        self._last_warning = 0.0
        self._recovered = False
        self._once: set[str] = set()  # content-addressed files already put
        self._last: bytes | None = None  # the last segment, when small
        self._walked: dict[str, float] = {}  # run -> when its artifacts were last walked
        self._models: set[str] = set()  # logged models created here (their files are ours)
        self._ready: set[str] = set()  # logged models whose READY record we pushed
        self._model_files: dict[str, tuple[int, int]] = {}  # key -> (size, mtime) put
        self._push_began = -1e9
        self._timer_lock = threading.Lock()
        self._timer_due = False

    # -- hooks called by WriterSession ------------------------------------------------------

    def recorded(self, op: str, fields: dict[str, Any]) -> None:
        """A record was appended: start the background flusher once; at run end, have it
        push at once (without waiting for it: a loop of short runs is not held up by
        a round trip per run; exit and ``tb.flush()`` push synchronously)."""
        if not self._marked:
            with self._lock:
                self._mark()  # the replica's log of ours, should we die before a push
        if self._on_start is not None:
            start, self._on_start = self._on_start, None
            start()
        run_id = fields.get("run")
        if run_id:
            self._touched.add(run_id)
        if op == "model_create" and isinstance(fields.get("model"), str):
            self._models.add(fields["model"])
        if op == "resume" and run_id:
            # Continue the run's metric files (a compaction here must not reuse a name).
            self._quietly(lambda: (fetch_run_metrics(self.layout, self.objects, run_id),
                                   fetch_artifacts(self.layout, self.objects, run_id)))
        elif op == "status" and fields.get("status") != "RUNNING":
            if self._wake is not None:
                self._wake_soon()
            else:
                self.push()

    def _wake_soon(self) -> None:
        """Wake the background push now, or (one timer at a time) PUSH_GAP_SECONDS after
        the last push began."""
        delay = self._push_began + PUSH_GAP_SECONDS - time.monotonic()
        if delay <= 0:
            self._wake()  # type: ignore[misc]
            return
        with self._timer_lock:
            if self._timer_due:
                return
            self._timer_due = True

        def fire() -> None:
            with self._timer_lock:
                self._timer_due = False
            self._wake()  # type: ignore[misc]

        timer = threading.Timer(delay, fire)
        timer.daemon = True  # exit pushes synchronously anyway
        timer.start()

    def push(self) -> None:
        """Upload everything new, now (returns when it is in the bucket or failed)."""
        self._quietly(self._push)

    def close(self) -> None:
        """Final push at exit, then a heartbeat saying this writer is done."""
        def final() -> None:
            self._push(all_artifacts=True)
            if self._beat_mtime:  # we wrote something: say goodbye
                self._put_beat(self.layout.writer_file(self.writer_id).read_bytes(),
                               closed=True, heartbeat=events.now_ms())
        self._quietly(final, at_exit=True)

    # -- the work ---------------------------------------------------------------------------

    def _quietly(self, fn: Callable[[], object], at_exit: bool = False) -> None:
        try:
            fn()
        except Exception as exc:
            if at_exit:
                log.error("trackbook could not upload to %s at exit (%s); what this process "
                          "wrote stays in %s and is uploaded by the next process that uses "
                          "it", self.objects.url, exc, self.layout.root)
                return
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY_SECONDS:
                self._last_warning = now
                warnings.warn(f"trackbook could not upload to {self.objects.url} ({exc}); "
                              f"the data is kept in {self.layout.root} and retried",
                              TrackbookWarning, stacklevel=3)

    def _mark(self) -> None:
        """Claim our log in the replica before anything of it reaches the bucket."""
        if not self._marked:
            self._save()
            self._marked = True

    def _save(self) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        durable.write_atomic(self._state_file, json.dumps(
            {"offset": self._offset, "seq": self._seq}).encode(),
            what="the push state", level=durable.FLUSH)

    def _push(self, all_artifacts: bool = False) -> None:
        with self._lock:
            self._push_began = time.monotonic()
            if not self._recovered:
                recover_dead_writers(self.layout, self.objects, skip=self.writer_id)
                self._recovered = True
            beat = self.layout.writer_file(self.writer_id)
            try:
                mtime = beat.stat().st_mtime_ns
            except FileNotFoundError:
                return  # nothing written yet (the log opens after its first heartbeat)
            self._mark()
            data, records = _read_new(self.layout, self.writer_id, self._offset)
            # Artifacts of the runs this segment speaks of: all of them when a run ends,
            # else walked at most every ARTIFACT_SECONDS (a folder may hold many files).
            now = time.monotonic()
            ended = {r["run"] for r in records if r.get("op") == "status" and r.get("run")}
            runs = {r["run"] for r in records if r.get("run")}
            if all_artifacts:
                runs |= self._touched.copy()
            for run_id in sorted(runs):
                if all_artifacts or run_id in ended or \
                        now - self._walked.get(run_id, -1e9) >= ARTIFACT_SECONDS:
                    self._walked[run_id] = now
                    self._push_artifacts(run_id)
            if all_artifacts and self._ready:
                # Files logged into a READY model after it was finalized.
                push_model_files(self.layout, self.objects, sorted(self._ready),
                                 self._model_files)
            if data:
                self._seq, self._offset, segment = push_records(
                    self.layout, self.objects, self.writer_id, self._seq, self._offset,
                    data, records, self._once, self._model_files)
                self._ready.update(ready_models(records))  # read on by push_records
                self._save()
                self._last = segment if len(segment) <= _INLINE_BYTES else None
            if data or mtime != self._beat_mtime:
                # After the segments: it tells readers how many there are to fetch.
                self._put_beat(beat.read_bytes())
                self._beat_mtime = mtime

    def _put_beat(self, local: bytes, **extra: Any) -> None:
        info = dict(json.loads(local), segments=self._seq, **extra)
        if self._last is not None:  # readers that keep up need no GET of the segment
            info["last"] = self._last.decode("utf-8")
        self.objects.put(f"writers/{self.writer_id}.json", json.dumps(info).encode())

    def _push_artifacts(self, run_id: str) -> None:
        root = self.layout.artifacts_dir(run_id)
        if not root.is_dir():
            return
        done = self._artifacts.setdefault(run_id, {})
        for path in _walk_files(root):
            try:
                st = path.stat()
                rel = path.relative_to(root).as_posix()
                sig = (st.st_size, st.st_mtime_ns)
                if done.get(rel) != sig:
                    self.objects.put(rel_key(self.layout, path), path.read_bytes())
                    done[rel] = sig
            except FileNotFoundError:  # replaced meanwhile: its successor is walked next time
                continue


def _walk_files(root: Path) -> Iterator[Path]:
    """Files under ``root``, skipping hidden names (temp files of writers in progress)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                yield Path(folder) / name


def _read_new(layout: Layout, writer_id: str, offset: int
              ) -> tuple[bytes, list[dict[str, Any]]]:
    """The complete lines of a writer's log after ``offset``, and their records."""
    try:
        with open(layout.log_file(writer_id), "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b"", []
    end = data.rfind(b"\n")
    if end < 0:
        return b"", []
    data = data[: end + 1]
    return data, parse_records(data)


def _damaged(layout: Layout, rel: str) -> bool:
    """Whether metric file ``rel`` is damaged (then warned about and not uploaded: the
    bucket's readers would skip it anyway; ``trackbook doctor`` lists it here)."""
    if not rel.endswith(".parquet"):
        return False
    from . import damaged

    path = str(layout.root / rel)
    return not damaged.usable([path]) or damaged.is_damaged(path)


def push_records(layout: Layout, objects: Objects, writer_id: str, seq: int, offset: int,
                 data: bytes, records: list[dict[str, Any]],
                 once: set[str] | None = None,
                 model_files: dict[str, tuple[int, int]] | None = None
                 ) -> tuple[int, int, bytes]:
    """Upload the files ``records`` name, then ``data`` as the next segment; return the next
    (seq, offset). A chunk compacted away meanwhile is replaced by the compacted file,
    whose record is then further on in the log: read on until it is in the segment.
    The files of the logged models that ``records`` make READY go up before the segment
    too (``model_files`` remembers what was put, to skip it next time)."""
    for _ in range(5):
        uploads, deletes, missing = files_of(layout, records)
        if not missing:
            break
        more, more_records = _read_new(layout, writer_id, offset + len(data))
        if not more:
            break
        data += more
        records += more_records
    uploads, deletes, missing = files_of(layout, records)
    for rel in missing:
        log.debug("metric file %s vanished before its upload", rel)

    def put_file(rel: str) -> None:
        if _damaged(layout, rel):
            return
        try:
            body = (layout.root / rel).read_bytes()
        except FileNotFoundError:  # compacted meanwhile: the compacted file has its points
            return
        objects.put(rel, body)

    # Plain files (a loop of short runs: one chunk per run) go up side by side, all
    # before the segment that names them.
    _parallel(put_file, [rel for rel, how in uploads if how == "put"])
    for rel, how in uploads:
        if how == "put" or _damaged(layout, rel):
            continue
        try:
            body = (layout.root / rel).read_bytes()
        except FileNotFoundError:  # compacted meanwhile: the compacted file has its points
            continue
        if how == "once":  # content-addressed: whoever put it first put the same bytes
            if once is None or rel not in once:
                objects.put_if_absent(rel, body)
                if once is not None:
                    once.add(rel)
        elif how == "exclusive" and not objects.put_if_absent(rel, body):
            # Two machines compacted one run at once: theirs stays, and so do the
            # files ours replaced (the reading rule keeps what theirs does not cover).
            log.warning("%s/%s exists with other content: another machine compacted "
                        "the same run at the same time. Keeping the files this one "
                        "replaced; points compacted here before their upload stay in "
                        "%s only", objects.url, rel, layout.root / rel)
            deletes = []
    # A reader fetches a model's files only once it sees the model READY: all of them are
    # in the bucket by then. A kill before the segment leaves our push state behind, so
    # the next process re-puts them with the segment (recover_dead_writers).
    push_model_files(layout, objects, ready_models(records), model_files)
    objects.put(segment_key(writer_id, seq), data)
    for rel in deletes:
        objects.delete(rel)
    return seq + 1, offset + len(data), data


def push_model_files(layout: Layout, objects: Objects, model_ids: list[str],
                     done: dict[str, tuple[int, int]] | None = None) -> None:
    """Upload the files of logged models ``model_ids`` from the replica (those not in
    ``done`` at their current size and mtime; ``done`` is updated), side by side."""
    todo: list[tuple[str, Path, tuple[int, int]]] = []
    for model_id in model_ids:
        root = layout.logged_model_artifacts(model_id)
        if not root.is_dir():  # finalized here, logged elsewhere (or external): none here
            continue
        for path in _walk_files(root):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            key, sig = rel_key(layout, path), (st.st_size, st.st_mtime_ns)
            if done is None or done.get(key) != sig:
                todo.append((key, path, sig))
    by_key = {key: (path, sig) for key, path, sig in todo}

    def put(key: str) -> None:
        path, sig = by_key[key]
        try:
            body = path.read_bytes()
        except FileNotFoundError:  # replaced meanwhile: its successor goes next time
            return
        objects.put(key, body)
        if done is not None:
            done[key] = sig

    _parallel(put, list(by_key))


def _parallel(fn: Callable[[str], None], items: list[str], threads: int = 8) -> None:
    """``fn(item)`` for every item, on up to ``threads`` threads; returns when all are done,
    raising the first error. Plain threads, not an executor: this runs at interpreter
    exit too, when executors refuse new work (falls back to one at a time if threads
    cannot start)."""
    if len(items) < 3:
        for item in items:
            fn(item)
        return
    todo = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            try:
                fn(item)
            except BaseException as exc:
                errors.append(exc)

    workers = [threading.Thread(target=work, daemon=True, name="trackbook-s3-put")
               for _ in range(min(threads, len(items)))]
    started = []
    try:
        for t in workers:
            t.start()
            started.append(t)
    except RuntimeError:  # no new threads now: the caller's thread does the rest
        pass
    if not started:
        work()
    for t in started:
        t.join()
    if errors:
        raise errors[0]


def recover_dead_writers(layout: Layout, objects: Objects, skip: str) -> None:
    """Push what dead writers of this replica wrote but did not upload (a kill, a lost
    network at exit). Their heartbeat is re-put so readers list their logs again."""
    own = own_dir(layout)
    try:
        names = [n[: -len(".json")] for n in os.listdir(own) if n.endswith(".json")]
    except FileNotFoundError:
        return
    with replica_lock(sync_dir(layout) / "pull.lock"):
        for writer_id in names:
            if writer_id == skip:
                continue
            state_file = own / f"{writer_id}.json"
            try:
                state = json.loads(state_file.read_bytes())
                size = layout.log_file(writer_id).stat().st_size
            except (FileNotFoundError, ValueError):
                continue
            if size <= state["offset"] or events.writer_alive(layout, writer_id):
                continue
            data, records = _read_new(layout, writer_id, state["offset"])
            if not data:
                continue
            log.info("uploading what dead writer %s left in %s", writer_id, layout.root)
            seq, offset, _ = push_records(layout, objects, writer_id, state["seq"],
                                          state["offset"], data, records)
            durable.write_atomic(state_file, json.dumps({"offset": offset, "seq": seq}).encode(),
                                 what="the push state", level=durable.FLUSH)
            beat = layout.writer_file(writer_id)
            with contextlib.suppress(FileNotFoundError, ValueError):
                info = json.loads(beat.read_bytes())
                info.update(recovered=events.now_ms(), segments=seq)
                objects.put(f"writers/{writer_id}.json", json.dumps(info).encode())
