"""Autologging work done off the training path: one background worker draws and saves
the end-of-training plots while the training script goes on.

A job gets everything it needs as arguments (arrays computed on the training thread, never
the estimator, which the script may refit meanwhile) and writes into one run by id. The
run waits for its jobs before it ends (``end_run``, the end of ``with start_run()``, the
run an autologged call started, a failed run too) and ``flush()`` waits for all of them,
through the waiter this module registers in :mod:`trackbook.tracking.pending` when the
first job is submitted. A job that fails becomes an :class:`AutologWarning` on the thread
that waits for it; the other jobs and the run are unaffected.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import _safety

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pid: int | None = None
_pending: dict[str, list[tuple[Future[Any], str, str]]] = {}  # run id -> (job, flavor, what)
_WORKER_NAME = "trackbook-autolog"


def submit(run_id: str, flavor: str, what: str, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the worker; ``run_id`` waits for it before it ends.

    ``what`` completes "could not ..." in the warning shown if ``fn`` raises.
    """
    global _executor, _pid
    with _lock:
        if _executor is None or _pid != os.getpid():  # a forked child has no worker thread
            from ..tracking import pending

            _executor = ThreadPoolExecutor(1, thread_name_prefix=_WORKER_NAME)
            _pid = os.getpid()
            _pending.clear()
            pending.add_waiter(wait)
        try:
            job = _executor.submit(fn, *args)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            job = Future()
            try:
                job.set_result(fn(*args))
            except Exception as exc:
                job.set_exception(exc)
        _pending.setdefault(run_id, []).append((job, flavor, what))


def wait(run_id: str | None = None) -> None:
    """Finish the jobs of ``run_id`` (None: every job), warning about those that failed."""
    if threading.current_thread().name.startswith(_WORKER_NAME) or _pid != os.getpid():
        return  # a job ending a run must not wait for itself; a fork's jobs never ran here
    with _lock:
        if run_id is None:
            jobs = [j for run_jobs in _pending.values() for j in run_jobs]
            _pending.clear()
        else:
            jobs = _pending.pop(run_id, [])
    for job, flavor, what in jobs:
        exc = job.exception()
        if exc is not None:
            _safety.warn(flavor, f"could not {what} ({type(exc).__name__}: {exc}); training "
                                 "is unaffected")


def pending_jobs(run_id: str | None = None) -> int:
    """How many jobs (of ``run_id``, or of every run) were submitted and not yet waited for."""
    with _lock:
        if run_id is None:
            return sum(len(j) for j in _pending.values())
        return len(_pending.get(run_id, []))
