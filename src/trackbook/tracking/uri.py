"""Which store a process uses: set_tracking_uri > $TRACKBOOK_STORE > ./trackbook-store."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from .._errors import StoreError
from ..store.store import Store

DEFAULT_STORE_DIR = "trackbook-store"
_uri: str | None = None
_stores: dict[Path, Store] = {}
_by_text: dict[tuple[str, str], Store] = {}
_lock = threading.Lock()


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Point this process at a store: a folder path or a ``file://`` URI."""
    global _uri
    _uri = os.fspath(uri)


def get_tracking_uri() -> str:
    """The store this process logs to, as an absolute ``file://`` URI."""
    return store_path(None).as_uri()


def store_path(uri: str | None) -> Path:
    text = uri or _uri or os.environ.get("TRACKBOOK_STORE") or DEFAULT_STORE_DIR
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise StoreError(
                f"tracking URI {text!r}: only local folders and file:// URIs are supported "
                "in this version")
        text = unquote(parsed.path)
    return Path(text).expanduser().absolute()


def get_store(uri: str | None = None) -> Store:
    """The (cached) store object for ``uri`` or the current tracking URI."""
    text = uri or _uri or os.environ.get("TRACKBOOK_STORE") or DEFAULT_STORE_DIR
    key = (text, os.getcwd() if not os.path.isabs(text) else "")
    store = _by_text.get(key)
    if store is None:
        path = store_path(uri)
        with _lock:
            store = _stores.setdefault(path, Store(path))
            _by_text[key] = store
    return store
