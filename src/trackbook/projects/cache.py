"""Where projects keep clones and environments, and a lock for building them.

The cache lives in ``$TRACKBOOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/trackbook``, else
``~/.cache/trackbook``. Builds take an exclusive file lock, so two processes (two
notebooks, a sweep's trials) never build the same clone or environment at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..store import durable


def cache_root() -> Path:
    """The cache folder (created on demand by the code that writes into it)."""
    explicit = os.environ.get("TRACKBOOK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "trackbook").absolute()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a ``.lock`` file) for the ``with`` block."""
    with durable.file_lock(path, poll=0.05):
        yield
