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
    #: step -> ids of the MLflow 3 logged models the run output at that step: a metric
    #: logged at that step without a model is linked to them (MLflow's rule)
    outputs: dict[int, list[str]] = field(default_factory=dict)
    #: (kind, key) of the run's model inputs/outputs ("model", id) and dataset inputs
    #: ("dataset", (name, digest)) as far as this process knows; None until first needed
    links: set[tuple[str, object]] | None = None

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
        outputs = _outputs(con, run_id)
    return remember(store, RunState(run_id, row["experiment_id"], row["status"], params,
                                    outputs=outputs))


def _outputs(con: object, run_id: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for model_id, step in con.execute(  # type: ignore[attr-defined]
            "SELECT o.model_id, o.step FROM run_model_outputs o LEFT JOIN logged_models lm "
            "USING (model_id) WHERE o.run_id = ? ORDER BY lm.creation_timestamp NULLS LAST, "
            "o.model_id", [run_id]).fetchall():
        out.setdefault(int(step), []).append(model_id)
    return out


def reload_params(store: Store, st: RunState) -> None:
    """Take the run's params and model outputs from the catalog (another process may have
    logged some)."""
    with store.connect() as con:
        st.params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?",
                                     [st.run_id]).fetchall())
        outputs = _outputs(con, st.run_id)
    st.outputs.clear()  # in place: an ActiveRun holds this dict
    st.outputs.update(outputs)
    st.links = None


def links_of(store: Store, st: RunState) -> set[tuple[str, object]]:
    """The run's model inputs and outputs and dataset inputs (read once, then kept up to
    date by this process): what ``log_metric(model_id=, dataset=)`` need not log again."""
    if st.links is None:
        with store.connect() as con:
            links: set[tuple[str, object]] = {("model", m) for (m,) in con.execute(
                "SELECT model_id FROM run_model_inputs WHERE run_id = ? UNION "
                "SELECT model_id FROM run_model_outputs WHERE run_id = ?",
                [st.run_id, st.run_id]).fetchall()}
            links |= {("dataset", (n, d)) for n, d in con.execute(
                "SELECT name, digest FROM run_inputs WHERE run_id = ?",
                [st.run_id]).fetchall()}
        links |= {("model", m) for ids in st.outputs.values() for m in ids}
        st.links = links
    return st.links


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
