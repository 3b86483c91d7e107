"""The registry's files under a store root, and the fold cache that reads them.

::

    <root>/registry/<model-key>/
      model.json              {"name", "creation_timestamp", "description", "tags", "user_id"}
                              created exclusively: exactly one creator wins a name
      versions/<n>.json       one version record, created exclusively: n = max + 1, and on
                              a clash the next number, so concurrent registrations get
                              distinct consecutive versions (never deleted: a deleted version
                              is an event, so its number is never reused)
      events/<seq>.json       numbered events, created exclusively: seq = last + 1

``<model-key>`` is ``<slug>-<sha1(name)[:16]>``. A renamed model keeps its folder (its
*home*): ``rename`` claims the new name's ``model.json`` as a pointer,
``{"name": <new>, "home": <home-key>, "renamed_from": <old>}``, then claims a ``rename`` event
in the home, which is the commit point. A name whose folder's ``model.json`` has no
``"home"`` is its own home. So a registration racing with a rename still lands in the one
version sequence, and every write under the old name after the rename event is refused.

Every file appears whole (written to a temp
file and hard-linked into place) and is never changed afterwards, so a reader sees a model as
of some event number. On an ``s3://`` store the same files live in the bucket, claimed with
conditional PUTs (``_objects``); :class:`RegistryFiles` is the seam between the two, and
everything above it (the fold, validate-then-claim, renames) is shared.

Why numbered events rather than the store's per-writer logs: a writer validates its change
against the state as of event ``seq`` and then claims ``seq + 1``; if another writer claimed
it first, it re-reads and re-validates (optimistic concurrency). So "move the alias",
"archive the other Production versions", "delete unless an alias points here" and "roll back
to the previous holder" are each atomic with respect to every other registry write, the order
of events needs no clocks, and reading one model touches only its own small folder.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any, Protocol

from .._errors import DamagedFileWarning, StoreError
from ..store import durable
from ._fold import ModelState
from ._names import model_key

REGISTRY_DIR = "registry"
_KEY_RE = re.compile(r"[a-z0-9._-]+-[0-9a-f]{16}")


class ModelFiles:
    """Paths of one registered model folder (``key`` is its folder name)."""

    def __init__(self, registry_dir: Path, key: str) -> None:
        self.key = key
        self.dir = registry_dir / key
        self.model_file = self.dir / "model.json"
        self.versions_dir = self.dir / "versions"
        self.events_dir = self.dir / "events"

    def version_file(self, n: int) -> Path:
        return self.versions_dir / f"{n}.json"

    def event_file(self, seq: int) -> Path:
        return self.events_dir / f"{seq}.json"

    def ensure_dirs(self) -> None:
        durable.make_dirs(self.versions_dir, what="the registry's folders")
        durable.make_dirs(self.events_dir, what="the registry's folders")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:  # files appear whole (hard link): a bad one is damaged
        raise StoreError(f"registry file {path} is damaged ({exc}); `trackbook doctor "
                         "--repair` quarantines it") from None
    if not isinstance(record, dict):
        raise StoreError(f"registry file {path} is damaged (not a JSON object); "
                         "`trackbook doctor --repair` quarantines it")
    return record


def dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode("utf-8")


class RegistryFiles(Protocol):
    """Where a registry's immutable files live: the store folder (:class:`LocalFiles`) or
    the bucket of an ``s3://`` store (``_objects.ObjectFiles``). ``key`` is a model folder
    name; every ``claim_*`` creates a file exclusively and says whether this call did."""

    #: How many models to read at once when reading them all (requests over a network wait;
    #: local files do not).
    parallel: int

    def where(self, key: str) -> str:
        """The model folder's place, for messages."""

    def read_model(self, key: str) -> dict[str, Any] | None:
        """``<key>/model.json``, or None when there is none yet."""

    def catch_up(self, key: str, state: ModelState, max_version: int) -> int:
        """Fold the version records above ``max_version`` and the events above
        ``state.seq`` into ``state``; return the new highest version number."""

    def claim_model(self, key: str, record: dict[str, Any]) -> bool: ...

    def claim_version(self, key: str, version: int, record: dict[str, Any]) -> bool: ...

    def claim_event(self, key: str, seq: int, record: dict[str, Any]) -> bool: ...

    def model_keys(self) -> list[str]:
        """Every model folder (homes and rename pointers)."""

    def model_files(self, key: str) -> ModelFiles:
        """The local paths of a model folder (raises where there are none)."""


