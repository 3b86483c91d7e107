"""Fixtures for multi-process tests: a fresh store, and real Python subprocesses on it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
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
    session_mod = sys.modules.get("trackbook.store.session")
    uri_mod = sys.modules.get("trackbook.tracking.uri")
    if session_mod is not None:
        session = session_mod._sessions.pop(root.absolute(), None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.shutdown()
            session.log.close()
    if uri_mod is not None:
        uri_mod._stores.pop(root.absolute(), None)
        for key, cached in list(getattr(uri_mod, "_by_text", {}).items()):
            if cached.root == root.absolute():
                uri_mod._by_text.pop(key, None)
        uri_mod._uri = None


Spawn = Callable[..., subprocess.Popen]


@pytest.fixture
def spawn(tb_store: Path, tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -c <code> *args`` on the store (stdout/stderr piped, text mode).

    Every process started here that is still running at teardown is killed by its pid.
    """
    started: list[subprocess.Popen] = []

    def start(code: str, *args: str, **env: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            env=dict(os.environ, TRACKBOOK_STORE=str(tb_store), **env))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.communicate(timeout=30)
