"""One run, one writer: the process that writes a run holds its owner lock.

A run's owner holds an exclusive lock on ``locks/runs/<run_id>.lock`` (a file lock through
:func:`trackbook.store.durable.file_lock`, which the kernel drops when the process dies,
kill -9 included) from ``start_run`` or a resume until the run ends. Beside it,
``<run_id>.owner`` names the owner for error messages. Another process that resumes or
writes to the run while the owner lives gets :class:`RunInUseError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from .._errors import RunInUseError, StoreError
from . import durable, events
from .layout import Layout


def _paths(layout: Layout, run_id: str) -> tuple[Path, Path]:
    base = layout.root / "locks" / "runs"
    return base / f"{run_id}.lock", base / f"{run_id}.owner"


class Owners:
    """The runs this process owns in one store."""

    def __init__(self, layout: Layout, writer_id: str) -> None:
        self.layout = layout
        self.writer_id = writer_id
        self._held: dict[str, contextlib.ExitStack] = {}
        self._lock = threading.Lock()

    def owns(self, run_id: str) -> bool:
        return run_id in self._held

    def claim(self, run_id: str) -> None:
        """Become the owner of ``run_id`` or raise :class:`RunInUseError`."""
        with self._lock:
            if run_id in self._held:
                return
            lock_path, owner_path = _paths(self.layout, run_id)
            stack = contextlib.ExitStack()
            try:
                stack.enter_context(durable.file_lock(lock_path, timeout=0))
            except StoreError:
                raise RunInUseError(self._in_use(run_id, owner_path)) from None
            try:
                durable.write_atomic(owner_path, json.dumps({
                    "writer_id": self.writer_id, "pid": os.getpid(),
                    "host": events.host_name()}).encode())
            except BaseException:
                stack.close()
                raise
            self._held[run_id] = stack

    def release(self, run_id: str) -> None:
        """Stop owning ``run_id`` (at run end, or to hand it to a child process)."""
        with self._lock:
            stack = self._held.pop(run_id, None)
        if stack is not None:
            stack.close()

    @staticmethod
    def _in_use(run_id: str, owner_path: Path) -> str:
        try:
            info = json.loads(owner_path.read_bytes())
            who = f"process {info['pid']} on {info['host']} (writer {info['writer_id']})"
        except (OSError, ValueError, KeyError):
            who = "another live process"
        return (f"run {run_id} is being written by {who}: a run has one writing process at "
                "a time. Wait for that process to end the run (or to exit), or start a "
                "new run")
