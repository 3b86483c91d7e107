"""``RunOperations``: what MLflow's logging calls return with ``synchronous=False``."""

from __future__ import annotations

from typing import Any


class RunOperations:
    """The handle of an asynchronous logging call; ``wait()`` blocks until it is written.

    trackbook records params and tags at call time and buffers metric points (written in
    the background every second), so ``wait()`` writes the buffered points of the store.
    """

    def __init__(self, store: Any) -> None:
        self._store = store

    def wait(self) -> None:
        """Write everything buffered now; raises ``DiskWriteError`` if the disk refuses."""
        self._store.session.flush_all(strict=True)

    def __repr__(self) -> str:
        return f"<RunOperations store={self._store.root}>"


def ops_for(store: Any, synchronous: bool | None) -> RunOperations | None:
    """MLflow returns a ``RunOperations`` only when ``synchronous=False``; ``True`` writes
    the points before returning."""
    if synchronous is False:
        return RunOperations(store)
    if synchronous:
        store.session.flush_all(strict=True)
    return None
