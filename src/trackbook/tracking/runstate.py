"""What this process knows about runs it writes to (so logging never queries DuckDB)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .._errors import RunNotFoundError, RunStateError
from ..store.session import RunBuffer
from ..store.store import Store
from .entities import RunStatus


@dataclass
class RunState:
    """A run as seen by this process: enough to validate writes without a query."""

    run_id: str
    experiment_id: str
    status: str
    params: dict[str, str] = field(default_factory=dict)
    buffer: RunBuffer | None = None

    def check_writable(self, what: str) -> None:
        if self.status in RunStatus.TERMINAL:
            raise RunStateError(
                f"cannot log {what} to run {self.run_id}: it is {self.status}. Start a new run, "
                f"or resume this one with start_run(run_id={self.run_id!r})")


_states: dict[tuple[str, str], RunState] = {}
_lock = threading.Lock()


def remember(store: Store, state: RunState) -> RunState:
    with _lock:
        _states[(str(store.root), state.run_id)] = state
    return state


def state_of(store: Store, run_id: str) -> RunState:
    """The state of ``run_id``, from memory or (once) from the catalog."""
    st = _states.get((str(store.root), run_id))
    if st is not None:
        return st
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFoundError(f"run id must be a non-empty string, got {run_id!r}")
    with store.connect() as con:
        row = store.run_row(con, run_id)
        if row is None:
            raise RunNotFoundError(f"no run with id {run_id!r} in store {store.root}")
        params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?",
                                  [run_id]).fetchall())
    return remember(store, RunState(run_id, row["experiment_id"], row["status"], params))


def reload_params(store: Store, st: RunState) -> None:
    """Take the run's params from the catalog (another process may have logged some)."""
    with store.connect() as con:
        st.params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?",
                                     [st.run_id]).fetchall())


def own(store: Store, st: RunState) -> None:
    """Make this process the run's one writer (see ``store/owner.py``), or raise
    ``RunInUseError``. A run taken over from an ended or dead owner is RUNNING again here."""
    owners = store.session.owners
    if owners.owns(st.run_id):
        return
    owners.claim(st.run_id)
    reload_params(store, st)
    store.session.record("resume", run=st.run_id)


def buffer_of(store: Store, st: RunState) -> RunBuffer:
    if st.buffer is None:
        own(store, st)
        st.buffer = store.session.buffer(st.run_id)
    return st.buffer
