"""Shared fixtures: a fresh store per test, and no fluent state leaking between tests.

Keep this file small and generic; helpers for one area live next to its tests
(do not ``import`` from conftest.py).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _end_open_runs() -> None:
    """End runs a test left open and forget the fluent API's current experiment/run."""
    fluent = sys.modules.get("trackbook.tracking.fluent")
    if fluent is not None:
        while fluent._stack:
            try:
                fluent.end_run()
            except Exception:  # the test may have broken its store on purpose
                with contextlib.suppress(IndexError):
                    fluent._stack.pop()
        fluent._experiment_id = None
        fluent._last_run_id = None
    uri = sys.modules.get("trackbook.tracking.uri")
    if uri is not None:
        uri._uri = None


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under pytest-xdist (``make test`` runs ``-n``): tests spread one by one, except that
    a notebook's cells run in order on one worker, the browser tests share one worker
    (and its JupyterLab server) and the MLflow-scripts comparison runs its scripts once."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if ".ipynb" in nodeid or "::ipynb::" in nodeid:
                return nodeid.split("::Cell")[0]
            if nodeid.startswith("tests/browser/"):
                return "tests/browser"
            if nodeid.startswith("tests/integration/test_mlflow_scripts.py"):
                return "tests/integration/test_mlflow_scripts.py"  # one run of both sides
            return nodeid

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def _reset_trackbook_state() -> Iterator[None]:
    """Every test starts with no active run, no current experiment and no tracking URI."""
    _end_open_runs()
    yield
    _end_open_runs()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point trackbook at a fresh, empty store; yield its root folder.

    Both ``tb.set_tracking_uri`` (this process) and ``$TRACKBOOK_STORE`` (subprocesses,
    e.g. CLI or multi-process tests) point at it. Use ``tb.Client()`` for the API.
    """
    import trackbook as tb

    root = tmp_path / "store"
    monkeypatch.setenv("TRACKBOOK_STORE", str(root))
    monkeypatch.delenv("TRACKBOOK_EXPERIMENT_NAME", raising=False)
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    tb.set_tracking_uri(root)
    yield root
    _end_open_runs()
    _forget_store(root)


@pytest.fixture
def tb_store(store: Path) -> Path:
    """The same fresh store (the name the tracking and store tests use)."""
    return store


@pytest.fixture
def client(store: Path):
    """A ``trackbook.Client`` on the fresh store."""
    import trackbook as tb

    return tb.Client()


@pytest.fixture
def forget_store():
    """The function that drops a store's cached objects, for a test that points trackbook at
    a store of its own (on a tmpfs, say) and must let go of it before cleaning up."""
    return _forget_store


def _forget_store(root: Path) -> None:
    """Stop the store's background flusher and drop every cached object of it, so
    hundreds of tests do not leave idle threads, open logs and replicas behind."""
    session_mod = sys.modules.get("trackbook.store.session")
    uri_mod = sys.modules.get("trackbook.tracking.uri")
    key = root.absolute()
    if session_mod is not None:
        session = session_mod._sessions.pop(key, None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.shutdown()
            session.log.close()
    if uri_mod is not None:
        cached = uri_mod._stores.pop(key, None)
        if cached is not None:
            cached.mirror.close()
        for text, other in list(uri_mod._by_text.items()):
            if other.root == key:
                uri_mod._by_text.pop(text, None)
        uri_mod._uri = None
