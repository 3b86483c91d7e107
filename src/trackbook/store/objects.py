"""A small object-store interface: a local folder or an S3-compatible bucket.

:class:`Objects` is the whole contract the store needs from storage that other machines
can reach: whole-object ``put``, conditional create (``put_if_absent``), ``get`` and
``get_range``, ``list`` in key order from a ``start_after`` key, ``delete`` and
``exists``. :class:`LocalObjects` implements it over a folder, :class:`S3Objects` over
``s3://bucket/prefix`` (AWS S3, SeaweedFS, MinIO, Ceph, R2, ...; credentials and endpoint
the usual AWS way: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL``). :func:`open_objects` picks one from a URL.

Keys are ``/``-separated relative names (``runs/<id>/c-<writer>-<seq>.parquet``). Objects
are immutable in practice: a reader sees an object whole or not at all (local: temp file
then rename or link; S3: single PUT), never a torn one.

How the store moves onto this (a later step; the store modules do not use it yet)
---------------------------------------------------------------------------------
The local layout (``store/layout.py``) maps onto keys one to one, with three changes
because object stores have no append, no rename and no cheap "what changed" query:

- **Metadata logs become per-writer log segments.** Instead of appending to
  ``log/<writer>.jsonl``, a writer buffers records and ``put``\\ s immutable segments
  ``log/<writer>/<seq:012d>.jsonl`` (flushed with the metric chunks, every ~1 s and at
  run end). A segment is never rewritten; its zero-padded sequence number makes key
  order equal write order.
- **Heartbeats are objects** ``writers/<writer>.json`` overwritten with ``put`` (the one
  object a writer rewrites; last writer wins, and only its owner writes it). Liveness
  on another host = heartbeat ``mtime``/content younger than the stale limit.
- **Readers refresh by listing.** Each reader keeps its own local DuckDB index (never
  shared through the bucket) plus, per writer, the last segment key it folded in, and
  calls ``list("log/<writer>/", start_after=last)``; new writers show up in
  ``list("writers/")``. One listing call returns up to 1,000 keys, so folding 1,000 new
  runs costs a handful of requests, not one per run. Metric chunks are found the same
  way (``list("runs/<id>/")``) and read by DuckDB through a ``pyarrow.dataset`` over
  ``pyarrow.fs.S3FileSystem`` (the duckdb wheel has no httpfs offline).
- **Claims use conditional create.** Experiment names, registry versions
  (``registry/<model>/versions/<n>.json``) and alias moves are ``put_if_absent``: the
  loser of a race sees False and takes the next number. Alias moves append immutable,
  numbered records (``put_if_absent`` on ``.../aliases/<alias>/<seq>.json``) instead of
  rewriting a pointer; the highest sequence wins.
- **Compaction** writes ``m-<gen>.parquet`` with ``put_if_absent`` (one compactor per
  generation) and then ``delete``\\ s the covered chunks; the reading rule (newest
  ``m-*`` plus uncovered chunks) is unchanged.
- **Artifacts** are plain ``put``\\ s under ``runs/<id>/artifacts/``.

Key order, and a rule for key names: AWS S3 (and :class:`LocalObjects`) list keys in
UTF-8 byte order of the whole key, so ``a-c`` < ``a/b`` < ``a0``. SeaweedFS lists folder
by folder, a folder sorting like its bare name: ``a/b`` < ``a-c`` < ``a0``. Its
``start_after`` follows its own order (self-consistent), except that a ``start_after``
equal to a folder's name skips the whole folder: pass only keys that were listed. The
two orders agree unless a folder ``x/`` has a sibling named ``x`` + a character below
``/`` (``!"#$%&'()*+,-.``), e.g. folder ``runs/ab/`` beside object ``runs/ab-old``. Store
keys keep clear of that: hex ids, fixed-width zero-padded sequence numbers, and no
sibling named after a folder plus such a character.

Consistency this relies on (true of AWS S3 since 2020, SeaweedFS and MinIO): a ``put``
is visible to every later ``get`` and ``list`` (read-after-write, strongly consistent
listing), and ``If-None-Match: *`` on PUT fails with 412 when the key exists.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .._errors import InvalidValueError, StoreError, TrackbookError
from . import durable

_TMP_DIR = ".trackbook-tmp"  # LocalObjects' temp files: same filesystem, never listed


class ObjectInfo(NamedTuple):
    """One listed object: its key, size in bytes and modification time (epoch seconds)."""

    key: str
    size: int
    mtime: float


class ObjectNotFoundError(TrackbookError, LookupError):
    """No object has the given key."""


class Objects(ABC):
    """Objects under one root (a folder or ``s3://bucket/prefix``), addressed by key."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Create or replace the object ``key`` with ``data``, atomically."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` only if it does not exist; return whether this call
        created it. Of any number of concurrent callers (threads, processes, machines)
        exactly one gets True.

        Give each caller distinct ``data`` (e.g. include a writer id): on S3, when a
        retried request finds the key taken, the object is read back and the call still
        returns True if it holds exactly this ``data`` (the first attempt had landed).
        """

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's content; :class:`ObjectNotFoundError` when there is none."""

    @abstractmethod
    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        """Up to ``length`` bytes from offset ``start`` (to the end when None); ``b""`` when
        ``start`` is at or past the end."""

    @abstractmethod
    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a plain string prefix, not only a
        folder) and sort after ``start_after``, in the service's key order (see the
        module docstring: AWS and local folders sort whole keys by UTF-8 bytes;
        SeaweedFS sorts folder by folder)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def open_objects(url: str | os.PathLike[str], **kwargs: Any) -> Objects:
    """:class:`S3Objects` for ``s3://bucket/prefix``; :class:`LocalObjects` for a folder or
    ``file://`` URL. ``kwargs`` go to the class (e.g. ``endpoint_url=`` for S3)."""
    text = os.fspath(url)
    if text.startswith("s3://"):
        return S3Objects(text, **kwargs)
    if text.startswith("file://"):
        return LocalObjects(text[len("file://"):], **kwargs)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InvalidValueError(
            f"unsupported object store URL {text!r}: use s3://bucket/prefix (any "
            f"S3-compatible service: set AWS_ENDPOINT_URL), file:// or a folder, not "
            f"{scheme}://")
    return LocalObjects(text, **kwargs)


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid relative object key, else raise."""
    if not isinstance(key, str) or not key:
        raise InvalidValueError(f"an object key must be a non-empty string, got {key!r}")
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key \
            or "\x00" in key or parts[0] == _TMP_DIR:
        raise InvalidValueError(f"invalid object key {key!r}: use relative '/'-separated "
                                f"names without empty, '.' or '..' parts")
    return key


# -- a local folder ------------------------------------------------------------------------


class LocalObjects(Objects):
    """Objects as files under a folder (created when missing).

    ``put`` writes a temp file and renames it into place; ``put_if_absent`` hard-links the
    temp file, so exactly one creator wins and nobody sees a half-written object.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        self._tmp = self.root / _TMP_DIR
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_tmp(self, data: bytes) -> Path:
        tmp = self._tmp / f"{os.getpid()}-{os.urandom(6).hex()}"
        durable.write_file(tmp, data, what="an object", level=durable.FLUSH)
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_tmp(data)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        durable.move_into(tmp, path, what=f"the object {key}", level=durable.FLUSH)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._write_tmp(data)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return durable.link_exclusive(tmp, path, what=f"the object {key}",
                                          level=durable.FLUSH)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        _check_range(start, length)
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                return f.read() if length is None else f.read(length)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        folder, _, _ = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        yield from self._walk(base, f"{folder}/" if folder else "", prefix, start_after)

    def _walk(self, folder: Path, key_prefix: str, prefix: str,
              start_after: str | None) -> Iterator[ObjectInfo]:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        named = []
        for entry in entries:
            if not key_prefix and entry.name == _TMP_DIR:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            # a folder's keys sort as "<name>/...": order it by that, as S3 would
            named.append((key_prefix + entry.name + ("/" if is_dir else ""), entry, is_dir))
        named.sort(key=lambda item: item[0])
        for key, entry, is_dir in named:
            if is_dir:
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if start_after is not None and key < start_after \
                        and not start_after.startswith(key):
                    continue  # every key in it sorts before start_after
                yield from self._walk(Path(entry.path), key, prefix, start_after)
            elif key.startswith(prefix) and (start_after is None or key > start_after):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted meanwhile
                    continue
                yield ObjectInfo(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


# -- S3 and S3-compatible services ---------------------------------------------------------


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (prefix may be "")."""
    if not url.startswith("s3://"):
        raise InvalidValueError(f"an S3 URL looks like s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in "-." for c in bucket) \
            or bucket != bucket.lower():
        raise InvalidValueError(f"invalid bucket name {bucket!r} in {url!r}: 3-63 lowercase "
                                f"letters, digits, '-' or '.'")
    if prefix:
        check_key(prefix)
    return bucket, prefix


class S3Objects(Objects):
    """Objects in ``s3://bucket/prefix``: signed HTTP requests of its own
    (``store/s3http.py``, ~10x less CPU per request than boto3), or boto3
    (``pip install 'trackbook[s3]'``) when ``client_kwargs`` are given or
    ``TRACKBOOK_S3_CLIENT=boto3`` is set.

    Parameters
    ----------
    url
        ``s3://bucket`` or ``s3://bucket/prefix``.
    endpoint_url
        The service's URL, e.g. ``http://127.0.0.1:8333``; default ``$AWS_ENDPOINT_URL``
        (boto3 reads it), else AWS.
    client_kwargs
        More arguments for ``boto3.client("s3", ...)`` (credentials, ``config=``); giving
        any makes every call go through boto3.
    list_page_size
        Keys per LIST request (S3's maximum and default: 1000).

    The client is created lazily in each process, so an instance can be pickled into
    worker processes.
    """

    def __init__(self, url: str, *, endpoint_url: str | None = None,
                 client_kwargs: dict[str, Any] | None = None,
                 list_page_size: int = 1000) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        if isinstance(list_page_size, bool) or not isinstance(list_page_size, int) \
                or not 1 <= list_page_size <= 1000:
            raise InvalidValueError(f"list_page_size must be an int in 1..1000, "
                                    f"got {list_page_size!r}")
        self.list_page_size = list_page_size
        self.url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self._endpoint_url = endpoint_url
        self._client_kwargs = dict(client_kwargs or {})
        self._client_obj: Any = None
        self._client_pid: int | None = None
        self._http_obj: Any = None
        self._http_pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client_obj": None, "_client_pid": None, "_http_obj": None}

    @property
    def _http(self) -> Any:
        """The lean signed-HTTP client (``store/s3http.py``), or None to use boto3: when
        ``client_kwargs`` were given, or ``TRACKBOOK_S3_CLIENT=boto3``."""
        if self._client_kwargs or os.environ.get("TRACKBOOK_S3_CLIENT") == "boto3":
            return None
        http = getattr(self, "_http_obj", None)
        if http is None or self._http_pid != os.getpid():
            from .s3http import S3Http

            http = self._http_obj = S3Http(self.bucket, self._endpoint_url)
            self._http_pid = os.getpid()
        return http

    @property
    def _client(self) -> Any:
        if self._client_obj is None or self._client_pid != os.getpid():
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise StoreError("s3:// object storage needs boto3: "
                                 "pip install 'trackbook[s3]'") from None
            session = boto3.session.Session()
            kwargs: dict[str, Any] = {
                "region_name": session.region_name or "us-east-1",
                "config": Config(retries={"mode": "standard", "max_attempts": 5},
                                 max_pool_connections=32)}
            if self._endpoint_url:
                kwargs["endpoint_url"] = self._endpoint_url
            kwargs.update(self._client_kwargs)
            self._client_obj = session.client("s3", **kwargs)
            self._client_pid = os.getpid()
        return self._client_obj

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, exc: Exception, key: str, what: str) -> Exception:
        return StoreError(f"{what} {self.url}/{key} failed: {exc}")

    def _put(self, full: str, data: bytes, if_none_match: bool = False) -> None:
        http = self._http
        if http is not None:
            http.request("PUT", full, headers={"If-None-Match": "*"} if if_none_match else None,
                         body=data)
        elif if_none_match:
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
        else:
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data)

    def _get(self, full: str, range_: str | None = None) -> bytes:
        http = self._http
        if http is not None:
            return bytes(http.request("GET", full,
                                      headers={"Range": range_} if range_ else None).body)
        kwargs = {"Range": range_} if range_ else {}
        return bytes(self._client.get_object(Bucket=self.bucket, Key=full,
                                             **kwargs)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        full = self._key(key)
        try:
            self._put(full, data)
        except Exception as exc:
            raise self._error(exc, key, "put") from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        full = self._key(key)
        for attempt in range(8):
            try:
                self._put(full, data, if_none_match=True)
                return True
            except Exception as exc:
                code = _error_code(exc)
                if code == "PreconditionFailed":  # 412: the key exists
                    try:
                        return self.get(key) == data  # our own earlier attempt landed?
                    except ObjectNotFoundError:  # deleted meanwhile: try again
                        continue
                if code == "ConditionalRequestConflict":  # 409: a concurrent conditional
                    time.sleep(0.05 * 2 ** attempt)  # write is in flight; AWS says retry
                    continue
                if code in ("NotImplemented", "InvalidArgument") and attempt == 0:
                    raise StoreError(
                        f"{self.url} does not support conditional writes (PUT with "
                        f"If-None-Match: *), which trackbook needs to settle concurrent "
                        f"claims: {exc}") from exc
                raise self._error(exc, key, "conditional put") from exc
        raise StoreError(f"conditional put {self.url}/{key} kept conflicting; gave up")

    def get(self, key: str) -> bytes:
        full = self._key(key)
        try:
            return self._get(full)
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None
            raise self._error(exc, key, "get") from exc

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        _check_range(start, length)
        if length == 0:
            if not self.exists(key):
                raise ObjectNotFoundError(f"no object {key!r} in {self.url}")
            return b""
        end = "" if length is None else str(start + length - 1)
        full = self._key(key)
        try:
            return self._get(full, f"bytes={start}-{end}")
        except Exception as exc:
            code = _error_code(exc)
            if code in ("NoSuchKey", "404"):
                raise ObjectNotFoundError(f"no object {key!r} in {self.url}") from None
            if code == "InvalidRange":  # 416: start is at or past the end
                return b""
            raise self._error(exc, key, "ranged get") from exc

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            http = self._http
            if http is not None:
                for key, size, mtime in http.list(
                        base + prefix, None if start_after is None else base + start_after,
                        self.list_page_size):
                    yield ObjectInfo(key[len(base):], size, mtime)
                return
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix}
            if start_after is not None:
                kwargs["StartAfter"] = base + start_after
            pages = self._client.get_paginator("list_objects_v2").paginate(
                **kwargs, PaginationConfig={"PageSize": self.list_page_size})
            for page in pages:
                for item in page.get("Contents", ()):
                    yield ObjectInfo(item["Key"][len(base):], int(item["Size"]),
                                     item["LastModified"].timestamp())
        except Exception as exc:
            raise self._error(exc, prefix + "*", "list") from exc

    def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            http = self._http
            if http is not None:
                http.request("DELETE", full)
            else:
                self._client.delete_object(Bucket=self.bucket, Key=full)
        except Exception as exc:
            if _error_code(exc) not in ("NoSuchKey", "404"):
                raise self._error(exc, key, "delete") from exc

    def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            http = self._http
            if http is not None:
                http.request("HEAD", full)
            else:
                self._client.head_object(Bucket=self.bucket, Key=full)
            return True
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._error(exc, key, "head") from exc


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code")) or None
    return None


def _check_range(start: int, length: int | None) -> None:
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise InvalidValueError(f"start must be an int >= 0, got {start!r}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                               or length < 0):
        raise InvalidValueError(f"length must be an int >= 0 or None, got {length!r}")
