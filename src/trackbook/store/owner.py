"""One run, one writer: the process that writes a run holds its owner lock.

A run's owner holds an exclusive lock on ``locks/runs/<run_id>.lock`` (a non-blocking
``flock`` through :func:`trackbook.store.durable.try_lock`, which the kernel drops when the
process dies, kill -9 included) from ``start_run`` or a resume until the run ends; the file
names the owner for error messages. Another process that resumes or
writes to the run while the owner lives gets :class:`RunInUseError`.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from .._errors import RunInUseError
from . import durable, events
from .layout import Layout


def _lock_path(layout: Layout, run_id: str) -> Path:
    return layout.root / "locks" / "runs" / f"{run_id}.lock"


class Owners:
    """The runs this process owns in one store."""

    def __init__(self, layout: Layout, writer_id: str) -> None:
        self.layout = layout
        self.writer_id = writer_id
        self._held: dict[str, int] = {}  # run id -> descriptor holding its lock
        self._lock = threading.Lock()

    def owns(self, run_id: str) -> bool:
        return run_id in self._held

    def claim(self, run_id: str) -> None:
        """Become the owner of ``run_id`` or raise :class:`RunInUseError`."""
        with self._lock:
            if run_id in self._held:
                return
            path = _lock_path(self.layout, run_id)
            note = json.dumps({"writer_id": self.writer_id, "pid": os.getpid(),
                               "host": events.host_name()}).encode()
            fd = durable.try_lock(path, note)
            if fd is None:
                raise RunInUseError(self._in_use(run_id, path))
            self._held[run_id] = fd

    def release(self, run_id: str) -> None:
        """Stop owning ``run_id`` (at run end, or to hand it to a child process)."""
        with self._lock:
            fd = self._held.pop(run_id, None)
        if fd is not None:
            os.close(fd)

    @staticmethod
    def _in_use(run_id: str, path: Path) -> str:
        try:
            info = json.loads(durable.lock_note(path))
            who = f"process {info['pid']} on {info['host']} (writer {info['writer_id']})"
        except (ValueError, KeyError, TypeError):
            who = "another live process"
        return (f"run {run_id} is being written by {who}: a run has one writing process at "
                "a time. Wait for that process to end the run (or to exit), or start a "
                "new run")
