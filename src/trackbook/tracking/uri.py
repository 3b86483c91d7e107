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
    """Point this process at a store: a folder path, a ``file://`` URI, or
    ``s3://bucket/prefix`` (S3-compatible object storage, through a local replica)."""
    global _uri
    _uri = os.fspath(uri)


def get_tracking_uri() -> str:
    """The store this process logs to: an absolute ``file://`` URI, or its ``s3://`` URI."""
    text = _uri or os.environ.get("TRACKBOOK_STORE") or DEFAULT_STORE_DIR
    if text.startswith("s3://"):
        return text
    return store_path(None).as_uri()


def store_path(uri: str | None) -> Path:
    text = uri or _uri or os.environ.get("TRACKBOOK_STORE") or DEFAULT_STORE_DIR
    if text.startswith("s3://"):  # its local replica (store/s3store.py)
        from ..store.s3store import replica_dir

        return replica_dir(text)
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise StoreError(
                f"tracking URI {text!r}: use a local folder, a file:// URI or "
                "s3://bucket/prefix (any S3-compatible service: set AWS_ENDPOINT_URL)")
        text = unquote(parsed.path)
    return Path(text).expanduser().absolute()


def get_store(uri: str | None = None) -> Store:
    """The (cached) store object for ``uri`` or the current tracking URI."""
    text = uri or _uri or os.environ.get("TRACKBOOK_STORE") or DEFAULT_STORE_DIR
    if text.startswith("s3://"):
        return _s3_store(text)
    key = (text, os.getcwd() if not os.path.isabs(text) else "")
    store = _by_text.get(key)
    if store is None:
        path = store_path(uri)
        remote = path / "sync" / "remote.json"
        if remote.is_file():  # an s3:// store's replica (a projects trial is given the path)
            from ..store.s3store import S3Store

            with _lock:
                store = _stores.get(path) or S3Store.from_replica(path)
                _stores[path] = _by_text[key] = store
            return store
        with _lock:
            store = _stores.setdefault(path, Store(path))
            _by_text[key] = store
    return store


def _s3_store(url: str) -> Store:
    from ..store.s3store import replica_dir

    key = (url, str(replica_dir(url)))  # the replica names the endpoint and cache too
    store = _by_text.get(key)
    if store is None:
        from ..store.s3store import S3Store

        with _lock:
            store = _by_text.get(key)
            if store is None:
                store = _by_text[key] = S3Store(url)
                _stores.setdefault(store.root, store)  # the same object by replica path
    return store
