"""Keep a local replica of a store in step with an object store (S3): push and pull.

A store at ``s3://bucket/prefix`` is used through a local *replica*: an ordinary store
folder (``store/layout.py``) under a cache directory, on which every other store module
runs unchanged. This module moves immutable objects between the two:

- :class:`Pusher` (one per writer process) uploads what its process wrote, from the
  session's background flusher (every second, and at once when a run ends) and
  synchronously on ``tb.flush()`` and at exit: metric files and
  artifacts under the same relative keys, the heartbeat as ``writers/<writer>.json``, and
  the new complete lines of its log as an immutable segment
  ``log/<writer>/<seq:012d>.jsonl``. A segment is put only after the files its records
  name, and the heartbeat (with the number of segments) after the segments, so a reader
  that sees a record finds its file.
- :class:`Puller` (before a catalog refresh) lists ``writers/``, fetches the heartbeats
  that changed, fetches the segments they announce, and appends them in order to the
  replica's ``log/<writer>.jsonl``, where the catalog's byte-offset refresh reads them
  as if they had been written locally. Experiments are
  copied too. Metric files and artifacts are fetched lazily, when a reader needs a run's
  points or files (:func:`fetch_run_metrics`, :func:`fetch_artifacts`).

Several processes may share one replica: each writer marks its log as its own
(``sync/own/<writer>.json``, which also records how far it has pushed) so no puller
appends to it, and pullers take turns through a file lock. A writer that died before
pushing everything it wrote into the replica is pushed by the next process that uses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from .._errors import StoreError, TrackbookWarning
from . import events
from .layout import Layout, write_atomic
from .objects import ObjectNotFoundError, Objects

log = logging.getLogger(__name__)

# A reader lists the bucket at most this often (a query in a tight loop reuses the last pull).
PULL_SECONDS = float(os.environ.get("TRACKBOOK_S3_PULL_SECONDS", "0.5"))
_PARALLEL = 16
_WARN_EVERY_SECONDS = 60.0
_RANGE_BYTES = 64 << 20
_INLINE_BYTES = 64 << 10  # a last segment this small also rides in the heartbeat
ARTIFACT_SECONDS = 10.0  # a running run's artifact folder is walked at most this often
# A run end wakes the background push at most this long after the previous push began,
# so a loop of short runs shares pushes (a segment and a heartbeat) between several runs.
PUSH_GAP_SECONDS = float(os.environ.get("TRACKBOOK_S3_PUSH_GAP_SECONDS", "0.2"))


def segment_key(writer_id: str, seq: int) -> str:
    return f"log/{writer_id}/{seq:012d}.jsonl"


def _sync_dir(layout: Layout) -> Path:
    return layout.root / "sync"


def _own_dir(layout: Layout) -> Path:
    return _sync_dir(layout) / "own"


def _rel(layout: Layout, path: Path) -> str:
    return path.relative_to(layout.root).as_posix()


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """An exclusive lock between the processes sharing a replica (blocking)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def download(objects: Objects, key: str, path: Path, size: int | None = None) -> None:
    """Copy object ``key`` to ``path`` (whole or not at all: temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.dl")
    try:
        with open(tmp, "wb") as f:
            if size is None or size <= _RANGE_BYTES:
                f.write(objects.get(key))
            else:  # big artifacts: bounded memory
                for start in range(0, size, _RANGE_BYTES):
                    f.write(objects.get_range(key, start, _RANGE_BYTES))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- writers -------------------------------------------------------------------------------


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
        self._state_file = _own_dir(layout) / f"{writer_id}.json"
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
        write_atomic(self._state_file, json.dumps(
            {"offset": self._offset, "seq": self._seq}).encode())

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
            if data:
                self._seq, self._offset, segment = push_records(
                    self.layout, self.objects, self.writer_id, self._seq, self._offset,
                    data, records, self._once)
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
                    self.objects.put(_rel(self.layout, path), path.read_bytes())
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
    return data, _parse(data)


def _parse(data: bytes) -> list[dict[str, Any]]:
    try:
        return list(json.loads(b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]"))
    except ValueError:  # a damaged line (see events.read_records): keep the others
        out = []
        for line in data.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


def push_records(layout: Layout, objects: Objects, writer_id: str, seq: int, offset: int,
                 data: bytes, records: list[dict[str, Any]],
                 once: set[str] | None = None) -> tuple[int, int, bytes]:
    """Upload the files ``records`` name, then ``data`` as the next segment; return the next
    (seq, offset). A chunk compacted away meanwhile is replaced by the compacted file,
    whose record is then further on in the log: read on until it is in the segment."""
    for _ in range(5):
        uploads, deletes, missing = _files_of(layout, records)
        if not missing:
            break
        more, more_records = _read_new(layout, writer_id, offset + len(data))
        if not more:
            break
        data += more
        records += more_records
    uploads, deletes, missing = _files_of(layout, records)
    for rel in missing:
        log.debug("metric file %s vanished before its upload", rel)

    def put_file(rel: str) -> None:
        try:
            body = (layout.root / rel).read_bytes()
        except FileNotFoundError:  # compacted meanwhile: the compacted file has its points
            return
        objects.put(rel, body)

    # Plain files (a loop of short runs: one chunk per run) go up side by side, all
    # before the segment that names them.
    _parallel(put_file, [rel for rel, how in uploads if how == "put"])
    for rel, how in uploads:
        if how == "put":
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
    objects.put(segment_key(writer_id, seq), data)
    for rel in deletes:
        objects.delete(rel)
    return seq + 1, offset + len(data), data


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


def _files_of(layout: Layout, records: list[dict[str, Any]]
              ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(files to upload with how: put, exclusive or once; files to delete remotely, files missing
    locally and not replaced by a compaction in ``records``)."""
    named: dict[str, str] = {}
    replaced: set[str] = set()
    for r in records:
        op = r.get("op")
        if op == "metrics":
            named[f"runs/{r['run']}/{r['file']}"] = "put"
        elif op == "compact":
            named[f"runs/{r['run']}/{r['file']}"] = "exclusive"
            replaced.update(f"runs/{r['run']}/{old}" for old in r["replaces"])
        elif op == "tags":
            env = r["data"].get("trackbook.packages")  # envs/<sha1>.txt, by content
            if isinstance(env, str) and env.startswith("envs/") and "/" not in env[5:]:
                named[env] = "once"
    uploads = [(rel, ex) for rel, ex in named.items() if rel not in replaced]
    missing = [rel for rel, _ in uploads if not (layout.root / rel).exists()]
    return uploads, sorted(replaced), missing


