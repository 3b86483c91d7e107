"""Writes that finish in the background (autologging's plots, drawn off the training path).

A layer above tracking that writes a run's artifacts on a thread of its own registers a
*waiter* here, lazily, when it first has such work: ``wait(fn)``. Before a run ends
(:meth:`Client.set_terminated`, so ``end_run``, the end of a ``with start_run()`` block and
the runs ended at exit) its waiters are called with the run's id and finish its pending
writes; :func:`trackbook.flush` calls them with None, meaning every run. Nothing here starts
a thread or imports anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)
Waiter = Callable[[str | None], None]
_waiters: list[Waiter] = []


def add_waiter(waiter: Waiter) -> None:
    """Call ``waiter(run_id)`` before each run ends and ``waiter(None)`` on flush (once per
    waiter, however often it is added)."""
    if waiter not in _waiters:
        _waiters.append(waiter)


def finish(run_id: str | None) -> None:
    """Let every waiter finish the pending writes of ``run_id`` (None: of every run).

    A waiter must not raise; if one does, the error is logged and the run still ends.
    """
    for waiter in list(_waiters):
        try:
            waiter(run_id)
        except Exception as exc:
            log.error("pending writes of run %s could not finish: %s", run_id, exc)
