"""Fixtures for multi-process tests: real Python subprocesses on the fresh store
(``tb_store`` comes from tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """A local Ray started the way ``sweep`` starts it, shared by a module's tests."""
    import ray  # the test extra installs it: these tests run in CI, never skip

    from trackbook.projects import ray_backend

    environ, sigterm = dict(os.environ), signal.getsignal(signal.SIGTERM)
    started = not ray.is_initialized()
    ray_backend.connect(None, max_parallel=2)
    yield
    if started:
        ray.shutdown()
        # ray.init leaves PYTHONBREAKPOINT, RAY_* variables and a SIGTERM handler behind
        os.environ.clear()
        os.environ.update(environ)
        signal.signal(signal.SIGTERM, sigterm)
