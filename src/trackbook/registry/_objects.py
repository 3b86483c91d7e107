"""The registry of an ``s3://`` store: its files in the bucket, settled by conditional PUTs.

The keys mirror the folder layout (``_files``), with zero-padded numbers so that key order is
number order and a reader lists only what is new::

    registry/<model-key>/model.json
    registry/<model-key>/versions/<n:012d>.json
    registry/<model-key>/events/<seq:012d>.json
    registry/index/<model-key>      one empty object per model home, so that listing the
                                    models does not list every event of every model

Claims are ``put_if_absent`` (``If-None-Match: *``): of two machines claiming version ``n``
or event ``seq``, exactly one wins and the other re-reads and takes the next number, as with
hard links on a local disk. Every claimed record carries a random ``claim`` id, so that two
claimants never send the same bytes (a retried PUT that finds the key taken reads it back
and compares, see ``Objects.put_if_absent``).

Reading a model is two LISTs starting after the last key already folded (events, then
versions: every event seen names a version that existed before the event was written, so
the later versions listing has it) and one GET per new file. Files never change, so what was
folded is never fetched again by this process, and a copy of each file read is kept in the
replica folder (``<replica>/registry-cache/``, same layout; safe to delete) for the next
process on this machine. Those copies are only ever of files in the bucket; the bucket is the
only truth, so two machines can never take the same version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .._errors import StoreError
from ..store import durable
from ..store.objects import ObjectNotFoundError, Objects
from ._files import REGISTRY_DIR, ModelFiles, dumps
from ._fold import ModelState
from .errors import RegistryError

log = logging.getLogger(__name__)
INDEX = f"{REGISTRY_DIR}/index/"
_PARALLEL = 16


def _number_key(folder: str, n: int) -> str:
    return f"{folder}{n:012d}.json"


@contextlib.contextmanager
def _explained(url: str) -> Iterator[None]:
    """Bucket errors say what is wrong (credentials, endpoint, bucket) and how to fix it."""
    try:
        yield
    except StoreError as exc:
        from ..store.s3store import explain

        why = explain(exc, url)
        if why is None:
            raise
        raise StoreError(f"model registry in {url}: {why}") from exc


class ObjectFiles:
    """:class:`~trackbook.registry._files.RegistryFiles` in an object store's bucket.

    Parameters
    ----------
    objects
        The bucket (prefix) of the store.
    copies
        A local folder for copies of the files read from the bucket (they never change, so
        the next process on this machine reads them from disk); None keeps them in memory
        only.
    """

    parallel = 8

    def __init__(self, objects: Objects, copies: Path | None = None) -> None:
        self.objects = objects
        self.copies = copies
        self._models: dict[str, dict[str, Any]] = {}  # model.json records never change

    def where(self, key: str) -> str:
        return f"{self.objects.url}/{REGISTRY_DIR}/{key}"

    def model_files(self, key: str) -> ModelFiles:
        raise RegistryError(
            f"the registry of {self.objects.url} lives in the bucket, not in a folder; "
            "this operation works on local stores only")

    # -- local copies of immutable files ---------------------------------------------------

    def _copy_path(self, key: str) -> Path | None:
        return None if self.copies is None else self.copies / key[len(REGISTRY_DIR) + 1:]

    def _read_copy(self, key: str) -> dict[str, Any] | None:
        path = self._copy_path(key)
        if path is None:
            return None
        try:
            return json.loads(path.read_bytes())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def _keep(self, key: str, data: bytes) -> None:
        path = self._copy_path(key)
        if path is None:
            return
        try:  # best effort: the bucket stays the truth
            path.parent.mkdir(parents=True, exist_ok=True)
            durable.write_atomic(path, data, what=f"the local copy of {key}",
                                 level=durable.FLUSH)
        except (OSError, durable.DiskWriteError) as exc:
            log.debug("registry: no local copy of %s: %s", key, exc)

    def _fetch(self, key: str) -> dict[str, Any] | None:
        """A file's record: its local copy, else the bucket's (then copied)."""
        record = self._read_copy(key)
        if record is not None:
            return record
        try:
            with _explained(self.objects.url):
                data = self.objects.get(key)
        except ObjectNotFoundError:
            return None
        self._keep(key, data)
        return json.loads(data)  # type: ignore[no-any-return]

    # -- reading ---------------------------------------------------------------------------

    def read_model(self, key: str) -> dict[str, Any] | None:
        record = self._models.get(key)
        if record is None:
            record = self._fetch(f"{REGISTRY_DIR}/{key}/model.json")
            if record is not None:
                self._models[key] = record
        return record

    def _copied(self, folder: str, after: int) -> list[dict[str, Any]]:
        """Records of the local copies ``after + 1, after + 2, ...`` (up to the first gap)."""
        out = []
        while (rec := self._read_copy(_number_key(folder, after + len(out) + 1))) is not None:
            out.append(rec)
        return out

    def _new(self, folder: str, after: int) -> list[str]:
        """Keys of ``folder``'s numbered files ``after + 1, after + 2, ...`` (no gaps)."""
        # The key of ``after`` exists (it was folded or copied), so it is a safe start_after.
        start = _number_key(folder, after) if after > 0 else None
        keys = []
        expected = after + 1
        with _explained(self.objects.url):
            listed = list(self.objects.list(folder, start_after=start))
        for info in listed:
            name = info.key[len(folder):]
            stem = name[:-len(".json")] if name.endswith(".json") else ""
            if not stem.isdigit() or int(stem) < expected:
                continue
            if int(stem) != expected:  # cannot happen with conditional creates; stop there
                log.warning("registry: %s%s is missing; stopping before %s",
                            folder, expected, name)
                break
            keys.append(info.key)
            expected += 1
        return keys

    def _fetch_all(self, keys: list[str]) -> list[dict[str, Any]]:
        def fetch(key: str) -> dict[str, Any]:
            record = self._fetch(key)
            if record is None:  # registry files are never deleted
                raise RegistryError(f"{self.objects.url}/{key} was listed, then was gone")
            return record

        if len(keys) <= 2:
            return [fetch(k) for k in keys]
        with ThreadPoolExecutor(min(_PARALLEL, len(keys))) as pool:
            return list(pool.map(fetch, keys))

    def catch_up(self, key: str, state: ModelState, max_version: int) -> int:
        # Nothing is folded until every version is known: an event may name any version
        # that existed before it. Listing events before versions guarantees that.
        events_dir = f"{REGISTRY_DIR}/{key}/events/"
        versions_dir = f"{REGISTRY_DIR}/{key}/versions/"
        events = self._copied(events_dir, state.seq)
        event_keys = self._new(events_dir, state.seq + len(events))
        versions = self._copied(versions_dir, max_version)
        version_keys = self._new(versions_dir, max_version + len(versions))
        fetched = self._fetch_all(version_keys + event_keys)
        versions += fetched[:len(version_keys)]
        events += fetched[len(version_keys):]
        for rec in versions:
            state.add_version(rec)
        for ev in events:
            state.apply(state.seq + 1, ev)
        return max_version + len(versions)

    # -- writing ---------------------------------------------------------------------------

    def _claim(self, key: str, record: dict[str, Any]) -> bool:
        data = dumps(dict(record, claim=uuid.uuid4().hex))
        with _explained(self.objects.url):
            created = self.objects.put_if_absent(key, data)
        if created:
            self._keep(key, data)
        return created

    def claim_model(self, key: str, record: dict[str, Any]) -> bool:
        if key in self._models:  # known to exist (register_model creates "if needed")
            return False
        if "home" not in record:  # listed before it exists: a crash leaves no hidden model
            with _explained(self.objects.url):
                self.objects.put(f"{INDEX}{key}", b"")
        return self._claim(f"{REGISTRY_DIR}/{key}/model.json", record)

    def claim_version(self, key: str, version: int, record: dict[str, Any]) -> bool:
        return self._claim(_number_key(f"{REGISTRY_DIR}/{key}/versions/", version), record)

    def claim_event(self, key: str, seq: int, record: dict[str, Any]) -> bool:
        return self._claim(_number_key(f"{REGISTRY_DIR}/{key}/events/", seq), record)

    def model_keys(self) -> list[str]:
        with _explained(self.objects.url):
            return [info.key[len(INDEX):] for info in self.objects.list(INDEX)]
