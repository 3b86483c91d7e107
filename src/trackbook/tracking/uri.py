"""Which store a process uses: set_tracking_uri > $TRACKBOOK_STORE > $MLFLOW_TRACKING_URI >
./trackbook-store."""

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


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point this process at a store: a folder path, a ``file://`` URI, or
    ``s3://bucket/prefix`` (S3-compatible object storage, through a local replica).
    ``None`` goes back to the environment's store or the default, as in MLflow."""
    global _uri
    _uri = None if uri is None else os.fspath(uri)


def is_tracking_uri_set() -> bool:
    """Whether a tracking URI was given (set_tracking_uri or the environment)."""
    return bool(_uri or os.environ.get("TRACKBOOK_STORE") or os.environ.get("MLFLOW_TRACKING_URI"))


def current_text(uri: str | None = None) -> str:
    """The tracking URI as given: ``uri``, else set_tracking_uri's, else the environment's.

    ``$MLFLOW_TRACKING_URI`` counts (after ``$TRACKBOOK_STORE``) so MLflow scripts keep
    their store; an MLflow server or database URI anywhere is refused with the reason.
    """
    for text, origin in ((uri, "tracking URI"), (_uri, "tracking URI"),
                         (os.environ.get("TRACKBOOK_STORE"), "$TRACKBOOK_STORE"),
                         (os.environ.get("MLFLOW_TRACKING_URI"), "$MLFLOW_TRACKING_URI")):
        if text:
            _refuse_mlflow_only(text, origin)
            return text
    return DEFAULT_STORE_DIR


_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")


def _refuse_mlflow_only(text: str, origin: str) -> None:
    head = text.split(":", 1)[0].lower()
    database = ":" in text and head.split("+")[0] in _DATABASES
    if "://" not in text and not head.startswith("databricks") and not database:
        return  # a folder path
    scheme = head
    if scheme in ("http", "https"):
        raise StoreError(
            f"{origin}={text!r} is an MLflow tracking server; trackbook logs to a store of "
            "its own, with no server: a folder, a file:// URI or s3://bucket/prefix. Unset it "
            "or point $TRACKBOOK_STORE at a folder (`trackbook import-mlflow` copies what the "
            "server holds)")
    if scheme not in ("file", "s3"):
        raise StoreError(
            f"{origin}={text!r}: trackbook reads no {scheme!r} tracking URI; use a folder, a "
            "file:// URI or s3://bucket/prefix (`trackbook import-mlflow` copies an MLflow "
            "store, database or file, into one)")


def get_tracking_uri() -> str:
    """The store this process logs to: an absolute ``file://`` URI, or its ``s3://`` URI."""
    text = current_text()
    if text.startswith("s3://"):
        return text
    return store_path(None).as_uri()


def store_path(uri: str | None) -> Path:
    text = current_text(uri)
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
    text = current_text(uri)
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
