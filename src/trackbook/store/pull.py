"""The reader side of an object-store replica: :class:`Puller` brings other writers' logs,
heartbeats and experiments into the replica (see :mod:`trackbook.store.sync` for the
protocol); :func:`fetch_run_metrics` and :func:`fetch_artifacts` download a run's files,
and :func:`fetch_logged_model` a logged model's, when a reader needs them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .._errors import StoreError
from . import durable
from .layout import Layout
from .objects import ObjectNotFoundError, Objects
from .sync import (
    MODEL_ID_RE,
    download,
    files_of,
    logged_model_prefix,
    own_dir,
    parse_records,
    replica_lock,
    segment_key,
    sync_dir,
)

log = logging.getLogger(__name__)

# A reader lists the bucket at most this often (a query in a tight loop reuses the last pull).
PULL_SECONDS = float(os.environ.get("TRACKBOOK_S3_PULL_SECONDS", "0.5"))
PARALLEL = 16  # concurrent downloads


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
        return sync_dir(self.layout) / "pull.json"

    def pull(self, force: bool = False) -> None:
        """List and fetch what is new (at most every PULL_SECONDS unless ``force``)."""
        with self._lock:
            if not force and time.monotonic() - self._last < PULL_SECONDS:
                return
            self.layout.ensure()
            with replica_lock(sync_dir(self.layout) / "pull.lock"):
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
            own = {n[: -len(".json")] for n in os.listdir(own_dir(self.layout))}
        except FileNotFoundError:
            own = set()
        listing = {o.key[len("writers/"): -len(".json")]: [o.mtime, o.size]
                   for o in self.objects.list("writers/") if o.key.endswith(".json")}
        changed = [w for w, v in listing.items() if w not in own and (
            state.get(w, {}).get("hb") != v or not state[w].get("confirmed"))]
        with ThreadPoolExecutor(PARALLEL) as pool:
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
                       for r in parse_records(body)]
            uploads, _, _ = files_of(self.layout, records)
            if uploads:
                self.on_metrics({rel for rel, how in uploads if how != "once"})
        for w in changed:
            st = state.setdefault(w, {"seq": 0, "end": 0})
            st["hb"] = listing[w]
            # A heartbeat re-put within the same second keeps its listed mtime and may keep
            # its size: trust the copy only once fetched 2 s after that mtime.
            st["confirmed"] = (beats.get(w) is not None and w not in gaps
                               and got_at - listing[w][0] > 2.0)
        durable.write_atomic(self._state_file, json.dumps(state).encode(),
                             what="the pull state", level=durable.FLUSH)

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
            durable.write_atomic(self.layout.writer_file(writer_id), data,
                                 what="a heartbeat copy", level=durable.FLUSH)
            return None
        local = {k: v for k, v in info.items() if k != "last"}  # liveness reads it often
        durable.write_atomic(self.layout.writer_file(writer_id), json.dumps(local).encode(),
                             what="a heartbeat copy", level=durable.FLUSH)
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


def remote_metric_names(objects: Objects, run_id: str) -> list[str]:
    """The names of a run's metric files in the bucket (chunks and compacted files)."""
    # Chunks are listed before compacted files: a chunk deleted after our listing was
    # covered by a compacted file put before the deletion (store/push.py pushes the file,
    # then deletes), which the second listing finds.
    return [o.key.rsplit("/", 1)[1]
            for prefix in ("c-", "m-") for o in objects.list(f"runs/{run_id}/{prefix}")]


def fetch_run_metrics(layout: Layout, objects: Objects, run_id: str) -> None:
    """Download the run's metric files this replica lacks: the newest compacted file and the
    chunks it does not cover (the reading rule of ``store/metrics.py``)."""
    from . import metrics as _metrics

    directory = layout.metrics_dir(run_id)
    for _ in range(5):
        remote = remote_metric_names(objects, run_id)
        compacts = sorted((g, n) for n in remote if (g := _metrics.parse_compact(n)) is not None)
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
    _fetch_prefix(layout, objects, f"runs/{run_id}/artifacts/")


def fetch_logged_model(layout: Layout, objects: Objects, model_id: str) -> None:
    """Download the files of logged model ``model_id`` this replica lacks (or holds at
    another size). Call it once the model is READY in the catalog: its writer put them
    all before the record that made it so (``store/push.py``)."""
    if not MODEL_ID_RE.fullmatch(model_id):
        raise StoreError(f"not a logged model id: {model_id!r}")
    _fetch_prefix(layout, objects, logged_model_prefix(model_id))


def _fetch_prefix(layout: Layout, objects: Objects, prefix: str) -> None:
    """Download the objects under ``prefix`` the replica lacks (or holds at another size),
    each whole or not at all."""
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
        with ThreadPoolExecutor(min(PARALLEL, len(todo))) as pool:
            list(pool.map(lambda o: download(objects, o.key, layout.root / o.key, o.size),
                          todo))