def recover_dead_writers(layout: Layout, objects: Objects, skip: str) -> None:
    """Push what dead writers of this replica wrote but did not upload (a kill, a lost
    network at exit). Their heartbeat is re-put so readers list their logs again."""
    own = _own_dir(layout)
    try:
        names = [n[: -len(".json")] for n in os.listdir(own) if n.endswith(".json")]
    except FileNotFoundError:
        return
    with _flock(_sync_dir(layout) / "pull.lock"):
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
            write_atomic(state_file, json.dumps({"offset": offset, "seq": seq}).encode())
            beat = layout.writer_file(writer_id)
            with contextlib.suppress(FileNotFoundError, ValueError):
                info = json.loads(beat.read_bytes())
                info.update(recovered=events.now_ms(), segments=seq)
                objects.put(f"writers/{writer_id}.json", json.dumps(info).encode())


# -- readers -------------------------------------------------------------------------------


class Puller:
    """Brings other writers' logs, heartbeats and experiments into the replica."""

    def __init__(self, layout: Layout, objects: Objects) -> None:
        self.layout = layout
        self.objects = objects
        self._lock = threading.Lock()
        self._last = 0.0
        # Told the metric files that pulled records name (``runs/<id>/<file>``, less those
        # compacted away in the same pull), to prefetch them.
        self.on_metrics: Callable[[set[str]], None] | None = None

    @property
    def _state_file(self) -> Path:
        return _sync_dir(self.layout) / "pull.json"

    def pull(self, force: bool = False) -> None:
        """List and fetch what is new (at most every PULL_SECONDS unless ``force``)."""
        with self._lock:
            if not force and time.monotonic() - self._last < PULL_SECONDS:
                return
            self.layout.ensure()
            with _flock(_sync_dir(self.layout) / "pull.lock"):
                self._pull()
            self._last = time.monotonic()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            return dict(json.loads(self._state_file.read_bytes()))
        except (FileNotFoundError, ValueError):
            return {}

    def _pull(self) -> None:
        """One LIST of ``writers/`` says which heartbeats changed; a changed heartbeat says
        how many log segments its writer has put, so new segments are fetched by key
        (no listing per writer)."""
        state = self._load()
        try:
            own = {n[: -len(".json")] for n in os.listdir(_own_dir(self.layout))}
        except FileNotFoundError:
            own = set()
        listing = {o.key[len("writers/"): -len(".json")]: [o.mtime, o.size]
                   for o in self.objects.list("writers/") if o.key.endswith(".json")}
        changed = [w for w, v in listing.items() if w not in own and (
            state.get(w, {}).get("hb") != v or not state[w].get("confirmed"))]
        with ThreadPoolExecutor(_PARALLEL) as pool:
            got_at = time.time()
            # Threads only wait on the service; parsing and writing the replica's copies
            # happen here once every reply is in (threads contending for the GIL with
            # this one would cost more than the work: ~40 us a file when alone).
            replies = list(pool.map(self._get_beat, changed))
            beats = {w: self._keep_beat(w, data)
                     for w, data in zip(changed, replies, strict=True)}
            wanted: list[tuple[str, int]] = []
            inline: dict[tuple[str, int], bytes] = {}
            for w, info in beats.items():
                st = state.setdefault(w, {"seq": 0, "end": 0})
                self._check_copy(w, st)
                n = int((info or {}).get("segments", 0))
                wanted += [(w, i) for i in range(st["seq"], n)]
                if n and isinstance((info or {}).get("last"), str):
                    inline[(w, n - 1)] = info["last"].encode("utf-8")  # type: ignore[index]
            fetch = [item for item in wanted if item not in inline]
            fetched = dict(zip(fetch, pool.map(self._get_segment, fetch), strict=True))
            bodies = [inline.get(item) or fetched.get(item) for item in wanted]
            self._pull_experiments(pool)
        by_writer: dict[str, list[bytes]] = {}
        gaps: set[str] = set()
        for (w, _), body in zip(wanted, bodies, strict=True):
            if body is None:  # missing (cannot happen unless removed): stop before it
                gaps.add(w)
            elif w not in gaps:
                by_writer.setdefault(w, []).append(body)
        for w, parts in by_writer.items():
            st = state[w]
            self._append(w, st, parts)
            st["seq"] += len(parts)
        if self.on_metrics is not None and by_writer:
            records = [r for parts in by_writer.values() for body in parts
                       for r in _parse(body)]
            uploads, _, _ = _files_of(self.layout, records)
            if uploads:
                self.on_metrics({rel for rel, how in uploads if how != "once"})
        for w in changed:
            st = state.setdefault(w, {"seq": 0, "end": 0})
            st["hb"] = listing[w]
            # A heartbeat re-put within the same second keeps its listed mtime and may keep
            # its size: trust the copy only once fetched 2 s after that mtime.
            st["confirmed"] = (beats.get(w) is not None and w not in gaps
                               and got_at - listing[w][0] > 2.0)
        write_atomic(self._state_file, json.dumps(state).encode())

    def _get_beat(self, writer_id: str) -> bytes | None:
        try:
            return self.objects.get(f"writers/{writer_id}.json")
        except ObjectNotFoundError:
            return None

    def _keep_beat(self, writer_id: str, data: bytes | None) -> dict[str, Any] | None:
        """Copy a fetched heartbeat into the replica (less the segment it carries)."""
        if data is None:
            return None
        try:
            info = dict(json.loads(data))
        except ValueError:
            write_atomic(self.layout.writer_file(writer_id), data)
            return None
        local = {k: v for k, v in info.items() if k != "last"}  # liveness reads it often
        write_atomic(self.layout.writer_file(writer_id), json.dumps(local).encode())
        return info

    def _get_segment(self, item: tuple[str, int]) -> bytes | None:
        try:
            return self.objects.get(segment_key(*item))
        except ObjectNotFoundError:
            log.warning("log segment %s is missing from %s", segment_key(*item),
                        self.objects.url)
            return None

    def _check_copy(self, writer_id: str, st: dict[str, Any]) -> None:
        """A replica log shorter than what was pulled into it (removed by hand, say) is
        pulled again from its first segment."""
        if not st.get("end"):
            return
        try:
            size = self.layout.log_file(writer_id).stat().st_size
        except FileNotFoundError:
            size = 0
        if size < st["end"]:
            log.warning("the replica's log of writer %s is shorter than what was pulled "
                        "into it; pulling it again", writer_id)
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self.layout.log_file(writer_id), 0)
            st.update(seq=0, end=0)

    def _append(self, writer_id: str, st: dict[str, Any], bodies: Iterable[bytes]) -> None:
        """Append segments to the replica's copy of the log. A pull that died between
        appending and saving its state left bytes past ``end``: they are the same segments,
        cut and appended again at the same offsets."""
        path = self.layout.log_file(writer_id)
        with open(path, "ab") as f:
            size = f.tell()
            if size != st["end"]:
                if size < st["end"]:  # pragma: no cover - _check_copy ran under our lock
                    raise StoreError(f"replica log {path} shrank while pulling")
                f.truncate(st["end"])
            data = b"".join(bodies)
            f.write(data)
        st["end"] += len(data)

    def _pull_experiments(self, pool: ThreadPoolExecutor) -> None:
        missing = [o.key for o in self.objects.list("experiments/")
                   if o.key.endswith(".json") and not (self.layout.root / o.key).exists()]
        list(pool.map(lambda k: download(self.objects, k, self.layout.root / k), missing))


