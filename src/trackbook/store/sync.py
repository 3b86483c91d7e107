"""Keep a local replica of a store in step with an object store (S3): the protocol, and
what its two sides share.

A store at ``s3://bucket/prefix`` is used through a local *replica*: an ordinary store
folder (``store/layout.py``) under a cache directory, on which every other store module
runs unchanged. Two modules move immutable objects between the two:

- :class:`~trackbook.store.push.Pusher` (one per writer process) uploads what its
  process wrote, from the session's background flusher (every second, and at once when a
  run ends) and synchronously on ``tb.flush()`` and at exit: metric files and artifacts
  under the same relative keys, the heartbeat as ``writers/<writer>.json``, and the new
  complete lines of its log as an immutable segment ``log/<writer>/<seq:012d>.jsonl``. A
  segment is put only after the files its records name, and the heartbeat (with the
  number of segments) after the segments, so a reader that sees a record finds its file.
  A logged model's files (``models/<id>/artifacts/``) go up before the segment holding the
  ``model_status`` record that makes it READY: a reader that sees it READY finds all of
  them.
- :class:`~trackbook.store.pull.Puller` (before a catalog refresh) lists ``writers/``,
  fetches the heartbeats that changed, fetches the segments they announce, and appends
  them in order to the replica's ``log/<writer>.jsonl``, where the catalog's byte-offset
  refresh reads them as if they had been written locally. Experiments are copied too.
  Metric files and artifacts are fetched lazily, when a reader needs a run's points or
  files (``pull.fetch_run_metrics``, ``pull.fetch_artifacts``), and a logged model's files
  when it is loaded, once the reader's catalog has it READY (``pull.fetch_logged_model``).

Several processes may share one replica: each writer marks its log as its own
(``sync/own/<writer>.json``, which also records how far it has pushed) so no puller
appends to it, and pullers take turns through a file lock. A writer that died before
pushing everything it wrote into the replica is pushed by the next process that uses it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import durable
from .layout import Layout
from .objects import Objects

log = logging.getLogger(__name__)

_RANGE_BYTES = 64 << 20  # downloads bigger than this go in ranges (bounded memory)
MODEL_ID_RE = re.compile(r"m-[0-9a-f]{32}")  # a logged model's id: also a safe key part


def segment_key(writer_id: str, seq: int) -> str:
    return f"log/{writer_id}/{seq:012d}.jsonl"


def sync_dir(layout: Layout) -> Path:
    return layout.root / "sync"


def own_dir(layout: Layout) -> Path:
    return sync_dir(layout) / "own"


def logged_model_prefix(model_id: str) -> str:
    """The bucket prefix of a logged model's files (as ``Layout.logged_model_artifacts``)."""
    return f"models/{model_id}/artifacts/"


def ready_models(records: list[dict[str, Any]]) -> list[str]:
    """The ids of the logged models that ``records`` finalize as READY, in order."""
    seen: dict[str, None] = {}
    for r in records:
        if r.get("op") == "model_status" and r.get("status") == "READY" \
                and isinstance(r.get("model"), str) and MODEL_ID_RE.fullmatch(r["model"]):
            seen[r["model"]] = None
    return list(seen)


def rel_key(layout: Layout, path: Path) -> str:
    return path.relative_to(layout.root).as_posix()


@contextlib.contextmanager
def replica_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between the processes sharing a replica (blocking)."""
    with durable.file_lock(path):
        yield


def download(objects: Objects, key: str, path: Path, size: int | None = None) -> None:
    """Copy object ``key`` to ``path`` (whole or not at all: temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (durable.atomic_path(path, what=f"the copy of {key}", level=durable.FLUSH) as tmp,
          open(tmp, "wb") as f):
        if size is None or size <= _RANGE_BYTES:
            f.write(objects.get(key))
        else:  # big artifacts: bounded memory
            for start in range(0, size, _RANGE_BYTES):
                f.write(objects.get_range(key, start, _RANGE_BYTES))


def parse_records(data: bytes) -> list[dict[str, Any]]:
    """The records of complete log lines (see :func:`trackbook.store.events.parse_lines`);
    a damaged line is skipped silently here: the catalog's reader reports it."""
    from .events import parse_lines

    return parse_lines(data, warn=False)


def files_of(layout: Layout, records: list[dict[str, Any]]
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