class LocalFiles:
    """The registry in a store folder: ``<root>/registry/``, files created with O_EXCL-like
    hard links, read by probing for the next number."""

    parallel = 1

    def __init__(self, registry_dir: Path) -> None:
        self.dir = registry_dir
        self._files: dict[str, ModelFiles] = {}

    def where(self, key: str) -> str:
        return str(self.dir / key)

    def model_files(self, key: str) -> ModelFiles:
        files = self._files.get(key)
        if files is None:
            files = self._files[key] = ModelFiles(self.dir, key)
        return files

    def read_model(self, key: str) -> dict[str, Any] | None:
        return _read_json(self.dir / key / "model.json")

    def catch_up(self, key: str, state: ModelState, max_version: int) -> int:
        files = self.model_files(key)
        # Versions first: an event only ever names a version whose file existed first.
        while (rec := _read_json(files.version_file(max_version + 1))) is not None:
            state.add_version(rec)
            max_version += 1
        while (ev := _read_json(files.event_file(state.seq + 1))) is not None:
            state.apply(state.seq + 1, ev)
            # A version registered after our probe may be named by a newer event.
            while (rec := _read_json(files.version_file(max_version + 1))) is not None:
                state.add_version(rec)
                max_version += 1
        return max_version

    def claim_model(self, key: str, record: dict[str, Any]) -> bool:
        files = self.model_files(key)
        if "home" in record:  # a rename's name pointer: no versions or events of its own
            durable.make_dirs(files.dir, what="the registry's folders")
        else:
            files.ensure_dirs()
        return claim(files.model_file, record)

    def claim_version(self, key: str, version: int, record: dict[str, Any]) -> bool:
        return claim(self.model_files(key).version_file(version), record)

    def claim_event(self, key: str, seq: int, record: dict[str, Any]) -> bool:
        return claim(self.model_files(key).event_file(seq), record)

    def model_keys(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.dir) if e.is_dir()]
        except FileNotFoundError:
            return []


class FoldCache:
    """Folded states of the models of one registry, refreshed by looking for new files.

    Files are only ever added and numbered without gaps, so catching up reads only the
    files after the last one folded (``RegistryFiles.catch_up``).
    """

    def __init__(self, io: RegistryFiles) -> None:
        self.io = io
        self._states: dict[str, tuple[ModelState, int]] = {}  # home key -> (state, max version)
        self._homes: dict[str, str] = {}  # name -> home key (pointers never change)
        self._lock = threading.RLock()

    def home_key(self, name: str) -> str:
        """The folder holding the versions and events of whatever model ``name`` names (or
        named): ``name``'s own folder unless its ``model.json`` points elsewhere."""
        key = self._homes.get(name)
        if key is not None:
            return key
        own = model_key(name)
        record = self.io.read_model(own)
        if record is None:
            return own
        home = record.get("home")
        if home is None:
            if record.get("name") != name:  # 64-bit hash prefix clash: never seen
                raise RuntimeError(f"registry folder {self.io.where(own)} belongs to "
                                   f"{record.get('name')!r}, not {name!r}")
            key = own
        else:
            if not isinstance(home, str) or not _KEY_RE.fullmatch(home):
                raise RuntimeError(f"registry pointer {self.io.where(own)}/model.json names "
                                   f"a bad home folder {home!r}")
            key = home
        self._homes[name] = key
        return key

    def files(self, name: str) -> ModelFiles:
        """The local files of the home of ``name`` (a store folder's registry only)."""
        return self.io.model_files(self.home_key(name))

    def state(self, name: str) -> ModelState | None:
        """The up-to-date state of the model ``name`` resolves to (deleted and renamed
        models included: the caller compares ``state.name``), or None."""
        with self._lock:
            return self._state(self.home_key(name))

    def _state(self, key: str) -> ModelState | None:
        cached = self._states.get(key)
        if cached is None:
            record = self.io.read_model(key)
            if record is None:
                return None
            if "home" in record:
                raise RuntimeError(f"registry folder {self.io.where(key)} is a name pointer, "
                                   "not a model's home")
            state = ModelState(name=record["name"], created=int(record["creation_timestamp"]),
                               description=record.get("description"),
                               tags=dict(record.get("tags") or {}),
                               updated=int(record["creation_timestamp"]))
            cached = (state, 0)
        state, max_version = cached
        max_version = self.io.catch_up(key, state, max_version)
        self._states[key] = (state, max_version)
        return state

    def max_version(self, name: str) -> int:
        with self._lock:
            self.state(name)
            cached = self._states.get(self.home_key(name))
            return cached[1] if cached else 0

    def states(self) -> list[ModelState]:
        """Up-to-date states of every model home (deleted ones included; name pointers
        left by renames are skipped: their model is listed under its current name)."""
        keys = self.io.model_keys()

        def one(key: str) -> ModelState | None:
            try:
                rec = self.io.read_model(key)
                if rec is None or "name" not in rec or "home" in rec:
                    return None
                return self._state(key)  # each key's entry is touched by this call only
            except StoreError as exc:  # one damaged model must not hide the others
                if "is damaged" not in str(exc):
                    raise
                warnings.warn(f"skipping model {key}: {exc}", DamagedFileWarning, stacklevel=2)
                return None

        workers = min(self.io.parallel, len(keys))
        with self._lock:
            if workers <= 1:
                found = [one(k) for k in keys]
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers) as pool:
                    found = list(pool.map(one, keys))
        return [st for st in found if st is not None]

    def names(self) -> list[str]:
        """Current names of every model home (deleted ones included)."""
        return sorted(st.name for st in self.states())


def claim(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` with ``record`` unless it exists (exactly one claimer wins)."""
    return durable.create_exclusive(path, dumps(record),
                                    what=f"the registry record {path.parent.name}/{path.name}")