def fetch_run_metrics(layout: Layout, objects: Objects, run_id: str) -> None:
    """Download the run's metric files this replica lacks: the newest compacted file and the
    chunks it does not cover (the reading rule of ``store/metrics.py``)."""
    from . import metrics as _metrics

    directory = layout.metrics_dir(run_id)
    for _ in range(5):
        # Chunks are listed before compacted files: a chunk deleted after our listing
        # was covered by a compacted file put before the deletion (store/sync.py pushes
        # the file, then deletes), which a second round finds.
        remote = [o.key.rsplit("/", 1)[1]
                  for prefix in ("c-", "m-") for o in objects.list(f"runs/{run_id}/{prefix}")]
        compacts = sorted((g, n) for n in remote if (g := _metrics._parse_compact(n)) is not None)
        try:
            if compacts and not (directory / compacts[-1][1]).exists():
                name = compacts[-1][1]
                download(objects, f"runs/{run_id}/{name}", directory / name)
            _, _, covers = _metrics.visible_files(directory)
            for name in sorted(remote):
                parsed = _metrics._parse_chunk(name)
                if parsed is not None and parsed[1] > covers.get(parsed[0], -1) \
                        and not (directory / name).exists():
                    download(objects, f"runs/{run_id}/{name}", directory / name)
            return
        except ObjectNotFoundError:  # compacted meanwhile: list again
            continue


def fetch_artifacts(layout: Layout, objects: Objects, run_id: str) -> None:
    """Download the run's artifacts this replica lacks (or holds at another size)."""
    prefix = f"runs/{run_id}/artifacts/"
    todo = []
    for o in objects.list(prefix):
        path = layout.root / o.key
        try:
            if path.stat().st_size == o.size:
                continue
        except FileNotFoundError:
            pass
        todo.append(o)
    if len(todo) == 1:
        download(objects, todo[0].key, layout.root / todo[0].key, todo[0].size)
    elif todo:
        with ThreadPoolExecutor(min(_PARALLEL, len(todo))) as pool:
            list(pool.map(lambda o: download(objects, o.key, layout.root / o.key, o.size),
                          todo))
