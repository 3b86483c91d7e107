"""A store on S3-compatible object storage: ``tb.set_tracking_uri("s3://bucket/prefix")``.

:class:`S3Store` is a :class:`~trackbook.store.store.Store` whose folder is a local replica
(``$TRACKBOOK_CACHE_DIR/s3/<bucket>/<hash>``, the cache dir defaulting to
``~/.cache/trackbook``), kept in step with the bucket by :mod:`trackbook.store.sync`:
writers push after every flush, readers pull before every query. Experiment names are
claimed with conditional writes on the bucket, so two machines creating the same name get
one experiment. Endpoint and credentials come
the usual AWS way (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
or ``AWS_PROFILE``, ``AWS_REGION``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ExperimentNotFoundError, StoreError
from . import durable, pull, push, sync
from . import metrics as _metrics
from .events import now_ms
from .layout import FORMAT_VERSION
from .objects import ObjectNotFoundError, Objects, S3Objects, parse_s3_url
from .session import WriterSession, session_for
from .store import Store

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

log = logging.getLogger(__name__)

_attach_lock = threading.Lock()
_WARN_EVERY_SECONDS = 60.0
_stores: weakref.WeakSet[S3Store] = weakref.WeakSet()
PREFETCH_DELAY_SECONDS = 1.0
_exiting = False


@atexit.register
def _stop_prefetching() -> None:
    global _exiting
    _exiting = True
    for store in list(_stores):
        thread = store._prefetcher
        if thread is not None:
            thread.join(timeout=5)


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""


def replica_dir(url: str) -> Path:
    """The local replica of ``url``: ``$TRACKBOOK_CACHE_DIR/s3/<bucket>/<hash of endpoint and
    URL>`` (``$TRACKBOOK_CACHE_DIR`` defaults to ``$XDG_CACHE_HOME/trackbook`` or
    ``~/.cache/trackbook``)."""
    env = os.environ
    key = (url, _endpoint(), env.get("TRACKBOOK_CACHE_DIR"), env.get("XDG_CACHE_HOME"),
           env.get("HOME"), os.getcwd())
    found = _replica_dirs.get(key)  # asked for by every fluent call: ~1 us, not ~20
    if found is None:
        bucket, prefix = parse_s3_url(url)
        base = env.get("TRACKBOOK_CACHE_DIR") or os.path.join(
            env.get("XDG_CACHE_HOME") or "~/.cache", "trackbook")
        digest = hashlib.sha1(f"{key[1]}|{bucket}/{prefix}".encode()).hexdigest()[:16]
        found = Path(base).expanduser().absolute() / "s3" / bucket / digest
        if len(_replica_dirs) > 64:
            _replica_dirs.clear()
        _replica_dirs[key] = found
    return found


_replica_dirs: dict[tuple[str | None, ...], Path] = {}


def explain(exc: BaseException, url: str) -> str | None:
    """A message that says what is wrong with reaching ``url`` and how to fix it."""
    cause: BaseException | None = exc
    while cause is not None:
        name = type(cause).__name__
        code = str(getattr(cause, "response", {}).get("Error", {}).get("Code", ""))
        endpoint = _endpoint() or "AWS S3 (no AWS_ENDPOINT_URL set)"
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return (f"no credentials for {url}: set AWS_ACCESS_KEY_ID and "
                    f"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
            return (f"cannot reach the S3 endpoint {endpoint} for {url}: is the service "
                    f"running, and AWS_ENDPOINT_URL right?")
        if code == "NoSuchBucket":
            return (f"bucket {url.split('/')[2]!r} does not exist at {endpoint}: create it "
                    f"(e.g. `aws s3 mb s3://{url.split('/')[2]}`) or fix the tracking URI")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            return (f"{endpoint} refused the credentials for {url} ({code}): check "
                    f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE and the "
                    f"bucket's permissions")
        cause = cause.__cause__ or cause.__context__
    return None


def check_conditional_writes(objects: Objects, url: str) -> None:
    """Refuse a service that ignores ``If-None-Match: *`` on PUT.

    Such a service answers every conditional write with success, so two machines would
    both "win" one registry version or experiment name. Probed with a fresh key written
    twice: the second write must be refused.
    """
    key = f"sync/probe-{uuid.uuid4().hex}"
    first = objects.put_if_absent(key, b"first")
    second = objects.put_if_absent(key, b"second")
    with contextlib.suppress(Exception):
        objects.delete(key)
    if not first or second:
        raise StoreError(
            f"{url}: the storage service accepted a second conditional write of one object "
            "(it ignores If-None-Match: * on PUT), so concurrent machines could both claim "
            "one registry version or experiment name; use a service with conditional "
            "writes (AWS S3, MinIO, SeaweedFS) or a local folder")


class S3Store(Store):
    """A store in ``s3://bucket/prefix``, used through a local replica folder.

    Parameters
    ----------
    url
        ``s3://bucket`` or ``s3://bucket/prefix``.
    replica
        The local folder to keep the replica in; default :func:`replica_dir`.
    prefetch
        Download new metric files in the background, so the curves widget finds them;
        default on unless ``TRACKBOOK_S3_PREFETCH=0``. Off, a replica holds only the points
        that were read by run, and ``tb.sql`` scans the rest in the bucket.
    """

    def __init__(self, url: str, replica: str | os.PathLike[str] | None = None,
                 prefetch: bool | None = None) -> None:
        self.objects = S3Objects(url)
        self.url = self.objects.url
        super().__init__(replica if replica is not None else replica_dir(self.url))
        self._check_bucket()
        self.layout.ensure()
        checked = self.root / "sync" / "conditional-writes-ok"
        if not checked.exists():  # once per replica: a few requests
            check_conditional_writes(self.objects, self.url)
            checked.parent.mkdir(parents=True, exist_ok=True)
            durable.write_atomic(checked, b"", what="the replica's check mark",
                                 level=durable.FLUSH)
        remote = self.root / "sync" / "remote.json"
        if not remote.exists():  # lets a process given only the folder find the bucket
            remote.parent.mkdir(parents=True, exist_ok=True)
            durable.write_atomic(remote, json.dumps({"url": self.url}).encode(),
                                 what="the replica's bucket address", level=durable.FLUSH)
        self.puller = pull.Puller(self.layout, self.objects)
        # A killed writer's unrecorded files are judged by the bucket's copy of its runs.
        self.catalog.fetch_runs = self.fetch_metrics
        if prefetch is None:
            prefetch = os.environ.get("TRACKBOOK_S3_PREFETCH", "1").lower() not in (
                "0", "false", "no", "off")
        self.puller.on_metrics = self._prefetch if prefetch else None
        self._last_warning = 0.0
        self._prefetch_keys: set[str] = set()
        self._prefetcher: threading.Thread | None = None
        _stores.add(self)

    @classmethod
    def from_replica(cls, folder: str | os.PathLike[str]) -> S3Store:
        """The store whose replica ``folder`` is (a process handed the folder, such as a
        projects trial, keeps syncing it instead of writing only locally)."""
        info = json.loads((Path(folder) / "sync" / "remote.json").read_bytes())
        return cls(info["url"], replica=folder)

    def _check_bucket(self) -> None:
        marker = f"trackbook-store {FORMAT_VERSION}\n".encode()
        try:
            try:
                words = self.objects.get("FORMAT").split()
            except ObjectNotFoundError:
                self.objects.put_if_absent("FORMAT", marker)
                return
        except StoreError as exc:
            raise StoreError(explain(exc, self.url) or str(exc)) from exc
        if len(words) == 2 and words[1].isdigit() and int(words[1]) > FORMAT_VERSION:
            raise StoreError(f"store {self.url} has format {words[1]}, newer than this "
                             f"trackbook understands ({FORMAT_VERSION}); upgrade trackbook")

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, replica={str(self.root)!r})"

    @property
    def session(self) -> WriterSession:
        s = session_for(self.layout)
        if s.pusher is None:
            with _attach_lock:
                if s.pusher is None:
                    s.pusher = push.Pusher(self.layout, self.objects, s.writer_id,
                                           on_start=s._ensure_thread, wake=s.wake)
        return s

    def _written_here(self, run_id: str) -> bool:
        pusher = session_for(self.layout).pusher
        return pusher is not None and run_id in pusher._touched

    # -- reading: pull first ---------------------------------------------------------------

    def pull(self, force: bool = False) -> None:
        """Bring what other machines pushed into the replica (listing the bucket)."""
        try:
            self.puller.pull(force)
        except StoreError as exc:  # a reader keeps serving the replica through a blip
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("%s; showing what %s already has",
                            explain(exc, self.url) or exc, self.root)

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.pull()
        with super().connect(read_only) as con:
            yield con

    def _prefetch(self, keys: set[str]) -> None:
        """Download the metric files that pulled records name, in the background and a
        moment later (the query that pulled them goes first), so that what reads them by
        path (the curves widget, say) finds them. Readers of a run's points fetch what is
        still missing themselves."""
        with _attach_lock:
            self._prefetch_keys |= keys
            if self._prefetcher is None:
                self._prefetcher = threading.Thread(target=self._prefetch_loop, daemon=True,
                                                    name="trackbook-s3-prefetch")
                self._prefetcher.start()

    def _prefetch_loop(self) -> None:
        try:
            time.sleep(PREFETCH_DELAY_SECONDS)
            while not _exiting:
                with _attach_lock:
                    batch = sorted(self._prefetch_keys)[:256]
                    self._prefetch_keys.difference_update(batch)
                    if not batch:
                        self._prefetcher = None  # the next pull starts another
                        return
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(self._prefetch_one, batch))
        except Exception as exc:  # readers fetch what they need themselves
            log.debug("prefetching metric files from %s: %s", self.url, exc)
        finally:
            with _attach_lock:
                if self._prefetcher is threading.current_thread():
                    self._prefetcher = None

    def _prefetch_one(self, key: str) -> None:
        path = self.root / key
        if not path.exists():
            with contextlib.suppress(ObjectNotFoundError):  # compacted since
                sync.download(self.objects, key, path)

    def fetch_metrics(self, run_ids: list[str]) -> None:
        """Download the metric files of ``run_ids`` that the replica lacks."""
        todo = [r for r in run_ids if not self._written_here(r)]
        if len(todo) == 1:
            pull.fetch_run_metrics(self.layout, self.objects, todo[0])
        elif todo:
            with ThreadPoolExecutor(pull.PARALLEL) as pool:
                list(pool.map(lambda r: pull.fetch_run_metrics(self.layout, self.objects, r),
                              todo))

    def metric_history(self, run_id: str, keys: list[str] | None = None) -> pa.Table:
        self.fetch_metrics([run_id])
        return super().metric_history(run_id, keys)

    def metric_keys(self, run_id: str) -> list[str]:
        self.fetch_metrics([run_id])
        return super().metric_keys(run_id)

    def points(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """The points in this replica, plus those of runs whose files it lacks read in place
        from the bucket through pyarrow's S3 filesystem (nothing is downloaded)."""
        from . import s3arrow

        by_run: dict[str, list[Path]] = {}
        for p in map(Path, self.metric_file_paths(con)):
            by_run.setdefault(p.parent.name, []).append(p)
        stale = {r: [p.name for p in ps] for r, ps in by_run.items()
                 if not all(p.exists() for p in ps)}
        local = [str(p) for r, ps in by_run.items() if r not in stale for p in ps]
        if not stale:
            return _metrics.points_relation(con, local)
        with self._explained():
            remote = s3arrow.metric_dataset(self.objects, sorted(stale), stale)
        return _metrics.points_relation(con, local, remote)

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """Re-raise a bucket's StoreError saying what it means for this store."""
        try:
            yield
        except StoreError as exc:
            raise StoreError(explain(exc, self.url) or str(exc)) from exc

    def artifact_root(self, run_id: str) -> Path:
        """The run's artifact folder in the replica, with the bucket's files fetched."""
        if not self._written_here(run_id):
            with self._explained():
                pull.fetch_artifacts(self.layout, self.objects, run_id)
        return super().artifact_root(run_id)

    def logged_model_root(self, model_id: str) -> Path:
        """A logged model's folder in the replica, with the bucket's files fetched once the
        catalog has the model READY (its writer put every file before that record, so a
        reader never fetches half a model; before it, only this replica's files show)."""
        pusher = session_for(self.layout).pusher
        mine = pusher is not None and model_id in pusher._models
        if not mine and sync.MODEL_ID_RE.fullmatch(model_id) and self._model_ready(model_id):
            with self._explained():
                pull.fetch_logged_model(self.layout, self.objects, model_id)
        return super().logged_model_root(model_id)

    def _model_ready(self, model_id: str) -> bool:
        with self.connect() as con:
            row = con.execute("SELECT status FROM logged_models WHERE model_id = ? "
                              "AND deleted = 0", [model_id]).fetchone()
        return row is not None and row[0] == "READY"

    # -- experiments: claimed on the bucket ------------------------------------------------

    def _claim_key(self, name: str) -> str:
        return sync.rel_key(self.layout, self.layout.experiment_name_claim(name))

    def _cache(self, key: str, data: bytes) -> None:
        path = self.layout.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        durable.write_atomic(path, data, what=f"the replica's copy of {key}",
                             level=durable.FLUSH)

    def experiment_by_name(self, name: str) -> dict[str, Any] | None:
        """Ask the bucket (a rename on another machine moves names)."""
        key = self._claim_key(name)
        try:
            data = self.objects.get(key)
        except ObjectNotFoundError:
            self.layout.experiment_name_claim(name).unlink(missing_ok=True)
            return None
        except StoreError as exc:
            raise StoreError(explain(exc, self.url) or str(exc)) from exc
        record: dict[str, Any] = json.loads(data)
        self._cache(key, data)
        by_id = f"experiments/{record['experiment_id']}.json"
        if not self.layout.experiment_file(record["experiment_id"]).exists():
            # The creator may have died between the claim and the record by id.
            self.objects.put_if_absent(by_id, data)
            self._cache(by_id, self.objects.get(by_id))
        return record

    def experiment_by_id(self, experiment_id: str) -> dict[str, Any] | None:
        found = super().experiment_by_id(experiment_id)
        if found is not None:
            return found
        key = f"experiments/{experiment_id}.json"
        try:
            data = self.objects.get(key)
        except ObjectNotFoundError:
            return None
        self._cache(key, data)
        return dict(json.loads(data))

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          experiment_id: str | None = None) -> tuple[str, bool]:
        """Claim ``name`` on the bucket (conditional write); return (id, created)."""
        exp_id = experiment_id or str(uuid.uuid4().int >> 80)
        record = {"experiment_id": exp_id, "name": name,
                  "artifact_location": artifact_location, "creation_time": now_ms(),
                  "claimed_by": uuid.uuid4().hex}  # distinct bytes per claimant
        data = json.dumps(record).encode()
        try:
            created = self.objects.put_if_absent(self._claim_key(name), data)
            if created:
                self.objects.put(f"experiments/{exp_id}.json", data)
                self._cache(self._claim_key(name), data)
                self._cache(f"experiments/{exp_id}.json", data)
                return exp_id, True
            existing = self.experiment_by_name(name)
        except StoreError as exc:
            raise StoreError(explain(exc, self.url) or str(exc)) from exc
        if existing is None:
            raise ExperimentNotFoundError(f"experiment {name!r} was claimed in {self.url} "
                                          f"and removed at once; try again")
        return existing["experiment_id"], False

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        old = self.experiment_by_id(experiment_id)
        if old is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        data = json.dumps(dict(old, name=new_name)).encode()
        if not self.objects.put_if_absent(self._claim_key(new_name), data):
            raise ValueError(f"an experiment named {new_name!r} already exists")
        self._cache(self._claim_key(new_name), data)
        self.objects.put(f"experiments/{experiment_id}.json", data)
        self._cache(f"experiments/{experiment_id}.json", data)
        self.session.record("experiment_update", exp=experiment_id,
                            fields={"name": new_name, "last_update_time": now_ms()})
        self.session.flush_all()  # pushes the record before the old name goes
        self.objects.delete(self._claim_key(old["name"]))
        self.layout.experiment_name_claim(old["name"]).unlink(missing_ok=True)
