"""Helpers for the s3:// store tests: "machines" (subprocesses with their own replica
folder and host name) and a reader in this process with a replica of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import trackbook as tb


class Machines:
    """Start ``python -c code args`` as if on another machine: its own replica folder
    (``$TRACKBOOK_CACHE_DIR``) and host name (``$TRACKBOOK_HOST``), so liveness of its writers
    is judged by heartbeat age, never by this host's /proc."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[subprocess.Popen[str]] = []

    def start(self, name: str, code: str, *args: str, **env: str) -> subprocess.Popen[str]:
        environ = {k: v for k, v in os.environ.items() if k != "TRACKBOOK_STORE"}
        environ.update(TRACKBOOK_CACHE_DIR=str(self.root / name), TRACKBOOK_HOST=name, **env)
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=self.root, env=environ)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.communicate(timeout=30)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for ``proc``; return its stdout, or fail with its stderr."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{err}"
    return out


def forget_s3_stores() -> None:
    """Stop this process's writer sessions and drop its cached s3:// stores."""
    from trackbook.store import session as session_mod
    from trackbook.tracking import uri as uri_mod

    for text, store in list(uri_mod._by_text.items()):
        if text[0].startswith("s3://") or type(store).__name__ == "S3Store":
            uri_mod._by_text.pop(text, None)
            uri_mod._stores.pop(store.root, None)
            session = session_mod._sessions.pop(store.root, None)
            if session is not None:
                with contextlib.suppress(Exception):
                    session.shutdown()
                session.log.close()
            store.mirror.close()
    uri_mod._uri = None


def wait_for(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; return that (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(every)


@contextlib.contextmanager
def reader(url: str, cache: Path, monkeypatch: Any) -> Iterator[None]:
    """This process reads ``url`` through its own replica in ``cache``, listing the bucket
    before every query (no TRACKBOOK_S3_PULL_SECONDS grace: tests read right after writes)."""
    from trackbook.store import pull

    monkeypatch.setattr(pull, "PULL_SECONDS", 0.0)
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(cache))
    monkeypatch.delenv("TRACKBOOK_HOST", raising=False)
    tb.set_tracking_uri(url)
    try:
        yield
    finally:
        forget_s3_stores()
