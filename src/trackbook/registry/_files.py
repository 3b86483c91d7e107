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

``<model-key>`` is ``<slug>-<sha1(name)[:16]>``. Every file appears whole (written to a temp
file and hard-linked into place) and is never changed afterwards, so a reader sees a model as
of some event number, and works the same on object storage with conditional PUTs.

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
import threading
from pathlib import Path
from typing import Any

from ..store.layout import create_exclusive
from ._fold import ModelState
from ._names import model_key

REGISTRY_DIR = "registry"


class ModelFiles:
    """Paths of one registered model's folder."""

    def __init__(self, registry_dir: Path, name: str) -> None:
        self.name = name
        self.dir = registry_dir / model_key(name)
        self.model_file = self.dir / "model.json"
        self.versions_dir = self.dir / "versions"
        self.events_dir = self.dir / "events"

    def version_file(self, n: int) -> Path:
        return self.versions_dir / f"{n}.json"

    def event_file(self, seq: int) -> Path:
        return self.events_dir / f"{seq}.json"

    def ensure_dirs(self) -> None:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self.events_dir.mkdir(parents=True, exist_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_bytes())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode("utf-8")


class FoldCache:
    """Folded states of the models of one registry, refreshed by probing for new files.

    Files are only ever added and numbered without gaps, so catching up is a few ``open``
    calls for ``seq + 1``, ``seq + 2``, ... until one is missing.
    """

    def __init__(self, registry_dir: Path) -> None:
        self.dir = registry_dir
        self._states: dict[str, tuple[ModelState, int]] = {}  # name -> (state, max version)
        self._lock = threading.RLock()

    def state(self, name: str) -> ModelState | None:
        """The up-to-date state of ``name`` (deleted models included), or None."""
        files = ModelFiles(self.dir, name)
        with self._lock:
            cached = self._states.get(name)
            if cached is None:
                record = _read_json(files.model_file)
                if record is None:
                    return None
                if record.get("name") != name:  # 64-bit hash prefix clash: never seen
                    raise RuntimeError(f"registry folder {files.dir} belongs to "
                                       f"{record.get('name')!r}, not {name!r}")
                state = ModelState(name=name, created=int(record["creation_timestamp"]),
                                   description=record.get("description"),
                                   tags=dict(record.get("tags") or {}),
                                   updated=int(record["creation_timestamp"]))
                cached = (state, 0)
            state, max_version = cached
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
            self._states[name] = (state, max_version)
            return state

    def max_version(self, name: str) -> int:
        with self._lock:
            self.state(name)
            cached = self._states.get(name)
            return cached[1] if cached else 0

    def names(self) -> list[str]:
        """Names of every registered model folder (deleted ones included)."""
        out = []
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return []
        for e in entries:
            rec = _read_json(Path(e.path) / "model.json") if e.is_dir() else None
            if rec is not None and "name" in rec:
                out.append(rec["name"])
        return sorted(out)


def claim(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` with ``record`` unless it exists (exactly one claimer wins)."""
    return create_exclusive(path, dumps(record))
