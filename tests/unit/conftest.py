"""Fixtures for the unit tests of the tracking API and the store (real files, real DuckDB).

``tb_store`` is self-contained on purpose (it does not lean on the top-level ``store``
fixture): it points this process *and* subprocesses at a fresh store, resets the fluent
API's module state before and after the test, and stops the store's flusher thread.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _reset_fluent() -> None:
    fluent = sys.modules.get("trackbook.tracking.fluent")
    if fluent is not None:
        while fluent._stack:
            try:
                fluent.end_run()
            except Exception:  # a test may have broken its store on purpose
                with contextlib.suppress(IndexError):
                    fluent._stack.pop()
        fluent._experiment_id = None
        fluent._last_run_id = None


def _forget_store(root: Path) -> None:
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
        uri_mod._stores.pop(key, None)
        for text, cached in list(getattr(uri_mod, "_by_text", {}).items()):
            if cached.root == key:
                uri_mod._by_text.pop(text, None)
        uri_mod._uri = None


@pytest.fixture
def tb_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store folder that trackbook (this process and children) logs to."""
    import trackbook as tb

    root = tmp_path / "store"
    monkeypatch.setenv("TRACKBOOK_STORE", str(root))
    for var in ("TRACKBOOK_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    _reset_fluent()
    tb.set_tracking_uri(str(root))
    yield root
    _reset_fluent()
    _forget_store(root)


@pytest.fixture
def client(tb_store: Path):
    """A ``trackbook.Client`` on ``tb_store``."""
    import trackbook as tb

    return tb.Client()
